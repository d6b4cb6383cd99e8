"""Signals, races and a full disk against ``nsclean clean`` batches (full frames, so that
a signal lands while a file is being written). :func:`signal_cases` returns the problems
of each case (kinds of :data:`tests.hostile.corpus.KINDS` plus ``"orphan"``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.core.products_factory import banded_frame, write_product

BOUND = 120.0


def full_frames(folder: Path, count: int = 4) -> tuple[list[Path], Path]:
    from app.core.mask.formats import write_nsclean_fits

    folder.mkdir(parents=True, exist_ok=True)
    mask = np.ones((2048, 2048), bool)
    mask[900:1000] = False
    files = [write_product(folder / f"f{i}_rate.fits", banded_frame(i)) for i in range(count)]
    return files, write_nsclean_fits(folder / "mask.fits", mask)


def _start(args: list[str], code: Path, preexec: Callable[[], None] | None = None,
           stdout: int = subprocess.DEVNULL) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(code)}

    def prepare() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # as from a terminal, unless told
        if preexec is not None:
            preexec()

    return subprocess.Popen([sys.executable, "-m", "app.cli", *args], stdout=stdout,
                            stderr=subprocess.PIPE, env=env, start_new_session=True,
                            preexec_fn=prepare)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _await_writing(out: Path, process: subprocess.Popen) -> bool:
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline and process.poll() is None:
        if any(p.name.startswith(".") and not p.name.startswith(".nsclean-probe")
               for p in out.iterdir()):  # a temporary output (any version's naming)
            return True
        time.sleep(0.002)
    return False


def _valid_outputs(out: Path) -> bool:
    from astropy.io import fits

    for path in out.glob("*_nsclean.fits"):
        try:
            with fits.open(path) as hdul:
                hdul.verify("exception")
                _ = hdul["SCI"].data.sum()
        except Exception:
            return False
    return True


def _judge_signal(out: Path, process: subprocess.Popen, status: int | None,
                  last_line: str | None, stdout_closed: bool = True) -> list[str]:
    problems = []
    try:
        _, err = process.communicate(timeout=BOUND)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, err = process.communicate()
        problems.append("hang")
    deadline = time.monotonic() + 15
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _group_alive(process.pid):
        problems.append("orphan")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    if "Traceback" in err.decode(errors="replace"):
        problems.append("traceback")
    if status is not None and process.returncode != status:
        problems.append("wrong status")
    lines = err.decode(errors="replace").strip().splitlines()
    if last_line is not None and (not lines or lines[-1] != last_line):
        problems.append("unclear")
    if any(p.name.startswith(".") for p in out.iterdir()):
        problems.append("partial file")
    if not _valid_outputs(out):
        problems.append("partial file")
    return sorted(set(problems))


def _fresh(folder: Path, name: str) -> Path:
    out = folder / name
    out.mkdir()
    return out


def signal_cases(folder: Path, code: Path, only: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Run the signal, race and full-disk cases; ``only`` selects some by name."""
    files, mask = full_frames(folder / "in")
    common = ["clean", *map(str, files), "--mask", str(mask)]
    results: dict[str, list[str]] = {}
    stops = {"j1 SIGTERM": ("1", signal.SIGTERM, False), "j1 SIGHUP": ("1", signal.SIGHUP, False),
             "j2 SIGTERM": ("2", signal.SIGTERM, False),
             "j2 group SIGTERM": ("2", signal.SIGTERM, True),
             "j2 group SIGINT": ("2", signal.SIGINT, True)}
    for name, (jobs, signum, group) in stops.items():
        if only and name not in only:
            continue
        out = _fresh(folder, name.replace(" ", "_"))
        process = _start([*common, "-o", str(out), "-j", jobs], code)
        if not _await_writing(out, process):
            results[name] = ["wrong status"]  # finished or failed before writing
            continue
        (os.killpg if group else os.kill)(process.pid, signum)
        word = "interrupted" if signum == signal.SIGINT else f"stopped by {signum.name}"
        results[name] = _judge_signal(out, process, 128 + signum, f"nsclean: {word}")
    if not only or "j2 SIGKILL" in only:  # workers must not outlive their parent
        out = _fresh(folder, "j2_SIGKILL")
        process = _start([*common, "-o", str(out), "-j", "2"], code, stdout=subprocess.PIPE)
        if _await_writing(out, process):
            os.kill(process.pid, signal.SIGKILL)
            results["j2 SIGKILL"] = _judge_signal(out, process, -signal.SIGKILL, None)
        else:
            results["j2 SIGKILL"] = ["wrong status"]
    if not only or "j2 inherited SIG_IGN" in only:  # a background job ignores Ctrl-C
        out = _fresh(folder, "ignored")
        process = _start([*common, "-o", str(out), "-j", "2"], code,
                         preexec=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        if _await_writing(out, process):
            os.killpg(process.pid, signal.SIGINT)
        problems = _judge_signal(out, process, 0, None)
        if len(list(out.glob("*_nsclean.fits"))) != len(files):
            problems.append("good-file casualty")
        results["j2 inherited SIG_IGN"] = sorted(set(problems))
    if not only or "leftover of a killed run" in only:
        out = _fresh(folder, "leftover")
        process = _start([*common[:2], "--mask", str(mask), "-o", str(out)], code)
        if _await_writing(out, process):
            os.kill(process.pid, signal.SIGKILL)
        process.communicate()
        left = [p for p in out.iterdir() if p.name.startswith(".")]
        process = _start([*common[:2], "--mask", str(mask), "-o", str(out)], code)
        problems = _judge_signal(out, process, 0, None)
        results["leftover of a killed run"] = problems + ([] if left else ["wrong status"])
    if not only or "two writers" in only:
        out = _fresh(folder, "two")
        first = _start([*common[:2], "--mask", str(mask), "-o", str(out)], code)
        second = _start([*common[:2], "--mask", str(mask), "-o", str(out)], code)
        for process in (first, second):  # both done before the folder is judged
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=BOUND)
        problems = _judge_signal(out, first, None, None) + _judge_signal(out, second, None, None)
        statuses = sorted((first.returncode, second.returncode))
        if statuses not in ([0, 1], [0, 0]) or len(list(out.glob("*_nsclean.fits"))) != 1:
            problems.append("wrong status")
        results["two writers"] = sorted(set(problems))
    if not only or "full disk" in only:
        results["full disk"] = _full_disk(folder, files, mask, code)
    return results


def _full_disk(folder: Path, files: list[Path], mask: Path, code: Path) -> list[str]:
    """A 60 MB tmpfs as the output folder: the first output fits, the second does not."""
    disk = Path(tempfile.mkdtemp(prefix="nsclean-full-", dir=folder))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=60m", "tmpfs", str(disk)],
                             capture_output=True).returncode == 0
    if not mounted:
        return ["skipped"]
    try:
        process = _start(["clean", *map(str, files[:2]), "--mask", str(mask), "-o", str(disk)],
                         code)
        problems = _judge_signal(disk, process, 1, "nsclean: 1 of 2 files failed")
        names = sorted(p.name for p in disk.iterdir())
        if names != ["f0_rate_nsclean.fits"]:
            problems.append("good-file casualty" if not names else "partial file")
        return sorted(set(problems))
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
