"""Write small pipeline-shaped FITS products for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits


def write_product(path: Path, sci: np.ndarray, *, detector: str | None = "NRS1",
                  dq: np.ndarray | None = None, exp_type: str = "NRS_IFU") -> Path:
    """A rate (2-D) or rateints (3-D) file with SCI, ERR, DQ and an extra ASDF-like HDU."""
    primary = _primary(detector, exp_type)
    hdus = [primary, fits.ImageHDU(sci.astype(np.float32), name="SCI"),
            fits.ImageHDU(np.ones_like(sci, dtype=np.float32), name="ERR")]
    hdus.append(fits.ImageHDU(np.zeros(sci.shape, np.uint32) if dq is None else dq, name="DQ"))
    hdus.append(_extra_table())
    fits.HDUList(hdus).writeto(path)
    return path


def _primary(detector: str | None, exp_type: str) -> fits.PrimaryHDU:
    primary = fits.PrimaryHDU()
    if detector:
        primary.header["DETECTOR"] = detector
    primary.header["EXP_TYPE"] = exp_type
    primary.header["TELESCOP"] = "JWST"
    return primary


def _extra_table() -> fits.BinTableHDU:
    return fits.BinTableHDU.from_columns(
        [fits.Column(name="x", format="J", array=np.arange(3))], name="EXTRA")


def banded_frame(seed: int = 0, shape=(2048, 2048)) -> np.ndarray:
    """White noise plus per-column offsets (vertical banding in DMS)."""
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 0.01, shape) + rng.normal(0, 0.02, shape[1])[None, :]).astype(
        np.float32)


def write_ramp(path: Path, sci: np.ndarray, *, detector: str | None = "NRS1",
               groupdq: np.ndarray | None = None, exp_type: str = "NRS_IFU") -> Path:
    """A ramp file (4-D SCI in DN) with PIXELDQ, GROUPDQ and an extra table HDU."""
    primary = _primary(detector, exp_type)
    primary.header["INSTRUME"] = "NIRSPEC"
    primary.header["DATAMODL"] = "RampModel"
    primary.header["SUBARRAY"] = "FULL" if sci.shape[-2:] == (2048, 2048) else "SUB2048"
    primary.header["SLOWAXIS"] = 1 if detector != "NRS2" else -1
    primary.header["FASTAXIS"] = 2 if detector != "NRS2" else -2
    gdq = np.zeros(sci.shape, np.uint8) if groupdq is None else groupdq
    hdus = [primary, fits.ImageHDU(sci.astype(np.float32), name="SCI"),
            fits.ImageHDU(np.zeros(sci.shape[-2:], np.uint32), name="PIXELDQ"),
            fits.ImageHDU(gdq, name="GROUPDQ"), _extra_table()]
    fits.HDUList(hdus).writeto(path)
    return path


def banded_ramp(seed: int = 0, shape=(1, 4, 64, 2048)) -> np.ndarray:
    """A ramp whose every read has its own white noise and per-column (banding) offsets,
    on a signal that grows by 10 DN per group."""
    rng = np.random.default_rng(seed)
    nints, ngroups, _ny, nx = shape
    reads = rng.normal(0, 1.0, shape) + rng.normal(0, 3.0, (nints, ngroups, 1, nx))
    reads += 10.0 * np.arange(ngroups)[None, :, None, None]
    return reads.astype(np.float32)
