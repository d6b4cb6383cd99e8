"""The cross-validation behind :mod:`app.core.tuning.tune`: held-out tiles, shared sums, scores.

For every fold the training weights are the engine's weights with the held-out samples
set to zero, the training data the engine's outlier replacement of the remaining
samples; the fits are solved from lag sums (:func:`app.core.engine.fourier_real.lag_sums`)
that are computed once per fold and weight setting and only extended when a candidate
needs more frequencies. Solutions are cached per (fold, fit, number of frequencies,
weight σ, sigrej), so fc and kw values that fit the same frequencies share one solve,
and buffing only smooths cached coefficients. The prediction is synthesised for the
whole frame (one float32 matrix product) and compared with the held-out samples.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.fft

from app.core.clean import CleanParams
from app.core.engine.fourier import LineFitter
from app.core.engine.fourier_basis import FitSettings, circular_gaussian, lowpass_apodizer
from app.core.engine.fourier_real import (
    analysis_matrix,
    lag_sums,
    single_threaded_blas,
    solve_from_lags,
)
from app.core.engine.readtime import line_timing
from app.core.engine.robust import MAD_TO_SIGMA, column_median_mad
from app.core.engine.time_fit import TimeFitter
from app.core.errors import InputError

_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="nsclean-tune")

#: A fold needs this many lines that can be fit and scored, and this many scored samples.
MIN_LINES = 16
MIN_SCORED = 1000


class NotEnoughBackground(InputError):
    """Too little background to hold any out: keep the parameters you have."""


@dataclass(frozen=True)
class Score:
    """Cross-validated score of one candidate.

    Attributes
    ----------
    mean : float
        Prediction error over the scored held-out samples, (DN/s)²: the mean over them
        of the squared mean residual of their block ("banding"), or of the squared
        residual ("mse").
    error : float
        Its standard error over (fold, group of lines) units.
    unit_sse : ndarray
        Sum of squared errors per unit (for paired comparisons).
    """

    mean: float
    error: float
    unit_sse: np.ndarray


class _Lags:
    """Lag sums of one array, computed for the first frequencies and extended on demand."""

    def __init__(self, make: Callable[[], np.ndarray]) -> None:
        self._make = make
        self._lags: np.ndarray | None = None

    def get(self, nfreq: int) -> np.ndarray:
        have = 0 if self._lags is None else self._lags.shape[0] // 2
        if nfreq > have:
            need = max(nfreq, have + have // 4)  # grow in steps: fewer passes over the frame
            extra = lag_sums(self._make(), need, have)
            if self._lags is None:
                self._lags = extra
            else:
                half = need - have
                self._lags = np.concatenate([self._lags[:have], extra[:half],
                                             self._lags[have:], extra[half:]])
        return self._lags


@dataclass
class _Fold:
    train: np.ndarray  # bool: usable and not held out
    scored: np.ndarray  # bool: held out and not an outlier
    median: np.ndarray  # per line, of the training samples
    sigma: np.ndarray  # 1.4826 × MAD per line
    train_counts: np.ndarray
    positions: np.ndarray | None = None  # flat indices of the scored samples
    block_of: np.ndarray | None = None  # their block (one line × one tile), 0..nblocks-1
    block_size: np.ndarray | None = None  # scored samples per block
    block_unit: np.ndarray | None = None  # unit (group of lines) of each block


class CrossValidation:
    """Held-out tiles of one frame and the scores of candidate parameters on them.

    Parameters
    ----------
    data : ndarray, float32, (2048, 2048) DMS
        Image minus its background level.
    usable : ndarray of bool
        Usable background (see :func:`app.core.clean.usable_background`).
    detector : str
        "NRS1" or "NRS2".
    settings : TuneSettings
        Tile sizes, groups, folds, seed, score clip.
    start : CleanParams
        Starting parameters (decide whether enough background can be held out).

    Raises
    ------
    NotEnoughBackground
        If a fold leaves fewer than :data:`MIN_LINES` lines that can be fit and scored
        or fewer than :data:`MIN_SCORED` scored samples.
    """

    def __init__(self, data: np.ndarray, usable: np.ndarray, detector: str, settings,
                 start: CleanParams, readpatt: str | None = None) -> None:
        self.detector = detector
        self.readpatt = readpatt
        self.n, self.frame_lines = data.shape
        # Tune on runs of neighbouring lines (every line_stride-th run of line_run lines):
        # lines are fit independently, so a subset costs proportionally less, and runs
        # keep the neighbours that buffing needs.
        run = np.arange(self.frame_lines) // settings.line_run
        self.lines = np.flatnonzero(run % settings.line_stride == 0)
        self.selected = np.zeros(self.frame_lines, dtype=bool)
        self.selected[self.lines] = True
        self.data = np.ascontiguousarray(data[:, self.lines])
        self.usable = np.ascontiguousarray(usable[:, self.lines])
        self.nlines = self.lines.size
        rng = np.random.default_rng(settings.seed)
        self.line_group = np.arange(self.nlines) // settings.block_lines
        ngroups = int(self.line_group[-1]) + 1
        # Row blocks start at a random offset per group of lines so that tile edges do
        # not line up across the frame.
        offsets = rng.integers(0, settings.block_rows, ngroups)
        row_block = (np.arange(self.n)[:, None] + offsets[self.line_group]) // settings.block_rows
        tile_group = rng.integers(0, settings.groups, (int(row_block.max()) + 1, ngroups))
        tile_of = tile_group[row_block, self.line_group[None, :]].astype(np.int8)
        self.folds: list[_Fold] = []
        nvec = _nvec(start)
        for f in range(settings.folds):
            held = self.usable & (tile_of == f)
            train = self.usable & ~held
            median, mad = column_median_mad(self.data, train)
            sigma = MAD_TO_SIGMA * mad
            with np.errstate(invalid="ignore"):
                scored = held & (np.abs(self.data - median) <= settings.score_clip * sigma)
            counts = np.count_nonzero(train, axis=0)
            fold = _Fold(train, scored, median, sigma, counts)
            _check_fold(fold, usable, nvec, settings.groups)
            self._index_blocks(fold, row_block)
            self.folds.append(fold)
        self.unit_counts = np.stack([np.bincount(self.line_group, np.count_nonzero(
            fold.scored, axis=0), minlength=ngroups) for fold in self.folds])
        self.scored_samples = int(self.unit_counts.sum())
        self.kind = settings.score
        self.held_out_fraction = float(np.mean([
            1 - np.count_nonzero(fold.train) / np.count_nonzero(self.usable)
            for fold in self.folds]))
        self._weights: OrderedDict[float, np.ndarray] = OrderedDict()
        self._lag_w: dict[tuple, _Lags] = {}
        self._lag_d: dict[tuple, _Lags] = {}
        self._nonzero: dict[tuple, np.ndarray] = {}
        self._theta: dict[tuple, np.ndarray] = {}
        self._time_models: dict[tuple, np.ndarray] = {}

    # -- shared pieces ---------------------------------------------------------------
    def _weights_for(self, sigma: float) -> np.ndarray:
        """Engine weights of the selected lines (each line's depend on its own mask)."""
        if sigma not in self._weights:
            fitter = LineFitter((self.n, self.nlines), self.detector,
                                FitSettings(weight_sigma=sigma))
            self._weights[sigma] = fitter.weights(self.usable)
            while len(self._weights) > 2:  # two kept: 16–32 MB each
                self._weights.popitem(last=False)
        self._weights.move_to_end(sigma)
        return self._weights[sigma]

    def _training_weights(self, f: int, sigma: float) -> np.ndarray:
        return np.where(self.folds[f].train, self._weights_for(sigma), 0.0)

    def _training_data(self, f: int, sigrej: float) -> np.ndarray:
        """Held-out samples zero; outliers of the training samples set to the median."""
        fold = self.folds[f]
        with np.errstate(invalid="ignore"):
            outlier = np.abs(self.data - fold.median) > sigrej * fold.sigma
        return np.where(fold.train, np.where(outlier, fold.median, self.data), 0.0)

    def _solve(self, f: int, fit: str, nvec: int, sigma: float, sigrej: float,
               ridge: float) -> np.ndarray:
        ridge = ridge if fit == "real" else 0.0
        key = (f, fit, nvec, sigma, sigrej, ridge)
        if key not in self._theta:
            wkey, dkey = (f, sigma), (f, sigma, sigrej)
            if wkey not in self._lag_w:
                self._lag_w[wkey] = _Lags(lambda: self._training_weights(f, sigma))
                self._nonzero[wkey] = np.count_nonzero(
                    self.folds[f].train & (self._weights_for(sigma) > 0), axis=0)
            if dkey not in self._lag_d:
                # the training data is zero off the training samples already
                self._lag_d[dkey] = _Lags(lambda: self._weights_for(sigma)
                                          * self._training_data(f, sigrej))
            lag_w = self._lag_w[wkey].get(2 * nvec - 1 if fit == "real" else nvec)
            lag_d = self._lag_d[dkey].get(nvec)
            weighted = np.where(self.folds[f].train_counts > nvec, self._nonzero[wkey], 0)
            self._theta[key] = solve_from_lags(lag_w, lag_d, nvec, fit, weighted, ridge)
        return self._theta[key]

    # -- scores ----------------------------------------------------------------------
    def score(self, params: CleanParams) -> Score:
        """Cross-validated mean squared prediction error of ``params`` (see module doc)."""
        if params.method == "time":
            return self._score_models(lambda f: self._time_model(f, params))
        apodizer = lowpass_apodizer(params.fc, params.kill_width, self.n)
        nvec = int(np.count_nonzero(apodizer > 0))
        taper = np.concatenate([apodizer[:nvec], apodizer[1:nvec]])
        basis = analysis_matrix(self.n, nvec)
        synth = np.ascontiguousarray(np.hstack([basis[:, :nvec], basis[:, nvec + 1:]]),
                                     dtype=np.float32)

        def fold_model(f: int) -> np.ndarray:
            theta = self._solve(f, params.fit, nvec, params.weight_sigma, params.sigrej,
                                params.ridge) * taper
            if params.buff:
                theta = self._buff(theta, params.buff_sigma)
            return synth @ np.ascontiguousarray(theta.T, dtype=np.float32)

        return self._score_models(fold_model)

    def _time_model(self, f: int, params: CleanParams) -> np.ndarray:
        """The read-time fit of the training samples of fold ``f`` (kept per settings)."""
        settings = params.time_settings()
        key = (f, settings)
        if key not in self._time_models:
            timing = line_timing(self.n, self.readpatt)
            fitter = TimeFitter((self.n, self.nlines), self.detector, timing, settings)
            fit, _ = fitter.fit(self.data, self.folds[f].train)
            self._time_models[key] = fitter.model(fit.theta)
        return self._time_models[key]

    def _score_models(self, fold_model: Callable[[int], np.ndarray]) -> Score:
        """Score the models ``fold_model(f)`` of every fold on its held-out samples."""

        def fold_sse(f: int) -> np.ndarray:
            model = fold_model(f)
            fold = self.folds[f]
            residual = (self.data.ravel()[fold.positions]
                        - model.ravel()[fold.positions]).astype(np.float64)
            if self.kind == "banding":  # n·(block mean)² = (block sum)² / n
                sums = np.bincount(fold.block_of, residual, minlength=fold.block_size.size)
                per_block = sums**2 / fold.block_size
            else:
                per_block = np.bincount(fold.block_of, residual**2,
                                        minlength=fold.block_size.size)
            return np.bincount(fold.block_unit, per_block, minlength=self.unit_counts.shape[1])

        # Two folds at a time on single-threaded BLAS: NumPy releases the GIL, and the
        # small products and solves here run up to 10× slower on OpenBLAS's own threads
        # when the machine is busy.
        with single_threaded_blas():
            sse = np.stack(list(_POOL.map(fold_sse, range(len(self.folds)))))
        return Score(float(sse.sum() / self.scored_samples), self._error(sse), sse)

    def _index_blocks(self, fold: _Fold, row_block: np.ndarray) -> None:
        """Flat positions of the scored samples and the block each one belongs to."""
        fold.positions = np.flatnonzero(fold.scored)
        rows, lines = np.divmod(fold.positions, self.nlines)
        block_ids = row_block[rows, lines].astype(np.int64) * self.nlines + lines
        unique, fold.block_of = np.unique(block_ids, return_inverse=True)
        fold.block_size = np.bincount(fold.block_of).astype(np.float64)
        fold.block_unit = self.line_group[unique % self.nlines]

    def _buff(self, theta: np.ndarray, sigma: float) -> np.ndarray:
        """The engine's centred circular buffing across the frame's lines.

        Only the selected lines have coefficients; the smoothing is normalised by the
        kernel weight that falls on selected lines, which is exactly the engine's
        buffing when every line is selected (the kernel sums to one).
        """
        kernel = scipy.fft.rfft(circular_gaussian(self.frame_lines, sigma, 0))[:, None]
        full = np.zeros((self.frame_lines, theta.shape[1]))
        full[self.lines] = theta

        def smooth(values: np.ndarray) -> np.ndarray:
            return scipy.fft.irfft(scipy.fft.rfft(values, axis=0) * kernel,
                                   n=self.frame_lines, axis=0)[self.lines]

        return smooth(full) / smooth(self.selected.astype(np.float64)[:, None])

    def _error(self, sse: np.ndarray) -> float:
        """Standard error of ``Σ sse / Σ N`` over units (ratio estimator)."""
        units = self.unit_counts > 0
        m = int(np.count_nonzero(units))
        if m < 2:
            return float("nan")
        total = self.unit_counts.sum()
        deviation = sse[units] - sse.sum() / total * self.unit_counts[units]
        return float(np.sqrt(m / (m - 1) * np.sum(deviation**2)) / total)

    def paired_error(self, a: Score, b: Score) -> float:
        """Standard error of the difference of two scores (same units, paired)."""
        return self._error(a.unit_sse - b.unit_sse)


def _nvec(params: CleanParams) -> int:
    return int(np.count_nonzero(lowpass_apodizer(params.fc, params.kill_width, 2048) > 0))


def _check_fold(fold: _Fold, usable: np.ndarray, nvec: int, groups: int) -> None:
    lines = (fold.train_counts > 2 * nvec) & (np.count_nonzero(fold.scored, axis=0) > 0)
    scored = int(np.count_nonzero(fold.scored[:, lines]))
    if np.count_nonzero(lines) < MIN_LINES or scored < MIN_SCORED:
        have = int(np.count_nonzero(usable))
        nlines = int(np.count_nonzero(usable.any(axis=0)))
        raise NotEnoughBackground(
            f"too little background to tune: {have} usable background pixels on {nlines} "
            f"detector lines; holding out 1/{groups} of them leaves {int(lines.sum())} lines "
            f"({scored} samples) that can be both fit and scored, need {MIN_LINES} lines "
            f"and {MIN_SCORED} samples")  # what happens next is the caller's to say
