"""Incremental cleaning for the live preview: refit only the detector lines that changed.

A full-frame NSClean fit is independent per detector line (one DMS column) up to the last
step: the weights of a line are a convolution along that line of its own mask, the
outlier statistics and the least-squares coefficients use that line only. Only the
background level (the median of *all* background pixels, removed before the fit) and
buffing (smoothing the coefficients across neighbouring lines) couple the lines. So
after a brush stroke :class:`IncrementalCleaner`

1. finds the columns whose usable background changed (inside the reported box),
2. recomputes the background level; a level change ``δ`` changes every fitted line's
   constant term by exactly ``-δ`` (the median, MAD and least-squares fit all follow a
   constant shift of the data), so unchanged lines are corrected, not refit,
3. refits only the changed columns (:class:`~app.core.engine.fourier.LineFitter`'s public
   ``weights``/``replace_outliers``/``solve`` on a narrow column slice, exact because
   each column is independent),
4. re-buffs the whole ``(nlines, nvec)`` coefficient array (cheap) and re-synthesises
   only the columns within the buffing reach (``±ceil(6σ)+1`` lines; beyond that the
   Gaussian weight is below float32 resolution); every other column only moves by the
   change of its constant term.

The result equals :func:`app.core.clean.clean` on the same mask to float32 precision
(tests/core/test_preview.py checks it), for the published complex fit and for the real
fit with or without its 1/f prior (:mod:`~app.core.engine.fourier_real`: also one line at a
time, and the prior does not penalise the constant term, so a level change still moves
only ``g_0``), at any fc, kw, weight σ, sigrej and buffing the tuner can choose.
Parameter changes, a new image, the median and subarray variants and legacy kernels
(whose weights mix neighbouring lines) recompute from scratch with
:func:`~app.core.clean.clean` itself.

The read-time fit (method "time") is refit the same way, without buffing
(:mod:`app.core.engine.incremental_time`).

The cleaner is used from worker threads: a lock serialises updates, and an update works
on copies and commits its state only when it finishes, so a cancelled or failed update
leaves the previous state (and the caller's mask) untouched.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, replace

import numpy as np

from app.core.clean import (
    FULL_FRAME,
    CleanParams,
    Diagnostics,
    check_inputs,
    clean,
    line_diagnostics,
    reference_pixels,
)
from app.core.engine.fourier import LineFitter
from app.core.engine.fourier_real import fit_lines_real, single_threaded_blas
from app.core.engine.incremental_time import TimeState, refit
from app.core.engine.readtime import line_timing
from app.core.errors import MaskError
from app.core.generators import run_to_end
from app.core.mask.paint import Box
from app.core.orientation import dms_to_detector_coords

Progress = Generator[tuple[float, str], None, "PreviewResult"]

#: Above this fraction of changed lines one batched fit beats the incremental path.
FULL_REFIT_FRACTION = 0.25


@dataclass(frozen=True)
class PreviewResult:
    """One preview: arrays in DMS orientation, float32; never modified after delivery.

    Attributes
    ----------
    image : ndarray
        The original image.
    cleaned, model : ndarray
        As :class:`~app.core.clean.CleanResult` (``cleaned = image − model``).
    residual : ndarray
        ``image − cleaned``: what was removed (NaN where the image is NaN).
    usable : ndarray of bool
        The background samples the fit used.
    diagnostics : Diagnostics
        Per-line sample counts and unfit lines.
    params : CleanParams
        The parameters used.
    detector : str
        ``NRS1`` or ``NRS2``.
    full : bool
        True for a from-scratch recompute.
    refit_columns : ndarray of int
        DMS columns whose fit was recomputed (every column after a full recompute).
    changed_columns : ndarray of int or None
        DMS columns whose model changed by more than a per-column constant (refit
        columns plus their buffing neighbours); None when any column may have changed
        (a full recompute, new buffing settings).
    level_shift : float
        Change of the background level since the previous result: every fitted column
        of ``cleaned`` moved by it.
    seconds : float
        Wall time of the update.
    serial : int
        Unique number of this result (increasing).
    base : int
        ``serial`` of the result this one was derived from (``changed_columns`` and
        ``level_shift`` are relative to it), -1 for a from-scratch recompute.
    """

    image: np.ndarray
    cleaned: np.ndarray
    model: np.ndarray
    residual: np.ndarray
    usable: np.ndarray
    diagnostics: Diagnostics
    params: CleanParams
    detector: str
    full: bool
    refit_columns: np.ndarray
    changed_columns: np.ndarray | None
    level_shift: float
    seconds: float
    serial: int = 0
    base: int = -1


_serials = itertools.count(1)


@dataclass
class _FitState:
    """What an incremental update needs from the previous one (fft, full frame only)."""

    fitter: LineFitter
    coeffs: np.ndarray  # g_k per DMS column, fitted to image − level
    buffed: np.ndarray  # coefficients after buffing (== coeffs without buffing)
    fitted: np.ndarray  # bool per column: the column was fit
    counts: np.ndarray  # usable samples per column
    level: float
    sorted_background: np.ndarray | None = None  # image[usable] sorted, built on demand
    reduced: np.ndarray | None = None  # bool per column: fitted by its mean level only


def buff_reach(params: CleanParams) -> int:
    """Columns on each side of a changed one whose buffed model can change visibly.

    The Gaussian weight at ``6σ`` is ``exp(-18) ≈ 1.5e-8``, below float32 resolution.
    """
    return math.ceil(6.0 * params.buff_sigma) + 1 if params.buff else 0


class IncrementalCleaner:
    """Holds one image, its parameters and the last fit; updates it for new masks.

    Parameters
    ----------
    image : ndarray, optional
        DMS image (converted to float32).
    detector : {"NRS1", "NRS2"}, optional
    params : CleanParams, optional
        Defaults if omitted.
    """

    def __init__(self, image: np.ndarray | None = None, detector: str | None = None,
                 params: CleanParams | None = None, readpatt: str | None = None) -> None:
        self._lock = threading.Lock()
        self._source: np.ndarray | None = None  # the caller's array, to spot a new image
        self._image: np.ndarray | None = None
        self._detector = "NRS1"
        self._params = CleanParams()
        self._finite_inside: np.ndarray | None = None
        self._state: _FitState | None = None
        self._result: PreviewResult | None = None
        self._rebuff = False  # only the buffing changed since the last result
        self._readpatt: str | None = None  # READPATT of the image (the "time" fit's timing)
        self._set_inputs(image, detector, params, readpatt)

    @property
    def result(self) -> PreviewResult | None:
        """The last completed preview."""
        return self._result

    def invalidate(self) -> None:
        """Forget the last fit: the next update recomputes from scratch."""
        with self._lock:
            self._state, self._result, self._rebuff = None, None, False

    def update(self, mask: np.ndarray, changed_box: Box | None = None, *,
               image: np.ndarray | None = None, detector: str | None = None,
               params: CleanParams | None = None, readpatt: str | None = None
               ) -> PreviewResult:
        """Clean with ``mask``, refitting only what changed; see :meth:`iter_update`."""
        return run_to_end(self.iter_update(mask, changed_box, image=image, detector=detector,
                                           params=params, readpatt=readpatt))

    def iter_update(self, mask: np.ndarray, changed_box: Box | None = None, *,
                    image: np.ndarray | None = None, detector: str | None = None,
                    params: CleanParams | None = None, readpatt: str | None = None
                    ) -> Progress:
        """Generator form of :meth:`update`: yields ``(fraction, message)``, returns the result.

        Parameters
        ----------
        mask : ndarray of bool
            Background mask (DMS), True = background.
        changed_box : Box, optional
            A box holding every pixel where ``mask`` differs from the mask of the last
            completed update; None compares the whole frame.
        image, detector, params : optional
            New inputs; a different image object, detector or parameters force a full
            recompute, except buffing settings: the fit does not depend on them, so only
            the model is rebuilt.
        readpatt : str, optional
            The image's readout pattern (header ``READPATT``), for the "time" fit; a
            new value forces a full recompute.

        Raises
        ------
        InputError, MaskError
            As :func:`~app.core.clean.clean` (e.g. no usable background at all); the
            previous state is kept.
        """
        with self._lock:
            start = time.perf_counter()
            self._set_inputs(image, detector, params, readpatt)
            if self._image is None:
                raise MaskError("no image to clean")
            check_inputs(self._image, mask, self._detector)
            mask = np.asarray(mask, dtype=bool)
            previous, state = self._result, self._state
            if state is None or previous is None:
                yield 0.0, "cleaning the whole frame"
                result, state = self._full(mask, start)
            else:
                rebuff = self._rebuff
                if rebuff and isinstance(state, TimeState):  # it ignores buffing
                    previous, rebuff = replace(previous, params=self._params), False
                if rebuff:
                    yield 0.0, "buffing"
                    previous, state = self._rebuffed(previous, state)
                result, state = yield from self._incremental(mask, changed_box, previous,
                                                             state, start)
                if rebuff:  # every column's model changed
                    result = replace(result, changed_columns=None)
                if not result.full:
                    result = replace(result, base=self._result.serial if self._result else -1)
            result = replace(result, serial=next(_serials))
            self._result, self._state, self._rebuff = result, state, False
            return result

    # -- inputs ----------------------------------------------------------------------------
    def _set_inputs(self, image: np.ndarray | None, detector: str | None,
                    params: CleanParams | None, readpatt: str | None = None) -> None:
        changed = False
        if readpatt is not None and readpatt != self._readpatt:
            self._readpatt = readpatt
            changed = True
        if image is not None and image is not self._source:
            self._source = image
            self._image = np.asarray(image, dtype=np.float32)
            inside = np.isfinite(self._image) & ~reference_pixels(self._image.shape)
            self._finite_inside = inside
            changed = True
        if detector is not None and detector.strip().upper() != self._detector:
            self._detector = detector.strip().upper()
            changed = True
        if params is not None and params != self._params:
            buffing_only = replace(params, buff=self._params.buff,
                                   buff_sigma=self._params.buff_sigma) == self._params
            self._params = params.validated()
            self._rebuff = self._rebuff or buffing_only
            changed = changed or not buffing_only
        if changed:
            self._state, self._result, self._rebuff = None, None, False

    def _usable(self, mask: np.ndarray, columns: slice) -> np.ndarray:
        """Usable background of a column range (same rule as ``usable_background``)."""
        assert self._finite_inside is not None
        return mask[:, columns] & self._finite_inside[:, columns]

    def _incremental_possible(self) -> bool:
        p = self._params
        if p.method == "time":
            return self._image is not None and self._image.shape == FULL_FRAME
        # legacy kernels mix neighbouring lines in the weights: they recompute
        return (p.method == "fft" and not p.legacy_kernels
                and self._image is not None and self._image.shape == FULL_FRAME)

    # -- from scratch ----------------------------------------------------------------------
    def _full(self, mask: np.ndarray, start: float) -> tuple[PreviewResult, _FitState | None]:
        image, params = self._image, self._params
        assert image is not None
        res = clean(image, mask, self._detector, params.method, params=params,
                    readpatt=self._readpatt)
        usable = self._usable(mask, slice(None))
        state: _FitState | TimeState | None = None
        if self._incremental_possible() and params.method == "time":
            counts = np.count_nonzero(usable, axis=0)
            state = TimeState(line_timing(image.shape[0], self._readpatt),
                              params.time_settings(), counts, counts > 0,
                              self._reduced_columns(res.diagnostics, image.shape),
                              res.diagnostics.background_level)
        elif self._incremental_possible() and res.coefficients is not None:
            fitter = LineFitter(image.shape, self._detector, params.fit_settings())
            coeffs = res.coefficients
            counts = np.count_nonzero(usable, axis=0)
            state = _FitState(fitter, coeffs, fitter.buff(coeffs) if params.buff else coeffs,
                              counts > fitter.nvec, counts, res.diagnostics.background_level,
                              reduced=self._reduced_columns(res.diagnostics, image.shape))
        result = PreviewResult(
            image, res.cleaned, res.model, image - res.cleaned, usable, res.diagnostics,
            params, self._detector, True, np.arange(image.shape[1]), None, 0.0,
            time.perf_counter() - start)
        return result, state

    # -- incremental -----------------------------------------------------------------------
    def _rebuffed(self, previous: PreviewResult, state: _FitState
                  ) -> tuple[PreviewResult, _FitState]:
        """The last result with new buffing settings: same coefficients, new model."""
        image, params = previous.image, self._params
        fitter = LineFitter(image.shape, self._detector, params.fit_settings())
        buffed = fitter.buff(state.coeffs) if params.buff else state.coeffs
        model = fitter.synthesize(buffed)
        cleaned = image - model
        result = replace(previous, cleaned=cleaned, model=model, residual=image - cleaned,
                         params=params, full=False, refit_columns=np.zeros(0, int),
                         changed_columns=None, level_shift=0.0)
        return result, replace(state, fitter=fitter, buffed=buffed)

    def _incremental(self, mask: np.ndarray, box: Box | None, previous: PreviewResult,
                     state: _FitState | TimeState, start: float
                     ) -> Generator[tuple[float, str], None,
                                    tuple[PreviewResult, _FitState | None]]:
        image = self._image
        assert image is not None
        x0, x1 = (0, image.shape[1]) if box is None else (max(box.x0, 0), min(box.x1,
                                                                               image.shape[1]))
        if x1 <= x0:
            return replace(previous, refit_columns=np.zeros(0, int),
                           changed_columns=np.zeros(0, int), level_shift=0.0, full=False,
                           seconds=time.perf_counter() - start), state
        new_cols = self._usable(mask, slice(x0, x1))
        differs = np.any(new_cols != previous.usable[:, x0:x1], axis=0)
        columns = x0 + np.flatnonzero(differs)
        if columns.size == 0:
            return replace(previous, refit_columns=columns, changed_columns=columns,
                           level_shift=0.0, full=False,
                           seconds=time.perf_counter() - start), state
        if columns.size > FULL_REFIT_FRACTION * image.shape[1]:
            yield 0.0, "cleaning the whole frame"
            return self._full(mask, start)
        usable = previous.usable.copy()
        usable[:, x0:x1] = new_cols
        if not usable.any():
            raise MaskError("the mask leaves no usable background pixel (all False, NaN or "
                            "border)")
        yield 0.1, "background level"
        level, ordered = self._level(state, previous.usable, usable, columns)
        yield 0.4, f"refitting {columns.size} line(s)"
        if isinstance(state, TimeState):
            return self._incremental_time(state, image, usable, columns, level, ordered,
                                          previous, start)
        # A few lines: multithreaded BLAS only adds hand-offs, which on a busy 2-core
        # machine made the lag sums and the synthesis of a high-fc fit 10-20× slower.
        with single_threaded_blas():
            result, state = self._refit(usable, columns, level, ordered, previous, state,
                                        start)
        return result, state

    def _refit(self, usable: np.ndarray, columns: np.ndarray, level: float,
               ordered: np.ndarray | None, previous: PreviewResult, state: _FitState,
               start: float) -> tuple[PreviewResult, _FitState]:
        """Refit ``columns`` and rebuild the model (the second half of an update)."""
        image, params = self._image, self._params
        assert image is not None
        shift = level - state.level
        fitter = state.fitter
        sub_usable = np.ascontiguousarray(usable[:, columns])
        # C order matters: the robust statistics sort their input in place otherwise
        sub_data = np.ascontiguousarray(image[:, columns]) - np.float32(level)
        sub_counts = np.count_nonzero(sub_usable, axis=0)
        sub_fitted = sub_counts > fitter.nvec
        sub_coeffs = np.zeros((columns.size, fitter.nvec), dtype=np.complex128)
        reduced = (np.zeros(image.shape[1], dtype=bool) if state.reduced is None
                   else state.reduced.copy())
        reduced[columns] = False
        if sub_fitted.any():
            weights = self._narrow_weights(fitter, sub_usable)
            if params.fit == "real":
                # the real fit (with or without its 1/f prior) is per line like the
                # complex one; clean() calls the same function on the whole frame
                sub_reduced = np.zeros(columns.size, dtype=bool)
                sub_coeffs, _ = fit_lines_real(fitter, sub_data, sub_usable, weights,
                                               params.ridge, sub_reduced)
                reduced[columns] = sub_reduced
            else:
                data = fitter.replace_outliers(sub_data, sub_usable)
                sub_coeffs[sub_fitted], sub_reduced = fitter.solve_reporting(
                    data, weights, np.flatnonzero(sub_fitted))
                reduced[columns[sub_fitted]] = sub_reduced
        coeffs = state.coeffs.copy()
        coeffs[state.fitted, 0] -= shift  # the fit follows a constant shift of the data
        coeffs[columns] = sub_coeffs
        fitted = state.fitted.copy()
        fitted[columns] = sub_fitted
        counts = state.counts.copy()
        counts[columns] = sub_counts
        buffed = fitter.buff(coeffs) if params.buff else coeffs
        # Columns out of buffing reach change only by their constant term (k = 0 is
        # synthesised with weight 1); the others are synthesised again.
        offset = (buffed[:, 0].real - state.buffed[:, 0].real).astype(np.float32)
        model = previous.model + offset[None, :]
        reach = buff_reach(params)
        near = np.unique((columns[:, None] + np.arange(-reach, reach + 1)[None, :])
                         % image.shape[1])
        model[:, near] = fitter.synthesize(buffed[near], parallel=False)
        cleaned = image - model
        diagnostics = line_diagnostics(counts, counts < fitter.nvec + 1, fitter.nvec + 1,
                                       self._detector, image.shape, level, "fft", reduced)
        result = PreviewResult(
            image, cleaned, model, image - cleaned, usable, diagnostics, params,
            self._detector, False, columns, near, shift, time.perf_counter() - start)
        return result, _FitState(fitter, coeffs, buffed, fitted, counts, level, ordered,
                                 reduced)

    def _incremental_time(self, state: TimeState, image: np.ndarray, usable: np.ndarray,
                          columns: np.ndarray, level: float, ordered: np.ndarray | None,
                          previous: PreviewResult, start: float
                          ) -> tuple[PreviewResult, TimeState]:
        """:meth:`_incremental` for the read-time fit: refit ``columns``, shift the rest."""
        model, new = refit(state, image, usable, columns, level, previous.model,
                           self._detector)
        new.sorted_background = ordered
        cleaned = image - model
        diagnostics = line_diagnostics(new.counts, ~new.fitted, new.settings.min_samples,
                                       self._detector,
                                       image.shape, level, "time", new.reduced)
        result = PreviewResult(
            image, cleaned, model, image - cleaned, usable, diagnostics, self._params,
            self._detector, False, columns, columns, level - state.level,
            time.perf_counter() - start)
        return result, new

    def _reduced_columns(self, diagnostics: Diagnostics, shape: tuple[int, int]) -> np.ndarray:
        """Bool per DMS column: the lines :class:`Diagnostics` reports as reduced."""
        lines = np.asarray(dms_to_detector_coords(np.arange(shape[1]), 0, self._detector,
                                                  shape)[0])
        return np.isin(lines, diagnostics.reduced_lines)

    @staticmethod
    def _narrow_weights(fitter: LineFitter, usable: np.ndarray) -> np.ndarray:
        """Weights of a few columns, padded with empty columns to a multiple of 8.

        The fitter compares a new mask with its cached one 8 bytes at a time, which
        needs rows of a whole number of 8 bytes; empty columns get zero weight.
        """
        width = usable.shape[1]
        padded = np.zeros((usable.shape[0], width + (-width) % 8), dtype=bool)
        padded[:, :width] = usable
        return fitter.weights(padded)[:, :width]

    def _level(self, state: _FitState, old: np.ndarray, new: np.ndarray, columns: np.ndarray
               ) -> tuple[float, np.ndarray | None]:
        """The new background level, exactly ``np.median(image[new])`` as in ``clean``.

        Instead of a selection over all ~10⁶ background values per stroke, a sorted copy
        is kept and only the values that left or joined the background are deleted and
        inserted (two memory moves).
        """
        if self._params.background != "median":
            return 0.0, None
        image = self._image
        assert image is not None
        ordered = state.sorted_background
        if ordered is None:
            ordered = np.sort(image[old])
        before, after, values = old[:, columns], new[:, columns], image[:, columns]
        removed = np.sort(values[before & ~after])
        if removed.size:  # equal values: remove consecutive copies
            rank = np.arange(removed.size) - np.searchsorted(removed, removed, "left")
            ordered = np.delete(ordered, np.searchsorted(ordered, removed, "left") + rank)
        added = np.sort(values[after & ~before])
        if added.size:
            ordered = np.insert(ordered, np.searchsorted(ordered, added), added)
        n = ordered.size
        # the median of the middle one or two values is np.median's own arithmetic
        return float(np.median(ordered[(n - 1) // 2: n // 2 + 1])), ordered
