"""The smooth background under a NIRSpec rate image: what a threshold must not mistake for light.

A count-rate image is ``light + background level + correlated read noise + white noise``.
The correlated noise is large compared with faint traces (about 0.01–0.02 DN/s per line,
the same as the white noise per pixel) and it is *structured*: an offset per detector line
(DMS column) that differs between the four readout channels (512-row blocks), slow drifts
along each line, a picture frame at the edges and alternating-row offsets. A threshold on
the raw image would call the bright stripes "light" and the dark ones "background".

:func:`fit_background` removes that structure, in DMS layout:

1. ``column levels``: the median of the background candidates of each DMS column in each
   block of :data:`BLOCK_ROWS` rows (blocks never straddle a readout channel boundary);
2. ``frame levels``: the offset of each row in the picture frame along the top and
   bottom edges (:func:`app.core.threshold.picture_frame.frame_levels`);
3. ``candidates``: usable pixels outside the regions detected on the residual smoothed
   along the dispersion (a 3 × 301 pixel box), above ``centre + 3σ`` or below
   ``centre − 4.5σ``, grown by 2 pixels.

The three steps alternate for a few passes, starting from "every usable pixel is a
candidate". Smoothing the detection image along the dispersion (rows) keeps traces, which
run along rows, and averages away per-column stripes, so stripes stay candidates and are
removed by step 1 rather than masked. Medians come from
:func:`app.core.engine.robust.column_median_mad`
and noise statistics from astropy's ``sigma_clipped_stats``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from app.core.engine.robust import column_median_mad
from app.core.threshold.picture_frame import frame_levels
from app.core.threshold.regions import dilate
from app.core.threshold.smoothing import box2d

#: Rows per column-level block. Full-frame lines are read by four outputs of 512 rows
#: each (see :mod:`app.core.engine.median`); 128 also follows the slow drift inside a channel.
BLOCK_ROWS = 128
CHANNEL_ROWS = 512
#: A column's level in a readout channel needs candidates on this fraction of its rows,
#: and in a block of BLOCK_ROWS rows on BLOCK_FRACTION: a small block crossed by several
#: traces may hold more undetected faint light than background.
MIN_FRACTION = 0.5
BLOCK_FRACTION = 0.75
#: Detection image of the candidate search: a box of (rows, columns) pixels. Long along
#: the dispersion, so that traces (hundreds of pixels long) are found while stripes a
#: few columns wide, which the column levels must remove, are averaged away.
DETECTION_BOX = (3, 301)
#: Candidates exclude what the detection image shows above this many σ, grown by
#: DETECT_GROW pixels. Not lower: once the levels fit, the detection image is white
#: noise smoothed into streaks 301 pixels long, and at 2σ one row in forty lost whole
#: streaks, which pushed blocks below BLOCK_FRACTION, left their stripes unfitted and
#: made the next pass detect the stripes as light (a runaway seen on synthetic frames).
DETECT_SIGMA = 3.0
#: The same before block levels exist (first passes): block offsets averaged along the
#: box look like faint horizontal bands then; only clear light may leave the candidates.
COARSE_DETECT_SIGMA = 4.0
DETECT_GROW = 2
#: Values used for the σ-clipped statistics are subsampled to at most this many.
MAX_STAT_SAMPLES = 500_000


@dataclass
class Background:
    """A fitted background (DMS layout).

    Attributes
    ----------
    residual : ndarray, float32
        ``image − model`` on usable pixels, 0 elsewhere.
    model : ndarray, float32
        Column levels plus row levels.
    candidates : ndarray of bool
        Usable pixels not detected as light or as low-side outliers in the last pass.
    usable : ndarray of bool
        Finite, not DO_NOT_USE, not reference border.
    noise : float
        σ of single residual pixels (σ-clipped, candidates only).
    """

    residual: np.ndarray
    model: np.ndarray
    candidates: np.ndarray
    usable: np.ndarray
    noise: float


def robust_stats(values: np.ndarray, lower_half: bool = False,
                 max_samples: int = MAX_STAT_SAMPLES) -> tuple[float, float]:
    """σ-clipped median and standard deviation (3σ, astropy) of finite ``values``.

    ``lower_half``: σ comes from the values below the median mirrored about it (as the
    pipeline's ``clip_to_background(lower_half_only=True)``), so faint light left in the
    upper tail does not inflate it and a cut upper tail does not shrink it.
    More than ``max_samples`` values are subsampled with a regular stride: half a million
    pixels give the same statistics as four million, eight times faster. Returns
    ``(nan, nan)`` when there is nothing to measure.
    """
    from astropy.stats import sigma_clipped_stats

    flat = np.asarray(values).ravel()
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return float("nan"), float("nan")
    if flat.size > max_samples:
        flat = flat[:: int(np.ceil(flat.size / max_samples))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: astropy warns, std is just 0
        _, median, std = sigma_clipped_stats(flat, sigma=3.0, maxiters=10)
        if lower_half:
            low = flat[flat <= median]
            mirrored = np.concatenate([low, 2 * median - low])
            _, _, std = sigma_clipped_stats(mirrored, sigma=3.0, maxiters=10)
    return float(median), float(std)


def column_levels(values: np.ndarray, candidates: np.ndarray, blocks: bool = True
                  ) -> np.ndarray:
    """Median of the candidates of each column in blocks of :data:`BLOCK_ROWS` rows.

    Blocks follow the readout channels of a full frame; an image of another height is one
    channel. A column's block level needs candidates on at least :data:`BLOCK_FRACTION` of
    the block's rows, otherwise the level of its channel is used (which needs
    :data:`MIN_FRACTION`), or else the whole column's: where traces cover most of a
    block, the few remaining candidates may be faint light, and a level fitted to them
    would erase it. ``blocks=False``: one
    median per whole column.
    """
    n = values.shape[0]
    whole = _levels(values, candidates, 0)
    if not blocks:
        return np.broadcast_to(whole.astype(np.float32), values.shape)
    channel = CHANNEL_ROWS if n % CHANNEL_ROWS == 0 and n > CHANNEL_ROWS else n
    block = BLOCK_ROWS if channel % BLOCK_ROWS == 0 else channel
    model = np.empty(values.shape, dtype=np.float32)
    for c0 in range(0, n, channel):
        rows = slice(c0, c0 + channel)
        in_channel = _levels(values[rows], candidates[rows], MIN_FRACTION, whole)
        for b0 in range(c0, c0 + channel, block):
            part = slice(b0, b0 + block)
            level = in_channel
            if block < channel:
                level = _levels(values[part], candidates[part], BLOCK_FRACTION, in_channel)
            model[part] = level.astype(np.float32)[None, :]
    return model


def _levels(values: np.ndarray, candidates: np.ndarray, min_fraction: float,
            fallback: np.ndarray | None = None) -> np.ndarray:
    """Column medians of the candidates; ``fallback`` (or 0) where there are too few."""
    median, _ = column_median_mad(values, candidates)
    enough = np.count_nonzero(candidates, axis=0) >= max(min_fraction * values.shape[0], 1)
    return np.where(enough & np.isfinite(median), median,
                    0.0 if fallback is None else fallback)


def fit_background(image: np.ndarray, usable: np.ndarray, passes: int = 5) -> Background:
    """Fit the column and row levels of ``image`` and find the background candidates.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        Count rates, DMS layout.
    usable : ndarray of bool
        Pixels that carry data (finite, not DO_NOT_USE, not reference border).
    passes : int
        Alternations of level fitting and candidate detection. The first two passes fit
        one level per column, which a median finds even when traces cover almost half of
        the column; finer blocks and row levels, which traces could dominate, join once
        the candidates exclude the traces.

    Returns
    -------
    Background
    """
    data = np.where(usable, image, np.float32(0)).astype(np.float32)
    weight = box2d(usable.astype(np.float32), DETECTION_BOX)
    candidates = usable.copy()
    rows = np.zeros(data.shape[0], dtype=np.float32)
    extent = (0, 0)
    for step in range(passes):
        fine = step >= 2
        columns = column_levels(data - rows[:, None], candidates, fine)
        if step > 0:
            # the zone past the band trusts candidates: not those of the first pass, whose
            # centre may sit on the light (IFU slices cover most rows)
            rows, extent = frame_levels(data - columns, candidates, usable, extent, zone=fine)
            columns = column_levels(data - rows[:, None], candidates, fine)
        residual = data - columns - rows[:, None]
        detect = box2d(np.where(usable, residual, np.float32(0)), DETECTION_BOX)
        np.divide(detect, weight, out=detect, where=weight > 0.05)
        detect[weight <= 0.05] = np.nan
        centre, sigma = robust_stats(detect[candidates], lower_half=True)
        if not np.isfinite(sigma) or sigma == 0:
            break
        level = DETECT_SIGMA if fine else COARSE_DETECT_SIGMA
        with np.errstate(invalid="ignore"):
            outliers = (detect > centre + level * sigma) | (detect < centre - 1.5 * level * sigma)
        candidates = usable & ~dilate(outliers, DETECT_GROW, DETECT_GROW)
        if not candidates.any():
            candidates = usable.copy()
            break
    model = columns + rows[:, None]
    residual = np.where(usable, data - model, np.float32(0))
    _, noise = robust_stats(residual[candidates], lower_half=True)
    return Background(residual, model, candidates, usable, noise)
