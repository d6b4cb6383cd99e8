"""DMS ↔ detector orientation for NIRSpec NRS1 and NRS2.

Pipeline products are in the DMS orientation (dispersion horizontal). NSClean works in
detector coordinates where each row ("line") is read contiguously along the fast-scan
axis: NRS1 detector = DMS transposed; NRS2 detector = DMS transposed, then flipped along
the first axis. One detector line is therefore one DMS column.

All functions return views where possible (no copy); call ``np.ascontiguousarray`` on the
result if a contiguous array is needed.
"""

from __future__ import annotations

import numpy as np

from app.core.errors import InputError

DETECTORS = ("NRS1", "NRS2")


def _check(detector: str) -> str:
    name = str(detector).strip().upper()
    if name not in DETECTORS:
        raise InputError(f"unknown detector {detector!r}; expected NRS1 or NRS2")
    return name


def dms_to_detector(array: np.ndarray, detector: str) -> np.ndarray:
    """Return ``array`` (DMS, last two axes ``(y, x)``) in detector orientation.

    Parameters
    ----------
    array : ndarray
        2-D image, or a stack whose last two axes are the image.
    detector : {"NRS1", "NRS2"}
        Which NIRSpec detector the data come from.

    Returns
    -------
    ndarray
        A view: detector lines along the second-to-last axis, fast scan along the last.
    """
    out = np.swapaxes(array, -1, -2)
    if _check(detector) == "NRS2":
        out = out[..., ::-1, :]
    return out


def detector_to_dms(array: np.ndarray, detector: str) -> np.ndarray:
    """Inverse of :func:`dms_to_detector`."""
    if _check(detector) == "NRS2":
        array = array[..., ::-1, :]
    return np.swapaxes(array, -1, -2)


def dms_to_detector_coords(
    x: np.ndarray | float, y: np.ndarray | float, detector: str, shape: tuple[int, int]
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Map DMS pixel coordinates to ``(line, sample)`` in detector orientation.

    Parameters
    ----------
    x, y : float or ndarray
        DMS column and row (0-based).
    detector : {"NRS1", "NRS2"}
        The detector.
    shape : tuple of int
        DMS image shape ``(ny, nx)``.

    Returns
    -------
    line, sample : float or ndarray
        The detector line (row index in detector orientation) and the sample along it.
    """
    _ny, nx = shape
    if _check(detector) == "NRS1":
        return x, y
    return (nx - 1) - x, y


def detector_to_dms_coords(
    line: np.ndarray | float, sample: np.ndarray | float, detector: str, shape: tuple[int, int]
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Inverse of :func:`dms_to_detector_coords`: return DMS ``(x, y)``."""
    _ny, nx = shape
    if _check(detector) == "NRS1":
        return line, sample
    return (nx - 1) - line, sample


def naxis_text(shape: tuple[int, ...]) -> str:
    """An image shape ``(ny, nx)`` as FITS users read it: ``NAXIS1×NAXIS2`` (``nx×ny``)."""
    return f"{shape[-1]}×{shape[-2]}"
