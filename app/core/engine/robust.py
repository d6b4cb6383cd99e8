"""Per-line robust statistics over a variable number of background samples.

NSClean replaces outliers on each detector line by the median of that line's background
samples, using 1.4826 × MAD as σ, and removes the median of all background samples
before the fit. Lines have different numbers of background samples, so ``np.median``
along an axis does not apply. Instead every line is sorted once, in the packed layout of
:mod:`app.core.engine.packing`, with its unused samples set to +inf so that its ``c`` usable
values come first (:func:`sort_packed`). From the sorted lines, with index arithmetic
only:

- each line's median sits at indices ``(c - 1) // 2`` and ``c // 2``;
- its MAD is an order statistic of ``|x - median|``, which over sorted ``x`` is V-shaped:
  the ``k + 1`` smallest deviations are a contiguous window of the sorted line, found by a
  binary search vectorised over all lines (no second sort);
- a constant shift of the data need not be sorted again: rounding is monotonic, so
  ``fl(x - s)`` keeps the order of ``x`` and every order statistic of the shifted data is
  the shifted order statistic;
- the median of *all* samples is bracketed from every ``STRIDE``-th sorted value of every
  line and finished on the few thousand values inside the bracket.

All results equal those of sorting the (shifted) samples directly, bit for bit. NumPy
releases the GIL for copies and sorts, so groups of lines run on a small thread pool.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from app.core.engine.packing import GROUP, STRIDE, Packing

#: Scale from the median absolute deviation to σ for Gaussian noise.
MAD_TO_SIGMA = 1.4826

_T = TypeVar("_T")
_R = TypeVar("_R")
_pool: ThreadPoolExecutor | None = None
_workers = min(2, os.cpu_count() or 1)


def set_workers(count: int) -> None:
    """Threads used by the engine's parallel steps (default: 2, or 1 on one CPU).

    Use 1 when several processes clean in parallel (``nsclean clean -j N``).
    """
    global _pool, _workers
    count = max(1, int(count))
    if count != _workers and _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None
    _workers = count


def workers() -> int:
    """Threads the engine may use (see :func:`set_workers`)."""
    return _workers


def parallel_map(func: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
    """``[func(item) for item in items]`` on the engine's thread pool (in order)."""
    global _pool
    items = list(items)
    if _workers == 1 or len(items) < 2:
        return [func(item) for item in items]
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_workers, thread_name_prefix="nsclean")
    return list(_pool.map(func, items))


def spans(total: int, size: int) -> list[slice]:
    """Consecutive slices of at most ``size`` covering ``range(total)``."""
    size = max(1, size)
    return [slice(start, min(start + size, total)) for start in range(0, total, size)]


