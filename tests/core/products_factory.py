"""Write small pipeline-shaped FITS products for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits


def write_product(path: Path, sci: np.ndarray, *, detector: str | None = "NRS1",
                  dq: np.ndarray | None = None, exp_type: str = "NRS_IFU") -> Path:
    """A rate (2-D) or rateints (3-D) file with SCI, ERR, DQ and an extra ASDF-like HDU."""
    primary = fits.PrimaryHDU()
    if detector:
        primary.header["DETECTOR"] = detector
    primary.header["EXP_TYPE"] = exp_type
    primary.header["TELESCOP"] = "JWST"
    hdus = [primary, fits.ImageHDU(sci.astype(np.float32), name="SCI"),
            fits.ImageHDU(np.ones_like(sci, dtype=np.float32), name="ERR")]
    hdus.append(fits.ImageHDU(np.zeros(sci.shape, np.uint32) if dq is None else dq, name="DQ"))
    hdus.append(fits.BinTableHDU.from_columns(
        [fits.Column(name="x", format="J", array=np.arange(3))], name="EXTRA"))
    fits.HDUList(hdus).writeto(path)
    return path


def banded_frame(seed: int = 0, shape=(2048, 2048)) -> np.ndarray:
    """White noise plus per-column offsets (vertical banding in DMS)."""
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 0.01, shape) + rng.normal(0, 0.02, shape[1])[None, :]).astype(
        np.float32)
