"""A generator of hostile inputs for ``nsclean`` and the GUI, and the checks every case
must pass.

Each :class:`Case` is one hostile input (a damaged product, a special file, an absurd
header, an absurd option, a hostile name, a damaged mask, a damaged session file) and
what must happen: refused with one clear message naming the file and the problem
(``expect="error"``), or cleaned (``"ok"``, possibly with a warning). The base files are
small subarray exposures, so a whole batch cleans in seconds.

:func:`check_batch` judges one ``nsclean clean`` run over many cases plus good files, and
returns the problems per case by kind (:data:`KINDS`); ``tests/hostile/figures.py``
counts them for any checkout of the code (before/after figures).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from tests.core.products_factory import banded_frame, write_product

SHAPE = (32, 2048)  # a BOTS-like subarray: cleaned in milliseconds
#: Problems a case can show, as counted in the figures.
KINDS = ("traceback", "internal error", "unclear", "hang", "partial file", "input modified",
         "good-file casualty", "wrong status", "memory")
TIMEOUT = 120.0
MEMORY_LIMIT = 6 * 2**30  # address space of a CLI run: a read of /dev/zero ends here


@dataclass
class Case:
    """One hostile input and what must happen to it."""

    id: str
    category: str
    path: Path | None = None
    expect: str = "error"  # "error", "ok" (cleaned) or "warn" (cleaned, with a warning)
    args: list[str] = field(default_factory=list)  # options of a case that is a command
    words: str = ""  # a regex the message must match
    viewable: bool = False  # refused for cleaning, but the window may show it


# ---- data files ------------------------------------------------------------------------


def good_product(path: Path, seed: int = 0) -> Path:
    """A small rate file (SCI, ERR, DQ and an extra HDU) in the shape of :data:`SHAPE`."""
    return write_product(path, banded_frame(seed, SHAPE))


def hdu_offsets(path: Path) -> list[int]:
    with fits.open(path) as hdul:
        return [hdu.fileinfo()["hdrLoc"] for hdu in hdul] + [path.stat().st_size]


def set_card(data: bytearray, start: int, keyword: str, value: str) -> bytearray:
    for offset in range(start, len(data), 80):
        if data[offset:offset + 8].rstrip() == keyword.encode():
            data[offset:offset + 80] = f"{keyword:<8}= {value:>20}".ljust(80).encode()
            return data
    raise KeyError(keyword)


def _flip(data: bytes, offset: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 0x10
    return bytes(out)


def _image_file(path: Path, sci: object, *, header: dict | None = None) -> Path:
    primary = fits.PrimaryHDU(header=fits.Header({"DETECTOR": "NRS1", **(header or {})}))
    hdus = [primary]
    if sci is not None:
        hdus.append(sci if isinstance(sci, fits.hdu.base.ExtensionHDU)
                    else fits.ImageHDU(np.asarray(sci), name="SCI"))
    fits.HDUList(hdus).writeto(path)
    return path


def data_cases(folder: Path) -> list[Case]:
    """Damaged, absurd and special input products, written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    base = good_product(folder / "base.tmpl")
    raw = base.read_bytes()
    offsets = hdu_offsets(base)  # primary, SCI, ERR, DQ, ASDF-like, end
    packed = gzip.compress(raw, mtime=0)
    cases: list[Case] = []

    def add(name: str, content: bytes, category: str, expect: str = "error",
            words: str = "") -> None:
        path = folder / name
        path.write_bytes(content)
        cases.append(Case(name, category, path, expect, words=words))

    # damaged FITS, cut at several offsets
    add("cut_primary_rate.fits", raw[:1000], "damaged FITS", words="truncated|damaged")
    add("cut_sci_data_rate.fits", raw[:offsets[1] + 2880 * 3], "damaged FITS",
        words="truncated|damaged")
    add("cut_dq_header_rate.fits", raw[:offsets[3] + 1000], "damaged FITS",
        words="truncated|damaged")
    add("cut_last_rate.fits", raw[:-2880], "damaged FITS", words="truncated|damaged")
    add("cut_at_err_rate.fits", raw[:offsets[2]], "damaged FITS", "warn", words="no DQ")
    add("empty_rate.fits", b"", "damaged FITS")
    add("text_rate.fits", b"hello, not a FITS file\n" * 10, "damaged FITS")
    add("random_rate.fits", np.random.default_rng(1).bytes(100_000), "damaged FITS")
    add("trailing_junk_rate.fits", raw + b"junk" * 1000, "damaged FITS")
    # gzip: cut, bit flips, CRC, length, a bomb
    for share in (0.2, 0.5, 0.9):
        add(f"gzcut{int(share * 100)}_rate.fits.gz", packed[:int(len(packed) * share)],
            "damaged gzip", words="truncated|damaged")
    for share in (0.25, 0.5, 0.75):
        add(f"gzflip{int(share * 100)}_rate.fits.gz", _flip(packed, int(len(packed) * share)),
            "damaged gzip", words="damaged|truncated")
    crc = bytearray(packed)
    crc[-8] ^= 0xFF
    add("gzcrc_rate.fits.gz", bytes(crc), "damaged gzip", words="CRC")
    size = bytearray(packed)
    size[-1] ^= 0x01
    add("gzsize_rate.fits.gz", bytes(size), "damaged gzip", words="damaged|truncated|length")
    add("gzbomb_rate.fits.gz", _gzip_bomb(), "damaged gzip")
    add("gzjunk_rate.fits.gz", packed + b"\x00junk" * 10, "damaged gzip")
    # absurd headers
    for name, hdu, keyword, value in (
            ("bitpix17", 1, "BITPIX", "17"), ("naxis1_short", 1, "NAXIS1", "2047"),
            ("naxis1_huge", 1, "NAXIS1", "1000000000"), ("naxis_neg", 1, "NAXIS", "-1"),
            ("naxis2_text", 1, "NAXIS2", "'many'"), ("naxis3_huge", 1, "NAXIS", "3")):
        add(f"{name}_rate.fits", bytes(set_card(bytearray(raw), offsets[hdu], keyword, value)),
            "absurd header")
    blank = bytearray(raw)
    end = blank.index(b"END" + b" " * 77, offsets[1])
    blank[end:end + 3] = b"   "
    add("end_blanked_rate.fits", bytes(blank), "absurd header")
    # absurd shapes and contents
    for name, sci in (("zero_rows", np.zeros((0, 2048), np.float32)),
                      ("zero_ints", np.zeros((0, 32, 2048), np.float32)),
                      ("one_d", np.zeros(2048, np.float32)),
                      ("four_d", np.zeros((1, 1, 32, 2048), np.float32)),
                      ("tiny", np.zeros((8, 8), np.float32)),
                      ("all_nan", np.full(SHAPE, np.nan, np.float32))):
        cases.append(Case(f"{name}_rate.fits", "absurd shape",
                          _image_file(folder / f"{name}_rate.fits", sci),
                          viewable=name in ("all_nan", "tiny")))
    table = fits.BinTableHDU.from_columns([fits.Column("x", "E", array=np.zeros(3))],
                                          name="SCI")
    cases.append(Case("table_rate.fits", "absurd shape",
                      _image_file(folder / "table_rate.fits", table)))
    cases.append(Case("no_sci_rate.fits", "absurd shape",
                      _image_file(folder / "no_sci_rate.fits", None)))
    cases.append(Case("nrs3_rate.fits", "absurd header", write_product(
        folder / "nrs3_rate.fits", banded_frame(2, SHAPE), detector="NRS3"), words="NRS1",
        viewable=True))
    extreme = banded_frame(3, SHAPE)
    extreme[5:9, 100] = (np.inf, -np.inf, 3e38, -3e38)
    cases.append(Case("extreme_values_rate.fits", "absurd shape",
                      write_product(folder / "extreme_values_rate.fits", extreme), "ok"))
    # special files
    fifo = folder / "fifo_rate.fits"
    os.mkfifo(fifo)
    cases.append(Case(fifo.name, "special file", fifo, words="named pipe"))
    for device in ("zero", "urandom", "null"):
        link = folder / f"dev{device}_rate.fits"
        link.symlink_to(f"/dev/{device}")
        cases.append(Case(link.name, "special file", link))
    (folder / "folder_rate.fits").mkdir()
    cases.append(Case("folder_rate.fits", "special file", folder / "folder_rate.fits"))
    dangling = folder / "dangling_rate.fits"
    dangling.symlink_to(folder / "nowhere.fits")
    cases.append(Case(dangling.name, "special file", dangling, words="no such file"))
    sock = folder / "socket_rate.fits"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(sock))
    cases.append(Case(sock.name, "special file", sock))
    # hostile names
    long_name = "L" * (255 - len("_rate.fits")) + "_rate.fits"
    add(long_name, raw, "hostile name", words="output name would be")
    cases[-1].viewable = True
    add("M" * (240 - len("_rate.fits")) + "_rate.fits", raw, "hostile name", "ok")
    add("new\nline_rate.fits", b"not fits", "hostile name")
    add("esc\x1b[31mred_rate.fits", b"not fits", "hostile name")
    add(os.fsdecode(b"latin\xe9_rate.fits"), b"not fits", "hostile name")
    add("-dash_rate.fits", raw, "hostile name", "ok")
    add("sp ace's_rate.fits", raw, "hostile name", "ok")
    base.unlink()
    return cases