def thread_spans(total: int, minimum: int) -> list[slice]:
    """:func:`spans` of ``range(total)``, one per engine thread, none shorter than
    ``minimum`` (below it, handing work to a thread costs more than it saves)."""
    return spans(total, max(minimum, -(-total // workers())))


#: Fewer small matrices than this are handled on the calling thread: handing a batch of
#: per-line systems to a thread costs more than it saves.
MIN_PARALLEL_MATRICES = 256


def per_line_parallel(func: Callable[..., np.ndarray], out: np.ndarray,
                      *arrays: np.ndarray) -> np.ndarray:
    """``out[i] = func(*arrays)[i]`` for a batch of per-line matrices, split along the
    first axis over the engine's threads (NumPy's batched linear algebra releases the
    GIL: a full frame's lines take half the time on two cores).

    Parameters
    ----------
    func : callable
        Maps slices of ``arrays`` (same first axis) to the matching slice of ``out``.
    out : ndarray
        Where the results go; returned.
    *arrays : ndarray
        Inputs with ``len(out)`` rows each.
    """
    def run_part(part: slice) -> None:
        out[part] = func(*(array[part] for array in arrays))

    parallel_map(run_part, thread_spans(out.shape[0], MIN_PARALLEL_MATRICES))
    return out


@dataclass
class SortedColumns:
    """The usable samples of every column, sorted ascending and padded with +inf.

    ``values`` is in the packed layout of ``packing``: the block of group ``g`` holds
    its columns' samples sorted along the rows (+inf past ``counts[column]``).
    """

    values: np.ndarray
    counts: np.ndarray
    packing: Packing

    def __post_init__(self) -> None:
        columns = np.arange(self.counts.size)
        group = columns // GROUP
        # flat position of sorted index 0 of each column; index i is i * GROUP further
        self._base = self.packing.starts[group] * GROUP + columns % GROUP
        self._last = self.packing.starts[group + 1] - self.packing.starts[group] - 1
        self._flat = self.values.reshape(-1)

    def at(self, index: np.ndarray) -> np.ndarray:
        """The sample of sorted position ``index[c]`` in every column ``c``."""
        index = np.clip(index, 0, self._last)
        return self._flat.take(self._base + index * GROUP)

    def median_mad(self, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Median and MAD of each column of ``samples - shift`` (float64; NaN if empty).

        The shift is applied in the data's precision, as if the samples had been
        shifted before sorting; the deviations too are computed in that precision.
        """
        s = self.values.dtype.type(shift)
        low = np.maximum(self.counts - 1, 0) // 2
        high = self.counts // 2
        median = _mean_of_pair(self.at(low) - s, self.at(high) - s)
        centre = median.astype(self.values.dtype)
        mad = _mean_of_pair(self._deviation_statistic(low, s, centre),
                            self._deviation_statistic(high, s, centre))
        empty = self.counts == 0
        median[empty] = mad[empty] = np.nan
        return median, mad

    def _deviation_statistic(self, k: np.ndarray, shift: np.floating, centre: np.ndarray
                             ) -> np.ndarray:
        """The ``k[c]``-th smallest ``|x - shift - centre|`` of every column ``c``.

        The ``k + 1`` samples closest to the centre form a window ``[lo, lo + k]`` of the
        sorted column; the binary search for ``lo`` is the classic "k closest elements"
        one, on signed deviations so that ties resolve consistently.
        """
        with np.errstate(invalid="ignore"):  # empty columns: inf - inf, ignored later
            def signed(index: np.ndarray) -> np.ndarray:
                return (self.at(index) - shift) - centre

            lo = np.zeros_like(k)
            hi = np.maximum(self.counts - (k + 1), 0)
            while True:
                active = lo < hi
                if not active.any():
                    break
                mid = (lo + hi) // 2
                go_right = -signed(mid) > signed(mid + k + 1)
                lo = np.where(active & go_right, mid + 1, lo)
                hi = np.where(active & ~go_right, mid, hi)
            return np.maximum(np.abs(signed(lo)), np.abs(signed(lo + k)))

    def global_median(self) -> float:
        """``np.median`` of all usable samples (the same value, bit for bit); NaN if none."""
        total = int(self.counts.sum())
        if total == 0:
            return float("nan")
        ranks = sorted({(total - 1) // 2, total // 2})
        middle = self._order_statistics(ranks, total)
        return float(np.median(np.asarray(middle, dtype=self.values.dtype)))

    def _order_statistics(self, ranks: list[int], total: int) -> list[np.floating]:
        """Values of the given ranks among all usable samples (of all columns)."""
        sample = self.values[::STRIDE]  # rows 0, STRIDE, ... of every group's block
        sample = np.sort(sample[sample < np.inf])
        # A column holds at most STRIDE values below each of its sampled values, and at
        # least one more than STRIDE times its sampled values below the one after, so
        # these two sampled values bracket the wanted ranks (checked below all the same).
        lines = np.count_nonzero(self.counts)
        first = min(ranks) // STRIDE
        last = -(-(max(ranks) + 1 + (STRIDE - 1) * lines) // STRIDE) - 1
        low = sample[first]
        high = sample[last] if last < sample.size else np.inf
        parts = parallel_map(lambda block: _split(self.values[block], low, high),
                             spans(self.values.shape[0], 8192))
        below = sum(p[0] for p in parts)
        inside = np.concatenate([p[1] for p in parts])
        wanted = [r - below for r in ranks]
        if min(wanted) < 0 or max(wanted) >= inside.size:  # cannot happen; be safe
            inside = self.values[self.values < np.inf]
            wanted = list(ranks)
        inside = np.partition(inside, wanted)
        return [inside[w] for w in wanted]


def _mean_of_pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return 0.5 * (a.astype(np.float64) + b.astype(np.float64))


def _split(values: np.ndarray, low: float, high: float) -> tuple[int, np.ndarray]:
    """How many values lie below ``low``, and the values within ``[low, high]``."""
    inside = (values >= low) & (values <= high) & (values < np.inf)
    return int(np.count_nonzero(values < low)), values[inside]


def sort_packed(packed: np.ndarray, pad: np.ndarray, counts: np.ndarray, packing: Packing,
                out: np.ndarray | None = None) -> SortedColumns:
    """Sort every column of a packed array, unusable samples last (see :func:`sort_columns`).

    Parameters
    ----------
    packed : ndarray
        ``packing.pack(values)``.
    pad : ndarray
        ``packing.padding(usable)``.
    counts : ndarray of int
        Usable samples per DMS column.
    packing : Packing
        The layout of ``packed``.
    out : ndarray, optional
        Buffer like ``packed`` to reuse (saves page faults on large frames).
    """
    if out is None or out.shape != packed.shape or out.dtype != packed.dtype:
        out = np.empty_like(packed)

    def sort_groups(groups: slice) -> None:
        part = slice(int(packing.starts[groups.start]), int(packing.starts[groups.stop]))
        np.fmax(packed[part], pad[part], out=out[part])
        for group in range(groups.start, groups.stop):
            out[packing.segment(group)].sort(axis=0)

    parallel_map(sort_groups, spans(packing.ngroups, 4))
    return SortedColumns(out, np.asarray(counts), packing)


def sort_columns(values: np.ndarray, usable: np.ndarray) -> SortedColumns:
    """Sort the usable samples of every column.

    Parameters
    ----------
    values : ndarray, shape (n, ncols)
        Samples in DMS layout: each column is one detector line.
    usable : ndarray of bool, same shape
        Which samples count. Unusable samples may hold anything, NaN included; usable
        ones must be finite.
    """
    packing = Packing.covering(usable)
    return sort_packed(packing.pack(values), packing.padding(usable),
                       np.count_nonzero(usable, axis=0), packing)


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
    return sort_columns(values, usable).median_mad()


def masked_median(values: np.ndarray, usable: np.ndarray) -> float:
    """``float(np.median(values[usable]))``, computed from per-column sorts."""
    return sort_columns(values, usable).global_median()
