"""Open user files safely: regular files only, never read past what the FITS headers say.

A FIFO, a device (``/dev/zero``, ``/dev/urandom``) or a socket named as an input would
block forever or feed bytes without end; a header declaring a 7 TiB image would be
allocated before anything failed; a header whose ``END`` card was blanked makes astropy
read the whole file as header; a gzip stream with a flipped bit decompresses into wrong
pixels unless its CRC is checked. Everything here raises an :class:`InputError` (or the
subclass the caller names) that says which file and what is wrong.

:func:`open_fits` scans the headers itself, with bounds, before astropy sees the file:
only the few structural keywords are read (``BITPIX``, ``NAXISn``, ``PCOUNT``,
``GCOUNT``), so the scan is fast; astropy then parses what the scan vouched for.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import stat
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from app.core.errors import InputError

if TYPE_CHECKING:  # astropy.io.fits takes ~0.5 s to import: only when a file is read
    from astropy.io import fits

BLOCK = 2880
CARD = 80
#: A header longer than this (~36 000 cards) is taken for a header without END.
MAX_HEADER_BLOCKS = 1000
#: More data than this in one HDU (16 GiB) is refused before anything is allocated.
MAX_DATA_BYTES = 16 * 2**30
#: A gzipped file may decompress to at most this many times its size (NaN-filled cal
#: products compress well; a bomb of zeros compresses ~1000 times).
MAX_GZIP_RATIO = 200
#: ... but any gzipped file may hold this much (masks of 0 and 1 compress ~500 times).
GZIP_ALLOWANCE = 512 * 2**20
#: Zero padding tolerated after the last HDU (some writers add a few blocks).
MAX_TRAILING_BYTES = 64 * BLOCK
BITPIX = (8, 16, 32, 64, -32, -64)
_TEXT = bytes(range(32, 127))
_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words (``"a named pipe (FIFO)"`` ...)."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def open_regular(path: str | os.PathLike[str], what: str = "file",
                 error: type[InputError] = InputError) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file (symbolic links followed).

    Opened without blocking and checked on the open descriptor, so a FIFO never blocks
    the caller and a file swapped after a check is still caught.

    Raises
    ------
    InputError
        Missing, a folder, a FIFO, a device or a socket, or unreadable; the message
        names the file. ``error`` chooses the subclass raised.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise error(f"{path}: is a folder, not a {what}")
        if not stat.S_ISREG(mode):
            raise error(f"{path}: is {file_kind(mode)}, not a {what}; only regular files "
                        "are read")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], limit: int, what: str = "file",
                 error: type[InputError] = InputError) -> bytes:
    """The whole content of a regular file of at most ``limit`` bytes."""
    with open_regular(path, what, error) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise error(f"{path}: larger than {limit:,} bytes; not a {what}")
    return data


# ---- FITS --------------------------------------------------------------------------


class _Reader:
    """Bytes of a FITS file, raw or gunzipped; gunzipped bytes are kept for astropy."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self.raw, self.size = handle, size
        self.gzipped = handle.read(2) == b"\x1f\x8b"
        handle.seek(0)
        self.stream: BinaryIO = gzip.GzipFile(fileobj=handle) if self.gzipped else handle
        self.kept = bytearray() if self.gzipped else None
        self.position = 0

    def read(self, count: int) -> bytes:
        chunks = []
        while count > 0:
            chunk = self.stream.read(min(count, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            count -= len(chunk)
        data = b"".join(chunks)
        if self.kept is not None:
            self.kept += data
        self.position += len(data)
        return data

    def skip(self, count: int) -> bool:
        """Pass ``count`` bytes; False if the file ends first."""
        if self.kept is None:
            if self.position + count > self.size:
                return False
            self.raw.seek(count, os.SEEK_CUR)
            self.position += count
            return True
        return len(self.read(count)) == count


def _value(card: bytes) -> str:
    if card[8:10] != b"= ":
        return ""
    text = card[10:].decode("ascii", "replace").strip()
    if text.startswith("'"):
        end = text.find("'", 1)
        return text[1:end if end > 0 else None].strip()
    return text.split("/", 1)[0].strip()


def _header(reader: _Reader, index: int, path: Path) -> dict[str, str] | None:
    """The structural keywords of the header that starts here; None at the end of file."""
    start = reader.position
    cards: dict[str, str] = {}
    for block_number in range(MAX_HEADER_BLOCKS):
        block = reader.read(BLOCK)
        if block_number == 0:
            if index and not block.strip(b"\0"):
                return None  # the end of the file, or zero padding after the last HDU
            if not index and not block.startswith(b"SIMPLE  "):
                raise InputError(f"{path}: not a readable FITS file (it does not start "
                                 "with SIMPLE)")
            if index and not block.startswith(b"XTENSION"):
                raise _damage(path, f"unexpected bytes at byte {start:,}, where HDU "
                              f"{index + 1} should start (the sizes in HDU {index}'s "
                              "header do not match its data)")
        if len(block) < BLOCK:
            raise _damage(path, f"HDU {index + 1}'s header is cut off at byte "
                          f"{reader.position:,}")
        if block.translate(None, _TEXT):  # a header is ASCII text: this is data
            raise _damage(path, f"HDU {index + 1}'s header runs into binary data at byte "
                          f"{reader.position - BLOCK:,} (its END card is missing)")
        for offset in range(0, BLOCK, CARD):
            card = block[offset:offset + CARD]
            keyword = card[:8].rstrip().decode("ascii", "replace")
            if keyword == "END":
                return cards
            if keyword in ("BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "GROUPS", "XTENSION",
                           "EXTNAME") or (keyword.startswith("NAXIS") and keyword[5:].isdigit()):
                cards.setdefault(keyword, _value(card))
    raise _damage(path, f"HDU {index + 1}'s header has no END card in its first "
                  f"{MAX_HEADER_BLOCKS * BLOCK // CARD:,} cards")


def _whole(cards: dict[str, str], key: str, path: Path, index: int, default: int | None = None
           ) -> int:
    text = cards.get(key)
    if text is None and default is not None:
        return default
    try:
        return int(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        missing = "is missing" if text is None else f"is {text!r}, not a whole number"
        raise _damage(path, f"HDU {index + 1}: {key} {missing}") from None


def _data_bytes(cards: dict[str, str], path: Path, index: int) -> int:
    """Bytes of data the header declares (before padding), checked for sanity."""
    name = cards.get("EXTNAME") or ("PRIMARY" if index == 0 else f"HDU {index + 1}")
    bitpix = _whole(cards, "BITPIX", path, index)
    if bitpix not in BITPIX:
        raise _damage(path, f"{name}: BITPIX = {bitpix} is not a FITS data type "
                      f"(one of {', '.join(map(str, BITPIX))})")
    naxis = _whole(cards, "NAXIS", path, index)
    if not 0 <= naxis <= 999:
        raise _damage(path, f"{name}: NAXIS = {naxis} (0 to 999 allowed)")
    axes = [_whole(cards, f"NAXIS{i}", path, index) for i in range(1, naxis + 1)]
    if any(axis < 0 for axis in axes):
        raise _damage(path, f"{name}: negative axis length in {axes}")
    pcount = _whole(cards, "PCOUNT", path, index, 0)
    gcount = _whole(cards, "GCOUNT", path, index, 1)
    if pcount < 0 or gcount < 0:
        raise _damage(path, f"{name}: PCOUNT = {pcount}, GCOUNT = {gcount}")
    if not naxis:
        return 0
    if index == 0 and axes[0] == 0 and cards.get("GROUPS") == "T":
        axes = axes[1:]  # random groups: NAXIS1 = 0 is a marker
    count = 1
    for axis in axes:
        count *= axis
    total = abs(bitpix) // 8 * gcount * (pcount + count)
    if total > MAX_DATA_BYTES:
        shape = " × ".join(map(str, reversed(axes)))
        raise _damage(path, f"{name}: the header declares {total / 2**30:,.0f} GiB of data "
                      f"({shape}); refused before reading")
    return total


def _damage(path: Path, what: str) -> InputError:
    return InputError(f"{path}: the file is truncated or damaged ({what})")


def _memory() -> int:
    """Physical memory of this machine in bytes (a large number where unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 2**62


def _scan(reader: _Reader, path: Path) -> None:
    index, total = 0, 0
    while True:
        cards = _header(reader, index, path)
        if cards is None:
            break
        size = _data_bytes(cards, path, index)
        padded = -(-size // BLOCK) * BLOCK
        total += padded
        if total > _memory():
            raise _damage(path, f"the headers declare {total / 2**30:,.1f} GiB of data, more "
                          "than this machine's memory")
        if reader.kept is not None and total > max(MAX_GZIP_RATIO * reader.size,
                                                   GZIP_ALLOWANCE):
            # a "gzip bomb": real products compress a few times, not hundreds
            raise _damage(path, f"the headers declare {total / 2**20:,.0f} MiB of data, more "
                          f"than {MAX_GZIP_RATIO} times the gzip file's size: a gzip bomb?")
        if not reader.skip(padded):
            raise _damage(path, f"HDU {index + 1} declares {size:,} bytes of data; the file "
                          f"ends at byte {min(reader.position, reader.size):,}")
        index += 1
    if reader.kept is not None:  # read to the end: that is when gzip checks the CRC
        rest = reader.read(MAX_TRAILING_BYTES + 1)
        if len(rest) > MAX_TRAILING_BYTES:
            raise _damage(path, "unexpected data after the last HDU")


def primary_header(path: str | os.PathLike[str]) -> fits.Header:
    """The primary header of a FITS file (plain or gzipped), read with the same bounds as
    :func:`open_fits` but without reading any data.

    Raises
    ------
    InputError
        Not a regular file, not FITS, or a header without END.
    """
    from astropy.io import fits

    path = Path(path)
    with open_regular(path, "FITS file") as handle:
        reader = _Reader(handle, os.fstat(handle.fileno()).st_size)
        try:
            _header(reader, 0, path)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{path}: the gzip file is truncated or damaged ({_short(exc)})"
                             ) from None
        text = bytes(reader.kept) if reader.kept is not None else _reread(handle, reader)
    try:
        return fits.Header.fromstring(text.decode("ascii"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable FITS header ({_short(exc)})") from None


def _reread(handle: BinaryIO, reader: _Reader) -> bytes:
    handle.seek(0)
    return handle.read(reader.position)


@contextlib.contextmanager
def open_fits(path: str | os.PathLike[str], error: type[InputError] = InputError
              ) -> Iterator[fits.HDUList]:
    """Open a FITS file (plain or gzipped) with every HDU's data read, after checking it.

    The file must be a regular file; every header must end, declare a valid data type
    and a data size below :data:`MAX_DATA_BYTES` that the file holds; a gzipped file
    must be whole with correct CRCs. A gzipped file is decompressed once.

    Yields
    ------
    astropy.io.fits.HDUList
        Closed when the block ends.

    Raises
    ------
    InputError
        ``error`` (InputError or a subclass) naming the file and the problem.
    """
    path = Path(path)
    with open_regular(path, "FITS file", error) as handle:
        size = os.fstat(handle.fileno()).st_size
        reader = _Reader(handle, size)
        try:
            _scan(reader, path)
        except InputError as exc:
            raise error(str(exc)) from None
        except (OSError, EOFError, zlib.error) as exc:  # gzip: damaged, cut, wrong CRC
            raise error(f"{path}: the gzip file is truncated or damaged ({_short(exc)})"
                        ) from None
        source: BinaryIO = io.BytesIO(reader.kept) if reader.kept is not None else handle
        source.seek(0)
        hdul = _astropy_open(path, source, error)
        try:
            yield hdul
        finally:
            hdul.close()


def read_fits(path: str | os.PathLike[str], error: type[InputError] = InputError
              ) -> fits.HDUList:
    """:func:`open_fits`, returning the HDUList: every HDU's data is in memory, so it stays
    usable (and writable elsewhere) after its file is closed."""
    with open_fits(path, error) as hdul:
        pass
    return hdul


#: astropy warnings that mean part of the file is missing or unreadable.
_DAMAGE_WORDS = ("truncated", "error validating header")


def _astropy_open(path: Path, source: BinaryIO, error: type[InputError]) -> fits.HDUList:
    from astropy.io import fits

    hdul = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hdul = fits.open(source, memmap=False, lazy_load_hdus=False)
            for hdu in hdul:  # read every HDU's data now, while the file is open
                _ = hdu.data
        # astropy only warns, and drops the HDUs it cannot read: a cleaned copy would
        # silently lack them (DQ included)
        found = [str(w.message) for w in caught
                 if any(word in str(w.message).lower() for word in _DAMAGE_WORDS)]
        if found:
            raise error(f"{path}: the file is truncated or damaged ({_short(found[0])})")
    except InputError:
        if hdul is not None:
            hdul.close()
        raise
    except Exception as exc:  # astropy's parser on a file the scan let through
        if hdul is not None:
            hdul.close()
        raise error(f"{path}: not a readable FITS file ({_short(exc)})") from None
    return hdul


def _short(exc: BaseException | str) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