def _gzip_bomb() -> bytes:
    """A valid FITS header declaring 8 GiB of zeros: ~8 MB of gzip."""
    header = fits.Header({"SIMPLE": True, "BITPIX": 8, "NAXIS": 2, "NAXIS1": 2**16,
                          "NAXIS2": 2**17})
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1, mtime=0) as out:
        out.write(header.tostring().encode())
        block = bytes(1 << 22)
        for _ in range(64):  # the first 256 MiB of the data are there, the rest is not
            out.write(block)
    return buffer.getvalue()


# ---- options and masks: each case is one command --------------------------------------


def option_cases() -> list[Case]:
    """Absurd parameters and output options (``args`` are added to a good command)."""
    table = [
        (["--buff-sigma", "1e-300"], "buff_sigma"), (["--buff-sigma", "1e300"], "buff_sigma"),
        (["--weight-sigma", "1e-300"], "weight_sigma"),
        (["--weight-sigma", "1e300"], "weight_sigma"),
        (["--fit", "real", "--ridge", "1e308"], "ridge"), (["--sigrej", "nan"], "sigrej"),
        (["--sigrej", "-1"], "sigrej"), (["--fc", "0.6"], "fc"), (["--fc", "1/0"], "fc"),
        (["--kw", "-1"], "fc"), (["-j", "0"], "jobs"), (["--tune", "--tune-folds", "0"],
                                                         "tune-folds"),
        (["--tune", "--tune-folds", "1000"], "tune-folds"),
        (["--tune", "--tune-lines", "0"], "tune-lines"), (["--mask-plane", "-1"], "plane"),
        (["--suffix", "/../../esc"], "suffix"), (["--suffix", "x" * 300], "suffix"),
        (["--suffix", ""], "overwrite an input"),
    ]
    return [Case("option " + " ".join(a)[:40], "absurd option", None, args=a, words=w)
            for a, w in table]


