"""Per-line robust statistics over a variable number of background samples.

NSClean replaces outliers on each detector line by the median of that line's background
samples, using 1.4826 × MAD as σ. Lines have different numbers of background samples, so
``np.median`` along an axis does not apply. Sorting each line with its unused samples set
to +inf puts the ``c`` usable values first; the median then sits at indices
``(c - 1) // 2`` and ``c // 2``. NumPy's SIMD sort makes this an order of magnitude
faster than ``np.nanmedian`` or masked arrays.

Detector lines are DMS *columns*. Transposing a whole 2048² frame costs more than sorting
it, so columns are gathered in blocks (each block transposed while it is small enough to
stay in cache) on two threads; NumPy releases the GIL for copies and sorts.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

#: Scale from the median absolute deviation to σ for Gaussian noise.
MAD_TO_SIGMA = 1.4826
_BLOCK = 128
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="nsclean-robust")


def _median_of_sorted(sorted_rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    low = np.maximum(counts - 1, 0) // 2
    high = counts // 2
    rows = np.arange(sorted_rows.shape[0])
    with np.errstate(invalid="ignore"):
        med = 0.5 * (
            sorted_rows[rows, low].astype(np.float64) + sorted_rows[rows, high].astype(np.float64)
        )
    med[counts == 0] = np.nan
    return med


def _block_stats(values: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD of each column of one block (columns = detector lines)."""
    rows = np.ascontiguousarray(values.T)
    keep = np.ascontiguousarray(usable.T)
    counts = np.count_nonzero(keep, axis=1)
    np.copyto(rows, np.inf, where=~keep)
    rows.sort(axis=1)
    median = _median_of_sorted(rows, counts)
    # |x - median| over the sorted usable values; +inf stays +inf past them. Computed in
    # the data's precision, as the published code does.
    np.abs(rows - median[:, None].astype(rows.dtype), out=rows)
    rows.sort(axis=1)
    return median, _median_of_sorted(rows, counts)


def column_median_mad(values: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and median absolute deviation of the usable samples of each column.

    Parameters
    ----------
    values : ndarray, shape (n, ncols)
        Samples in DMS layout: each column is one detector line.
    usable : ndarray of bool, same shape
        Which samples count. Unusable samples may hold anything, NaN included.

    Returns
    -------
    median, mad : ndarray, shape (ncols,)
        float64; NaN for columns without any usable sample.
    """
    starts = range(0, values.shape[1], _BLOCK)
    parts = list(_POOL.map(
        lambda j: _block_stats(values[:, j:j + _BLOCK], usable[:, j:j + _BLOCK]), starts))
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
