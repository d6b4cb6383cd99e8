"""Fast binary morphology for threshold masks: growth, gap closing, small-region removal.

A slider move on a full frame (2048 × 2048) must redo these in a few tens of
milliseconds, so each is written as a handful of whole-array boolean operations
(shifted ORs and ANDs, doubling the reach at every pass) rather than a generic
structuring-element filter, whose cost grows with the footprint. The tests compare each
with the obvious scipy.ndimage equivalent.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage


def dilate(mask: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Grow ``mask`` by ``rows`` pixels up and down and ``columns`` left and right.

    The footprint is a rectangle: per axis a one-sided spread forwards and one backwards
    (:func:`spread`), so a growth of N costs about 2·log2(N) array passes.
    """
    out = np.asarray(mask, dtype=bool)
    for axis, reach in ((0, int(rows)), (1, int(columns))):
        if reach > 0:
            out = spread(out, reach + 1, np.logical_or, axis, backwards=False)
            out = spread(out, reach + 1, np.logical_or, axis, backwards=True)
    return out.copy() if out is mask else out


def drop_small_regions(mask: np.ndarray, min_size: int) -> tuple[np.ndarray, int]:
    """Remove 8-connected regions smaller than ``min_size`` pixels; return (mask, kept)."""
    return keep_large_regions(*label_regions(mask), min_size)


def label_regions(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, sizes)`` of the 8-connected regions of ``mask``: ``labels`` numbers
    them from 1 (0: outside), ``sizes[i]`` is the pixel count of region ``i``.

    The expensive half of :func:`drop_small_regions`; keep it to try other sizes.
    """
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    return labels, np.bincount(labels.ravel(), minlength=count + 1)


def keep_large_regions(labels: np.ndarray, sizes: np.ndarray, min_size: int
                       ) -> tuple[np.ndarray, int]:
    """The regions of :func:`label_regions` with at least ``min_size`` pixels, as a mask,
    and how many they are."""
    keep = sizes >= max(int(min_size), 1)
    keep[0] = False
    return np.take(keep, labels), int(np.count_nonzero(keep))


def spread(values: np.ndarray, length: int, combine: Callable[..., np.ndarray],
           axis: int = 1, backwards: bool = False) -> np.ndarray:
    """Combine every pixel with the ``length − 1`` pixels before it along ``axis``.

    ``combine`` is ``np.logical_or`` (a one-sided dilation) or ``np.logical_and`` (an
    erosion); ``backwards`` looks at the pixels after it instead. Pixels near the start
    only see the pixels that exist. The reach doubles at every pass (a length of 31
    costs 5 passes), alternating between two buffers instead of copying. Returns a new
    array; ``values`` is left alone.
    """
    values = np.asarray(values, dtype=bool)
    n = values.shape[axis]
    buffers = (np.empty_like(values), np.empty_like(values))
    source, cover, turn = values, 1, 0
    while cover < min(length, n):
        step = min(cover, length - cover)
        here, there, edge = ([slice(None)] * values.ndim for _ in range(3))
        if backwards:
            here[axis], there[axis], edge[axis] = (slice(None, -step), slice(step, None),
                                                   slice(n - step, None))
        else:
            here[axis], there[axis], edge[axis] = (slice(step, None), slice(None, -step),
                                                   slice(None, step))
        target = buffers[turn]
        combine(source[tuple(here)], source[tuple(there)], out=target[tuple(here)])
        target[tuple(edge)] = source[tuple(edge)]
        source, cover, turn = target, cover + step, 1 - turn
    return values.copy() if source is values else source


def fill_row_gaps(mask: np.ndarray, gap: int) -> np.ndarray:
    """Set runs of at most ``gap`` False pixels that lie between two True pixels of a row.

    A morphological closing with a ``1 × (gap + 1)`` line in which the outside of the
    image counts as False (runs touching the image edge stay open): a one-sided dilation
    then the mirrored erosion, each in ``log2(gap)`` passes.
    """
    mask = np.asarray(mask, dtype=bool)
    if gap <= 0:
        return mask.copy()
    pad = gap + 1
    work = np.zeros((mask.shape[0], mask.shape[1] + 2 * pad), dtype=bool)
    work[:, pad:-pad] = mask
    work = spread(work, gap + 1, np.logical_or)  # any True in [x − gap, x]
    work = spread(work, gap + 1, np.logical_and, backwards=True)  # all of [x, x + gap]
    return mask | work[:, pad:-pad]
