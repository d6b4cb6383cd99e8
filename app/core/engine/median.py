"""The median variant: subtract each detector line's background median (a baseline).

In DMS layout a detector line is a column, so the model is one value per column, or
with ``by_channel`` one value per column and 512-row readout channel (the four outputs
split every line of a full frame into four 512-sample segments).
"""

from __future__ import annotations

import numpy as np

from app.core.engine.robust import column_median_mad

CHANNEL = 512


def median_model(data: np.ndarray, usable: np.ndarray, *, by_channel: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-line (or per line and channel) median of the background samples.

    Parameters
    ----------
    data : ndarray, DMS layout
        Background-subtracted image.
    usable : ndarray of bool
        Background samples.
    by_channel : bool
        One median per 512-sample readout channel (full-frame lines only).

    Returns
    -------
    model : ndarray, float32
        The stripes to subtract; zero where a line (or channel) has no background.
    counts : ndarray of int
        Background samples per DMS column.
    unfit : ndarray of bool
        Per DMS column: True when the line (or one of its channels) had no background.
    """
    n = data.shape[0]
    size = CHANNEL if (by_channel and n % CHANNEL == 0 and n > CHANNEL) else n
    model = np.zeros(data.shape, dtype=np.float32)
    unfit = np.zeros(data.shape[1], dtype=bool)
    for start in range(0, n, size):
        rows = slice(start, start + size)
        median, _ = column_median_mad(data[rows], usable[rows])
        empty = ~np.isfinite(median)
        unfit |= empty
        model[rows] = np.where(empty, 0.0, median).astype(np.float32)[None, :]
    return model, np.count_nonzero(usable, axis=0), unfit