def mask_cases(folder: Path) -> list[Case]:
    """Damaged and hostile masks (for a :data:`SHAPE` image)."""
    from PIL import Image

    from app.core.mask.formats import write_nsclean_fits

    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    picture = np.zeros((*SHAPE, 3), np.uint8)
    picture[:, 100:1900] = (255, 0, 0)
    png = folder / "good.png"
    Image.fromarray(picture, "RGB").save(png)
    data = png.read_bytes()

    def add(name: str, content: bytes, words: str = "") -> None:
        (folder / name).write_bytes(content)
        cases.append(Case(name, "damaged mask", folder / name, words=words))

    at = data.index(b"IDAT")
    length = int.from_bytes(data[at - 4:at], "big")
    crc = bytearray(data)
    crc[at + 4 + length] ^= 0x01
    add("idat_crc.png", bytes(crc), "CRC")
    flip = bytearray(data)
    flip[at + 4 + length // 2] ^= 0x10
    add("idat_flip.png", bytes(flip), "CRC")
    add("cut.png", data[: len(data) // 2], "truncated")
    huge = bytearray(data)
    huge[16:24] = (100_000).to_bytes(4, "big") * 2
    add("huge_ihdr.png", bytes(huge))
    Image.fromarray(np.zeros(SHAPE, np.uint16)).save(folder / "grey16.png")
    cases.append(Case("grey16.png", "damaged mask", folder / "grey16.png"))
    Image.fromarray(np.zeros(SHAPE, bool)).save(folder / "onebit.png")
    cases.append(Case("onebit.png", "damaged mask", folder / "onebit.png"))
    rgba = np.zeros((*SHAPE, 4), np.uint8)
    rgba[..., 0] = 255  # red everywhere, but transparent
    Image.fromarray(rgba, "RGBA").save(folder / "transparent_red.png")
    cases.append(Case("transparent_red.png", "damaged mask", folder / "transparent_red.png",
                      viewable=True))  # no visible red: an empty background
    fits_mask = write_nsclean_fits(folder / "m.fits", np.ones(SHAPE, bool))
    packed = bytearray(gzip.compress(fits_mask.read_bytes(), mtime=0))
    packed[-8] ^= 0xFF
    add("crc_mask.fits.gz", bytes(packed), "CRC")
    write_nsclean_fits(folder / "wrong_shape.fits", np.ones((64, 64), bool))
    cases.append(Case("wrong_shape.fits", "damaged mask", folder / "wrong_shape.fits",
                      words="does not match"))
    write_nsclean_fits(folder / "all_zero.fits", np.zeros(SHAPE, bool))
    cases.append(Case("all_zero.fits", "damaged mask", folder / "all_zero.fits",
                      viewable=True))  # nothing to fit, but an empty background is a mask
    fits.PrimaryHDU(np.full(SHAPE, 2, np.uint8)).writeto(folder / "twos.fits")
    cases.append(Case("twos.fits", "damaged mask", folder / "twos.fits"))
    blank = bytearray(fits_mask.read_bytes())
    end = blank.index(b"END" + b" " * 77)
    blank[end:end + 3] = b"   "
    add("end_blanked_mask.fits", bytes(blank))
    os.mkfifo(folder / "fifo_mask.fits")
    cases.append(Case("fifo_mask.fits", "damaged mask", folder / "fifo_mask.fits"))
    (folder / "zero_mask.fits").symlink_to("/dev/zero")
    cases.append(Case("zero_mask.fits", "damaged mask", folder / "zero_mask.fits"))
    fits_mask.unlink()
    png.unlink()
    return cases


# ---- session files ---------------------------------------------------------------------


def session_cases(folder: Path, good: Path) -> list[Case]:
    """Damaged and hostile session files made from the good session file ``good``."""
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(good) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    document = json.loads(members["session.json"])
    cases = []

    def write(name: str, files: dict[str, bytes], expect: str = "error") -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for member, data in files.items():
                archive.writestr(member, data)
        (folder / name).write_bytes(buffer.getvalue())
        cases.append(Case(name, "damaged session", folder / name, expect))

    def edited(name: str, change, expect: str = "error") -> None:
        doc = json.loads(json.dumps(document))
        change(doc)
        write(name, {**members, "session.json": json.dumps(doc).encode()}, expect)

    raw = good.read_bytes()
    for name, content in (("cut.nsclean-session", raw[: len(raw) // 2]),
                          ("empty.nsclean-session", b""),
                          ("text.nsclean-session", b"not a zip"),
                          ("random.nsclean-session", np.random.default_rng(2).bytes(5000))):
        (folder / name).write_bytes(content)
        cases.append(Case(name, "damaged session", folder / name))
    write("no_json.nsclean-session", {k: v for k, v in members.items() if k != "session.json"})
    write("no_dark.nsclean-session", {k: v for k, v in members.items() if k != "dark.bits"})
    write("bad_json.nsclean-session", {**members, "session.json": b"{not json"})
    write("deep_json.nsclean-session", {**members, "session.json": b"[" * 100000})
    write("short_bits.nsclean-session", {**members, "light.bits": b"123"})
    edits = {
        "version_text": lambda d: d.update(version="1"),
        "version_newer": lambda d: d.update(version=99),
        "shape_zero": lambda d: d["layers"].update(shape=[0, 0]),
        "shape_huge": lambda d: d["layers"].update(shape=[10**9, 10**9]),
        "shape_text": lambda d: d["layers"].update(shape=["a", 2]),
        "shape_float": lambda d: d["layers"].update(shape=[1e308, 2]),
        "border_neg": lambda d: d["layers"].update(border=-5),
        "border_huge": lambda d: d["layers"].update(border=10**30),
        "sides_int": lambda d: d["layers"].update(border_sides=7),
        "layers_list": lambda d: d.update(layers=[1]),
        "sources_int": lambda d: d.update(sources=5),
        "source_path_int": lambda d: d.update(sources=[{"path": 5}]),
        "view_list": lambda d: d.update(view=[1]),
        "settings_list": lambda d: d.update(settings=[1]),
        "format_other": lambda d: d.update(format="other"),
    }
    for name, change in edits.items():
        edited(f"{name}.nsclean-session", change)
    # damaged values the window must survive: opened with notes, or refused
    survivable = {
        "source_path_nul": lambda d: d.update(sources=[{"path": "a\x00b"}]),  # not found
        "view_detector_list": lambda d: d["view"].update(detector=["NRS1"]),
        "view_styles_junk": lambda d: d["view"].update(styles={"light": {"opacity": "x"}}),
        "view_brush_nan": lambda d: d["view"].update(brush_size=float("nan")),
        "view_brush_huge": lambda d: d["view"].update(brush_size=1e308),
        "stretch_junk": lambda d: d.update(stretch={"contrast": "x", "manual_levels": 5}),
        "cleaning_junk": lambda d: d.update(cleaning={"fc": "x", "buff_sigma": 1e300}),
        "settings_junk": lambda d: d.update(settings={"cleaning": {"fc": [1]},
                                                      "display": 5, "paint": {"size": -1}}),
    }
    for name, change in survivable.items():
        edited(f"{name}.nsclean-session", change, "survive")
    encrypted = bytearray(good.read_bytes())
    _patch_members(encrypted, b"session.json", 6, b"\x01\x00")
    (folder / "encrypted.nsclean-session").write_bytes(bytes(encrypted))
    cases.append(Case("encrypted.nsclean-session", "damaged session",
                      folder / "encrypted.nsclean-session"))
    method = bytearray(good.read_bytes())
    _patch_members(method, b"session.json", 8, b"\x63\x00")
    (folder / "compression99.nsclean-session").write_bytes(bytes(method))
    cases.append(Case("compression99.nsclean-session", "damaged session",
                      folder / "compression99.nsclean-session"))
    text = members["session.json"].decode()
    bomb = (text[:-1] + " " * (200 * 2**20) + "}").encode()
    write("zip_bomb.nsclean-session", {**members, "session.json": bomb})
    os.mkfifo(folder / "fifo.nsclean-session")
    cases.append(Case("fifo.nsclean-session", "damaged session", folder / "fifo.nsclean-session"))
    return cases


def _patch_members(data: bytearray, name: bytes, offset: int, value: bytes) -> None:
    for signature, base in ((b"PK\x03\x04", 30), (b"PK\x01\x02", 46)):
        start = 0
        shift = offset if signature == b"PK\x03\x04" else offset + 2
        while (at := data.find(signature, start)) >= 0:
            if data[at + base:at + base + len(name)] == name:
                data[at + shift:at + shift + len(value)] = value
            start = at + 4


# ---- running and judging ---------------------------------------------------------------


@dataclass
class Run:
    """The outcome of one command."""

    status: int | None
    stderr: str
    seconds: float
    max_rss: int  # bytes, the largest process of the run
    hung: bool


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _vm_kib(pid: int | str, field: str) -> int:
    """``field`` (VmRSS, VmHWM) of a process from /proc, in KiB; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _group_peak_kib(group: int) -> int:
    """The largest VmHWM (the peak of each process's own memory since its exec) among
    the live processes of process group ``group``."""
    peak = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(group):
            peak = max(peak, _vm_kib(entry, "VmHWM"))
    return peak


def run_cli(args: list[str], code: Path, timeout: float = TIMEOUT, **popen: object) -> Run:
    """Run ``python -m app.cli ARGS`` with ``code`` first on the path; never hangs.

    The memory is the peak of the run's largest process, workers included. ``wait4``'s
    ``ru_maxrss`` alone cannot say it: Linux counts in it the pages the child held
    between fork and exec, i.e. this test process's whole resident set (1.5 GiB late in
    a full run, against a 2 GiB bound). So it is trusted only above our own resident
    set; below, the peaks (VmHWM, counted from exec) of the run's processes, read while
    polling, give the figure.
    """
    env = {**os.environ, "PYTHONPATH": str(code)}
    env.pop("NSCLEAN_DEBUG", None)
    parent_kib = _vm_kib("self", "VmRSS")
    polled_kib = 0
    start = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "app.cli", *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                               start_new_session=True, preexec_fn=_limits, **popen)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(process.stderr.read()), daemon=True)
    reader.start()
    hung, status, usage = False, 0, None
    while True:
        polled_kib = max(polled_kib, _group_peak_kib(process.pid))
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - start > timeout:
            hung = True
            os.killpg(process.pid, signal.SIGKILL)
            _pid, status, usage = os.wait4(process.pid, 0)
            break
        time.sleep(0.02)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    reader.join(timeout=10)
    process.stderr.close()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # a worker left behind must not linger
    err = b"".join(chunks)
    waited_kib = usage.ru_maxrss if usage.ru_maxrss > 1.05 * parent_kib else 0
    return Run(None if hung else process.returncode, err.decode(errors="replace"),
               time.monotonic() - start, max(waited_kib, polled_kib) * 1024, hung)


def digest(path: Path) -> str | None:
    """Hash of a regular file (None for special files, never opened)."""
    try:
        if not path.is_file() or path.is_symlink():
            return None
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def shown(path: Path) -> str:
    """A file name as ``nsclean`` prints it (control characters escaped)."""
    try:
        from app.cli.progress import one_line
    except ImportError:  # an older checkout (figures.py): printed as it is
        return str(path)
    return one_line(str(path))


def exists(path: Path | None) -> bool:
    """Whether ``path`` exists (False for a name too long to exist)."""
    try:
        return path is not None and path.exists()
    except OSError:
        return False


def hidden_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith((".nsclean", ".")))


def judge(case: Case, run: Run, lines: list[str], output: Path | None,
          before: str | None) -> list[str]:
    """The problems of ``case`` (kinds of :data:`KINDS`) in a run whose stderr lines
    about it are ``lines``."""
    problems = []
    text = "\n".join(lines)
    if "Traceback" in text:
        problems.append("traceback")
    if "internal error" in text:
        problems.append("internal error")
    if run.hung:
        problems.append("hang")
    if case.path is not None and digest(case.path) != before:
        problems.append("input modified")
    errors = [line for line in lines if "error" in line]
    if case.expect == "error":
        if len(errors) != 1 or (case.words and not re.search(case.words, errors[0])):
            problems.append("unclear")
        if exists(output):
            problems.append("partial file")
    elif case.expect in ("ok", "warn"):
        if errors or not exists(output):
            problems.append("wrong status")
        if case.expect == "warn" and not (case.words and re.search(case.words, text)):
            problems.append("unclear")
    return sorted(set(problems))
