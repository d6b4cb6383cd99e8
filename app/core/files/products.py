"""Read and write NIRSpec pipeline products: ``rate``, ``rateints`` and ``cal`` files.

A :class:`Product` always holds SCI as a float32 cube ``(nints, ny, nx)`` in DMS
orientation (a 2-D ``rate`` file has ``nints == 1``), the DQ cube if present, and the
headers. Readers raise :class:`~app.core.errors.InputError` with a message that names
the file and the problem; they never let an astropy traceback through.
"""

from __future__ import annotations

import gzip
import os
import re
import warnings
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.core.errors import InputError
from app.core.files.atomic import atomic_path
from app.core.files.fitstext import fits_text, fits_value
from app.core.files.frames import refuse_cutouts
from app.core.version import __version__

if TYPE_CHECKING:  # astropy.io.fits takes ~0.5 s to import: only when a file is read
    from astropy.io import fits

#: JWST DQ bit 0: the pixel must not be used.
DO_NOT_USE = 1

DETECTORS = ("NRS1", "NRS2")


@dataclass
class Product:
    """One science product read from disk.

    Attributes
    ----------
    path : Path
        The file it came from.
    sci : ndarray
        Count rates, float32, shape ``(nints, ny, nx)``, DMS orientation.
    dq : ndarray or None
        Data-quality flags, uint32, same shape as ``sci``, or None if the file has none.
    primary_header, sci_header : astropy.io.fits.Header
        Copies of the primary and SCI headers.
    is_cube : bool
        True when SCI was 3-D on disk (``rateints``); the writer keeps that shape.
    headers : list of (str, astropy.io.fits.Header)
        Every HDU's full header as read (name, header), structural keywords included;
        empty for products built in memory (:func:`hdu_headers` fills in what it can).
    """

    path: Path
    sci: np.ndarray
    dq: np.ndarray | None
    primary_header: fits.Header
    sci_header: fits.Header
    is_cube: bool
    extras: dict[str, str] = field(default_factory=dict)
    headers: list[tuple[str, fits.Header]] = field(default_factory=list)

    @property
    def nints(self) -> int:
        """Number of integrations (1 for a ``rate`` file)."""
        return int(self.sci.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape ``(ny, nx)`` of one integration."""
        return (int(self.sci.shape[1]), int(self.sci.shape[2]))

    @property
    def detector(self) -> str | None:
        """``NRS1``, ``NRS2`` or None when the header does not say."""
        value = str(self.primary_header.get("DETECTOR", "")).strip().upper()
        return value or None

    @property
    def readpatt(self) -> str | None:
        """The readout pattern (``READPATT``, e.g. NRSIRS2RAPID) or None; the read-time
        fit takes its timing from it."""
        value = str(self.primary_header.get("READPATT", "")).strip().upper()
        return value or None

    @property
    def exp_type(self) -> str:
        """The ``EXP_TYPE`` keyword, or an empty string."""
        return str(self.primary_header.get("EXP_TYPE", "")).strip()

    def usable(self, integration: int) -> np.ndarray:
        """Return the pixels of one integration that hold data: finite and not DO_NOT_USE."""
        good = np.isfinite(self.sci[integration])
        if self.dq is not None:
            good &= (self.dq[integration] & DO_NOT_USE) == 0
        return good


def _read_hdul(path: Path) -> fits.HDUList:
    from astropy.io import fits

    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a FITS file")
    hdul, caught, read = None, [], False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hdul = fits.open(path, memmap=False, lazy_load_hdus=False)
            for hdu in hdul:  # force reading now so truncation shows up here
                _ = hdu.data
        # astropy only warns, and drops the HDUs it cannot read: the cleaned copy would
        # silently lack them (DQ included)
        _refuse_damage(path, caught)
        _check_gzip_stream(path, hdul)
        read = True
    except (OSError, ValueError, TypeError, IndexError, EOFError) as exc:
        _refuse_damage(path, caught, exc)
        raise InputError(f"{path}: not a readable FITS file ({_short(exc)})") from exc
    finally:
        if not read and hdul is not None:
            hdul.close()
    return hdul


#: astropy warnings that mean part of the file is missing or unreadable.
_DAMAGE = re.compile(r"truncated|Error validating header", re.IGNORECASE)


def _refuse_damage(path: Path, caught, cause: BaseException | None = None) -> None:
    """Raise InputError if an astropy warning among ``caught`` says the file is damaged."""
    found = [str(w.message) for w in caught or [] if _DAMAGE.search(str(w.message))]
    if found:
        raise InputError(f"{path}: the file is truncated or damaged "
                         f"({_short(ValueError(found[0]))})") from cause


def _check_gzip_stream(path: Path, hdul: fits.HDUList) -> None:
    """Raise InputError if ``path`` is gzipped and its stream ends early.

    astropy reads a cut-off .fits.gz without complaint, as far as it goes. The gzip
    trailer's length (mod 2³²) equal to the FITS length astropy read settles it without
    decompressing the file a second time; otherwise (a cut stream, or gzip members
    concatenated) the whole stream is decompressed to find out.
    """
    with open(path, "rb") as raw:
        if raw.read(2) != b"\x1f\x8b":
            return
        raw.seek(-4, os.SEEK_END)
        trailer_length = int.from_bytes(raw.read(4), "little")
    last = hdul.fileinfo(len(hdul) - 1) if len(hdul) else None
    if last and (last["datLoc"] + last["datSpan"]) % 2**32 == trailer_length:
        return
    try:
        with gzip.open(path) as stream:
            while stream.read(1 << 24):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: the gzip file is truncated or damaged ({_short(exc)})"
                         ) from exc


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def read_product(path: str | Path) -> Product:
    """Read a ``rate``, ``rateints`` or ``cal`` file (plain or gzipped).

    Parameters
    ----------
    path : str or Path
        The FITS file.

    Returns
    -------
    Product
        SCI as a float32 cube in DMS orientation, DQ if present, and headers.

    Raises
    ------
    InputError
        If the file is missing, not FITS, truncated, has no SCI image, or SCI is not
        2-D or 3-D numeric data.
    """
    path = Path(path)
    hdul = _read_hdul(path)
    with hdul:
        if "SCI" not in hdul:
            raise InputError(f"{path}: has no SCI extension (is it a JWST rate/cal product?)")
        refuse_cutouts(path, hdul)  # MOS/FS cal: slit cutouts, not a detector frame
        sci_hdu = hdul["SCI"]
        data = sci_hdu.data
        if data is None:
            raise InputError(f"{path}: the SCI extension holds no data")
        if not np.issubdtype(data.dtype, np.number) or data.ndim not in (2, 3):
            raise InputError(
                f"{path}: SCI must be a 2-D or 3-D numeric image, found {data.ndim}-D {data.dtype}"
            )
        is_cube = data.ndim == 3
        sci = np.array(data, dtype=np.float32, ndmin=3, copy=True)
        dq = None
        if "DQ" in hdul and hdul["DQ"].data is not None:
            dq_data = np.asarray(hdul["DQ"].data)
            if dq_data.shape == sci.shape[1:]:
                dq_data = np.broadcast_to(dq_data, sci.shape)
            if dq_data.shape != sci.shape:
                raise InputError(
                    f"{path}: DQ shape {dq_data.shape} does not match SCI shape {data.shape}"
                )
            dq = np.array(dq_data, dtype=np.uint32, copy=True)
        return Product(
            path=path,
            sci=sci,
            dq=dq,
            primary_header=hdul[0].header.copy(),
            sci_header=sci_hdu.header.copy(),
            is_cube=is_cube,
            headers=[(hdu.name or f"HDU {i}", hdu.header.copy()) for i, hdu in enumerate(hdul)],
        )


def hdu_headers(product: Product) -> list[tuple[str, fits.Header]]:
    """Every HDU's full header ``(name, header)``, as a FITS reader shows them.

    Products read from a file keep the headers they were read with; for one built in
    memory (the demo, tests) the PRIMARY, SCI and DQ headers are completed with the
    structural keywords (SIMPLE, XTENSION, BITPIX, NAXISn) its arrays imply.
    """
    from astropy.io import fits

    if product.headers:
        return list(product.headers)

    def plane(cube: np.ndarray) -> np.ndarray:
        return cube if product.is_cube else cube[0]

    hdus: list[fits.PrimaryHDU | fits.ImageHDU] = [
        fits.PrimaryHDU(header=product.primary_header.copy()),
        fits.ImageHDU(plane(product.sci), header=product.sci_header.copy(), name="SCI")]
    if product.dq is not None:
        hdus.append(fits.ImageHDU(plane(product.dq), name="DQ"))
    return [(hdu.name, hdu.header) for hdu in hdus]


def resolve_detector(product: Product, detector: str | None = None) -> str:
    """Return the detector to clean ``product`` as: the argument, else the header's.

    Raises
    ------
    InputError
        If neither names NRS1 or NRS2.
    """
    name = (detector or product.detector or "").strip().upper()
    if name not in DETECTORS:
        where = "the --detector argument" if detector else "the DETECTOR keyword"
        found = name or "nothing"
        raise InputError(
            f"{product.path}: {where} says {found!r}; expected NRS1 or NRS2 "
            "(pass --detector to choose)"
        )
    return name


def write_cleaned(
    product: Product,
    cleaned: np.ndarray,
    target: str | Path,
    provenance: dict[str, object],
    history: list[str] | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write a cleaned copy of ``product``: every HDU and header kept, SCI replaced.

    Parameters
    ----------
    product : Product
        What was cleaned; its file is re-read so that every HDU is copied.
    cleaned : ndarray
        The cleaned SCI cube ``(nints, ny, nx)``.
    target : str or Path
        Output file name (``.fits`` or ``.fits.gz``). Never the input file.
    provenance : dict
        Keyword → value pairs added to the primary header (8-character keys).
    history : list of str, optional
        HISTORY lines added to the primary header.
    overwrite : bool
        Whether an existing ``target`` may be replaced.

    Returns
    -------
    Path
        The written file.
    """
    target = Path(target)
    if target.resolve() == product.path.resolve():
        raise InputError(f"{target}: refusing to overwrite the input file")
    if cleaned.shape != product.sci.shape:
        raise InputError(f"{target}: cleaned shape {cleaned.shape} != {product.sci.shape}")
    hdul = _read_hdul(product.path)
    with hdul:
        sci = cleaned.astype(np.float32, copy=False)
        hdul["SCI"].data = sci if product.is_cube else sci[0]
        stamp_provenance(hdul[0].header, provenance, history)
        with atomic_path(target, overwrite=overwrite) as tmp:
            hdul.writeto(tmp, overwrite=True, output_verify="silentfix")
    return target


def stamp_provenance(header: fits.Header, provenance: dict[str, object],
                     history: list[str] | None = None) -> None:
    """Add the NSC_VER/NSC_DATE keywords, ``provenance`` and HISTORY lines to ``header``."""
    header["NSC_VER"] = (__version__, "nsclean-gui version that cleaned this file")
    header["NSC_DATE"] = (
        datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        "UTC time of cleaning",
    )
    for key, value in provenance.items():
        header[key] = fits_value(value)
    for line in history or []:
        header.add_history(fits_text(line))
