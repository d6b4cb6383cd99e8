"""The read-time fit: one noise series per detector line, shared by the four outputs.

NSClean fits each 2048-sample line as one sequence in *position*. But the four outputs
read their 512 samples **at the same ticks** (:mod:`app.core.engine.readtime`), and the
dominant 1/f noise is a bias drift common to them. So at each tick there are up to four
samples of the same noise, and where a trace covers one output the others usually see
background at that instant. Per line (one DMS column) the model is::

    d(y) = c(t_y) + o_{a_y}(t_y)

- ``c(t)``: the common series, a real Fourier series in read time ``t`` (ticks from the
  start of the line) with ``harmonics`` terms on a period of ``P`` ticks
  (:attr:`TimeFitSettings.period`, a little longer than the line so that a slow trend
  across the line is not forced to wrap around);
- ``o_a(t)``: per output ``a``, an offset plus ``output_terms`` low harmonics (the
  smaller per-output 1/f noise and the outputs' different offsets).

Least squares with a 1/f prior: frequency ``k`` of the common series gets the
penalty ``ridge·w̄·k``, the per-output terms ``output_ridge·ridge·w̄·max(k, 1)`` (``w̄``
the mean weight of the line's samples; the common mean is free). The prior keeps the
series stable across ticks where no output sees background and sends an output without
background to the common series. Outliers are replaced as NSClean does (samples beyond
``sigrej``·1.4826·MAD of the line's median set to the median); NSClean's weights (the
squared reciprocal of the background density along the line, σ = ``weight_sigma``) are
optional and off by default: with them the banding left under the traces of simulated
exposures was larger (0.42× instead of 0.35× the pipeline's, common noise only).

Batched over lines: the normal matrices need, per output, the sums ``Σ w cos(2πjt/P)``
and ``Σ w sin(2πjt/P)`` for ``j < 2·harmonics``, which one FFT of the weights laid out
on the output's time grid gives for all lines (product-to-sum identities: Toeplitz and
Hankel views of those sums, as in :mod:`app.core.engine.fourier_real`). Right-hand
sides and models are float32 products of the frame with the basis sampled at each
pixel's tick (:func:`sample_basis`), a few milliseconds for a full frame.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np
import scipy.fft

from app.core.engine.fourier_real import solve_batch
from app.core.engine.readtime import LineTiming, read_order_coverage
from app.core.engine.robust import (
    MAD_TO_SIGMA,
    parallel_map,
    sort_columns,
    thread_spans,
    workers,
)

_local = threading.local()


@dataclass(frozen=True)
class TimeFitSettings:
    """Parameters of the read-time fit (see the module docstring).

    Attributes
    ----------
    harmonics : int
        Fourier terms of the common series per period (cos and sin each).
    output_terms : int
        Harmonics of each output's own series besides its offset (0 = offset only).
    ridge : float
        Strength of the 1/f prior (white variance over prior variance at one cycle per
        period); > 0.
    output_ridge : float
        Extra factor on the prior of the per-output terms (the per-output noise is
        smaller than the common one).
    period_factor : float
        Period of the Fourier basis over the time a line's samples span.
    sigrej : float
        Outlier threshold in σ (MAD).
    weight_sigma : float
        σ (pixels) of the density that weights the samples; 0 = unweighted (the
        default: see ``CleanParams.time_weighted``).
    """

    harmonics: int = 24
    output_terms: int = 3
    ridge: float = 3.0
    output_ridge: float = 9.0
    period_factor: float = 1.25
    sigrej: float = 3.0
    weight_sigma: float = 0.0

    def period(self, timing: LineTiming) -> int:
        """Period of the basis in ticks (even, so that the FFTs stay fast)."""
        return int(2 * round(self.period_factor * timing.span / 2))

    @property
    def min_samples(self) -> int:
        """Ticks with background (in any output) a line needs for the full series (more
        than the common series' unknowns); lines with fewer get their mean only."""
        return 2 * self.harmonics + 2

    def unknowns(self, timing: LineTiming) -> int:
        """Coefficients per line: common series plus each output's terms."""
        return 2 * self.harmonics + 1 + timing.outputs * (2 * self.output_terms + 1)


@dataclass
class TimeFit:
    """Result of :meth:`TimeFitter.fit`: per DMS column of the frame."""

    theta: np.ndarray  # (ncols, unknowns) coefficients, zero where unfit
    counts: np.ndarray  # usable samples
    fitted: np.ndarray  # bool: the line was fit
    level: float = 0.0  # background level removed first


def _output_index(settings: TimeFitSettings) -> np.ndarray:
    """Positions of an output's terms (cos 0..L, sin 1..L) in the common layout."""
    k, L = settings.harmonics, settings.output_terms
    return np.concatenate([np.arange(L + 1), k + 1 + np.arange(L)]).astype(np.intp)


def penalties(settings: TimeFitSettings, outputs: int) -> np.ndarray:
    """Diagonal prior (in units of the mean weight) of every coefficient."""
    k = np.arange(settings.harmonics + 1, dtype=np.float64)
    common = settings.ridge * np.concatenate([k, k[1:]])
    own = np.arange(settings.output_terms + 1, dtype=np.float64)
    own = settings.ridge * settings.output_ridge * np.maximum(np.concatenate([own, own[1:]]),
                                                               1.0)
    return np.concatenate([common] + [own] * outputs)


def _lags(values: np.ndarray, timing: LineTiming, period: int, nfreq: int) -> np.ndarray:
    """Per output, ``[C_0..C_{nfreq-1}, S_0..S_{nfreq-1}]`` of each line (float64):
    shape (outputs, 2·nfreq, ncols).

    ``C_j = Σ v cos(2πjt/P)``, ``S_j = Σ v sin(2πjt/P)`` over the output's samples, from
    one FFT of ``values`` laid out on the output's time grid (zero at ticks without a
    sample; whole rows are copied, so the layout is cheap). The FFT runs in float32
    (4× faster than float64 along this axis); its rounding, ~1e-6 of the line's total
    weight, is far below what the prior adds to the normal matrices.
    """
    grid = np.zeros((timing.outputs, period, values.shape[1]), dtype=np.float32)
    for a in range(timing.outputs):
        rows = np.flatnonzero(timing.output == a)
        grid[a, timing.tick[rows]] = values[rows]
    spectrum = scipy.fft.rfft(grid, axis=1, workers=workers())[:, :nfreq]
    # rfft gives Σ v e^{-2πijt/P} = C_j − i S_j
    return np.concatenate([spectrum.real, -spectrum.imag], axis=1, dtype=np.float64)


def real_gram_columns(lags: np.ndarray, nvec: int, columns: np.ndarray) -> np.ndarray:
    """Some columns of :func:`~app.core.engine.fourier_real.real_gram`: (ncols, 2nvec−1,
    len(columns)), C-contiguous, without the rest of the matrix.

    ``columns`` lists cosine columns (``< nvec``) first, then sine columns. With ``C_m``,
    ``S_m`` the lag sums (``S_{−m} = −S_m``)::

        <cos p, cos q> = (C_{q−p} + C_{p+q})/2     <sin p, sin q> = (C_{q−p} − C_{p+q})/2
        <cos p, sin q> = (S_{q−p} + S_{p+q})/2     <sin p, cos q> = (S_{p+q} − S_{q−p})/2

    The ``q − p`` terms are Toeplitz and the ``p + q`` terms Hankel matrices, both strided
    views of the lag sums, so every entry costs one addition (a gather of both terms, as
    a fancy index would do, is ~3× slower on a full frame).
    """
    k = nvec - 1
    have = lags.shape[0] // 2
    # per line [x_{−k} … x_{2k}] (x_{−m} = ±x_m): Toeplitz terms read [0, 2k], Hankel [k, 3k]
    reflect = np.arange(k, 0, -1)
    cos = np.concatenate([lags[reflect], lags[:2 * k + 1]]).T.copy()
    sin = np.concatenate([-lags[have + reflect], lags[have:have + 2 * k + 1]]).T.copy()
    window = np.lib.stride_tricks.sliding_window_view

    def toeplitz(ext: np.ndarray) -> np.ndarray:  # [p, q] = x[q − p]
        return window(ext[:, :2 * k + 1], k + 1, axis=1)[:, ::-1]

    def hankel(ext: np.ndarray) -> np.ndarray:  # [p, q] = x[p + q]
        return window(ext[:, k:], k + 1, axis=1)[:, :k + 1]

    columns = np.asarray(columns)
    cos_cols = _as_slice(columns[columns < nvec])
    sin_cols = _as_slice(columns[columns >= nvec] - k)
    gram = np.empty((lags.shape[1], 2 * k + 1, columns.size))
    nc = np.count_nonzero(columns < nvec)
    tc, hc = toeplitz(cos), hankel(cos)
    ts, hs = toeplitz(sin), hankel(sin)
    gram[:, :nvec, :nc] = tc[:, :, cos_cols] + hc[:, :, cos_cols]
    gram[:, nvec:, :nc] = hs[:, 1:, cos_cols] - ts[:, 1:, cos_cols]
    gram[:, :nvec, nc:] = ts[:, :, sin_cols] + hs[:, :, sin_cols]
    gram[:, nvec:, nc:] = tc[:, 1:, sin_cols] - hc[:, 1:, sin_cols]
    gram *= 0.5
    return gram


def _as_slice(index: np.ndarray) -> slice | np.ndarray:
    """A run of consecutive indices as a slice (indexing a strided view with a slice
    keeps it a view; an index array would copy it)."""
    if index.size and np.array_equal(index, np.arange(index[0], index[0] + index.size)):
        return slice(int(index[0]), int(index[0]) + index.size)
    return index


@dataclass
class Blocks:
    """Regularised normal equations of every line, by blocks, ready to solve.

    The matrix is ``[[A, B], [Bᵀ, D]]`` with ``A`` the common series and ``D``
    block-diagonal (the outputs' own terms never share a sample). With ``z = D⁻¹(s −
    Bᵀx)`` the common part solves ``S x = r − B D⁻¹ s``, ``S = A − B D⁻¹ Bᵀ``: a system of
    the common unknowns only (3-4× less work than the whole). Every ``D`` block holds the
    prior, so it is invertible.
    """

    schur: np.ndarray  # S, (ncols, p, p)
    coupling: np.ndarray  # [B_0 … B_{outputs−1}] side by side, (ncols, p, outputs·q)
    scaled: np.ndarray  # [B_a D_a⁻¹] side by side, (ncols, p, outputs·q)
    own_inverse: np.ndarray  # D_a⁻¹, (outputs, ncols, q, q)
    inverse: np.ndarray | None = None  # S⁻¹, from the second frame with this mask on


def normal_blocks(weights: np.ndarray, timing: LineTiming, settings: TimeFitSettings,
                  mean_weight: np.ndarray) -> Blocks:
    """The :class:`Blocks` of every line from its weights (DMS layout), prior included.

    The common block is the real-basis Gram matrix of all outputs' samples together (it
    is linear in the lag sums, so it is built once from their sum); an output's own
    terms are a few columns of the same matrix built from that output's samples only.
    The outputs' couplings sit side by side, so that ``B D⁻¹ Bᵀ`` is one product per
    line instead of one per output.
    """
    period, nvec = settings.period(timing), settings.harmonics + 1
    lag_w = _lags(weights, timing, period, 2 * nvec - 1)
    own = _output_index(settings)
    prior = penalties(settings, timing.outputs)
    size, q, outputs = 2 * nvec - 1, own.size, timing.outputs
    ncols = weights.shape[1]
    schur = real_gram_columns(lag_w.sum(axis=0), nvec, np.arange(size))
    _add_diagonal(schur, mean_weight[:, None] * prior[None, :size])
    # every output's columns from one call (its lines side by side), then per line
    own_lags = lag_w.transpose(1, 0, 2).reshape(lag_w.shape[1], outputs * ncols)
    by_output = real_gram_columns(own_lags, nvec, own).reshape(outputs, ncols, size, q)
    own_gram = by_output[:, :, own, :].copy()  # C order: _add_diagonal reshapes it
    _add_diagonal(own_gram, mean_weight[None, :, None] * prior[None, None, size:size + q])
    own_inverse = np.linalg.inv(own_gram)
    coupling = np.ascontiguousarray(by_output.transpose(1, 2, 0, 3)).reshape(
        ncols, size, outputs * q)
    scaled = np.ascontiguousarray((by_output @ own_inverse).transpose(1, 2, 0, 3)).reshape(
        ncols, size, outputs * q)

    def reduce_part(lines: slice) -> None:
        schur[lines] -= scaled[lines] @ coupling[lines].transpose(0, 2, 1)

    parallel_map(reduce_part, thread_spans(ncols, 256))
    return Blocks(schur, coupling, scaled, own_inverse)


def _add_diagonal(matrices: np.ndarray, values: np.ndarray) -> None:
    """``matrices[..., i, i] += values[..., i]`` in place."""
    size = matrices.shape[-1]
    flat = matrices.reshape(*matrices.shape[:-2], size * size)
    flat[..., :: size + 1] += values


@functools.lru_cache(maxsize=8)
def sample_basis(timing: LineTiming, period: int, harmonics: int) -> np.ndarray:
    """The real Fourier basis at each sample's tick: ``(n, 2·harmonics + 1)`` float32,
    columns ``cos(2πjt/P)`` for ``j = 0 … harmonics`` then ``sin(2πjt/P)`` for ``j ≥ 1``
    (the layout of the coefficients). Read-only; kept per timing and settings.

    Right-hand sides and models are products with it: one float32 matrix product for all
    lines is ~10× faster than the FFTs on each output's time grid that give the same sums.
    """
    phase = 2 * np.pi * np.outer(timing.tick, np.arange(harmonics + 1)) / period
    basis = np.concatenate([np.cos(phase), np.sin(phase[:, 1:])], axis=1).astype(np.float32)
    basis.flags.writeable = False
    return basis


@functools.lru_cache(maxsize=8)
def output_rows(timing: LineTiming) -> tuple[slice | np.ndarray, ...]:
    """The samples of each output: a slice where they are contiguous (DMS y blocks)."""
    rows = []
    for a in range(timing.outputs):
        index = np.flatnonzero(timing.output == a)
        contiguous = index.size and index[-1] - index[0] + 1 == index.size
        rows.append(slice(int(index[0]), int(index[-1]) + 1) if contiguous else index)
    return tuple(rows)


def solve(blocks: Blocks, data: np.ndarray, timing: LineTiming, settings: TimeFitSettings
          ) -> np.ndarray:
    """Coefficients of every line from weights × data (DMS layout, float32).

    Lines without samples get meaningless (finite) values: the caller zeroes them.
    """
    basis = sample_basis(timing, settings.period(timing), settings.harmonics)
    own = _output_index(settings)
    size = basis.shape[1]
    data = np.asarray(data, dtype=np.float32)
    # per output, [Σ d cos, Σ d sin] of its own terms; all outputs' sums for the common
    s = np.concatenate([(data[rows].T @ basis[rows][:, own]) for rows in output_rows(timing)],
                       axis=1, dtype=np.float64)  # (ncols, outputs·q)
    reduced = (data.T @ basis).astype(np.float64)
    reduced -= (blocks.scaled @ s[:, :, None])[:, :, 0]
    theta = np.empty((data.shape[1], settings.unknowns(timing)))
    if blocks.inverse is not None:
        theta[:, :size] = (blocks.inverse @ reduced[:, :, None])[:, :, 0]
    else:
        theta[:, :size] = solve_batch(blocks.schur, reduced)
    rest = s - (blocks.coupling.transpose(0, 2, 1) @ theta[:, :size, None])[:, :, 0]
    for a in range(timing.outputs):
        part = slice(a * own.size, (a + 1) * own.size)
        theta[:, size + part.start: size + part.stop] = (
            blocks.own_inverse[a] @ rest[:, part, None])[:, :, 0]
    return theta


def synthesize(theta: np.ndarray, timing: LineTiming, settings: TimeFitSettings
               ) -> np.ndarray:
    """The model of every line at its samples: DMS layout ``(n, ncols)``, float32."""
    basis = sample_basis(timing, settings.period(timing), settings.harmonics)
    own = _output_index(settings)
    size = basis.shape[1]
    model = basis @ theta[:, :size].T.astype(np.float32)
    for a, rows in enumerate(output_rows(timing)):
        terms = theta[:, size + a * own.size: size + (a + 1) * own.size]
        model[rows] += basis[rows][:, own] @ terms.T.astype(np.float32)
    return model


class TimeFitter:
    """The read-time fit of full frames of one detector, timing and settings.

    Keeps what depends on the mask only (weights and the normal equations with their
    prior, by blocks; from the second frame on also the inverted common block), so that
    the integrations of a rateints or a batch with one mask pay for them once. One per
    thread (:meth:`cached`).

    Parameters
    ----------
    shape : tuple of int
        DMS frame shape ``(n, nlines)``.
    detector : {"NRS1", "NRS2"}
    timing : LineTiming
        Read timing of the ``n`` samples of a line (four outputs).
    settings : TimeFitSettings
    """

    def __init__(self, shape: tuple[int, int], detector: str, timing: LineTiming,
                 settings: TimeFitSettings) -> None:
        self.shape, self.detector = tuple(shape), detector
        self.timing, self.settings = timing, settings
        self._mask: tuple[np.ndarray, np.ndarray | None, Blocks] | None = None

    @classmethod
    def cached(cls, shape: tuple[int, int], detector: str, timing: LineTiming,
               settings: TimeFitSettings) -> TimeFitter:
        """A fitter kept for this thread (at most two)."""
        fitters: dict = _local.__dict__.setdefault("fitters", {})
        key = (tuple(shape), detector, timing, settings)
        if key not in fitters:
            while len(fitters) >= 2:
                fitters.pop(next(iter(fitters)))
            fitters[key] = cls(shape, detector, timing, settings)
        return fitters[key]

    @property
    def min_samples(self) -> int:
        """:attr:`TimeFitSettings.min_samples`."""
        return self.settings.min_samples

    def weights(self, usable: np.ndarray) -> np.ndarray | None:
        """NSClean's weights ``1/density²`` (float64), or None when unweighted."""
        if self.settings.weight_sigma <= 0:
            return None
        # NSClean's weights (density along the line), from the position-domain fitter
        from app.core.engine.fourier import LineFitter
        from app.core.engine.fourier_basis import FitSettings

        fitter = LineFitter(self.shape, self.detector, FitSettings(
            weight_sigma=self.settings.weight_sigma))
        return fitter.weights(usable)

    def _planned(self, usable: np.ndarray) -> tuple[np.ndarray | None, Blocks]:
        """Weights (None: unweighted) and normal equations of ``usable`` (kept per mask).

        When only some lines' background changed since the previous frame (NaN or
        DO_NOT_USE pixels that move between integrations), only those lines' equations
        are rebuilt.
        """
        from app.core.engine.maskplan import same_mask

        if self._mask is not None and same_mask(self._mask[0], usable):
            blocks = self._mask[2]
            if blocks.inverse is None:  # a reused mask: one product per frame from now on
                blocks.inverse = np.linalg.inv(blocks.schur)
            return self._mask[1], blocks
        weights = self.weights(usable)
        if self._mask is not None and self._mask[0].shape == usable.shape:
            changed = np.flatnonzero((self._mask[0] != usable).any(axis=0))
            if changed.size <= usable.shape[1] // 4:
                blocks = self._mask[2]
                part = self._blocks(usable[:, changed],
                                    None if weights is None else weights[:, changed])
                blocks.schur[changed], blocks.coupling[changed] = part.schur, part.coupling
                blocks.scaled[changed] = part.scaled
                blocks.own_inverse[:, changed] = part.own_inverse
                if blocks.inverse is not None:
                    blocks.inverse[changed] = np.linalg.inv(part.schur)
                self._mask = (usable.copy(), weights, blocks)
                return weights, blocks
        blocks = self._blocks(usable, weights)
        self._mask = (usable.copy(), weights, blocks)
        return weights, blocks

    def _blocks(self, usable: np.ndarray, weights: np.ndarray | None) -> Blocks:
        """:func:`normal_blocks` of some lines; an identity where a line has no sample
        (never solved; it keeps S⁻¹ defined)."""
        if weights is None:
            mean_weight = np.ones(usable.shape[1])
            blocks = normal_blocks(usable, self.timing, self.settings, mean_weight)
        else:
            weighted = np.count_nonzero(weights, axis=0)
            mean_weight = weights.sum(axis=0) / np.maximum(weighted, 1)
            blocks = normal_blocks(weights, self.timing, self.settings, mean_weight)
        blocks.schur[~usable.any(axis=0)] = np.eye(blocks.schur.shape[1])
        return blocks

    def fit(self, data: np.ndarray, usable: np.ndarray, subtract_level: bool = False
            ) -> tuple[TimeFit, np.ndarray]:
        """Fit every line of ``data``.

        Parameters
        ----------
        data : ndarray, DMS layout
            The frame; values off ``usable`` are ignored (NaN allowed).
        usable : ndarray of bool
            Background samples.
        subtract_level : bool
            Remove the median of all background samples first (``TimeFit.level``); the
            same sort of the lines gives it and the outlier statistics.

        Returns
        -------
        fit : TimeFit
        reduced : ndarray of bool
            Lines with samples at fewer than :attr:`min_samples` ticks (some output sees
            background at a tick: four samples at one tick constrain the common series
            once): their weighted mean level only was fitted.
        """
        weights, blocks = self._planned(usable)
        counts = np.count_nonzero(usable, axis=0)
        columns = sort_columns(data, usable)
        level = columns.global_median() if subtract_level and counts.any() else 0.0
        median, mad = columns.median_mad(level)
        shift = np.asarray(level, dtype=data.dtype)
        centre = np.nan_to_num(median).astype(np.float32)
        half = (self.settings.sigrej * MAD_TO_SIGMA * mad).astype(np.float32)
        # outliers replaced by their line's median (the published rule), zero off usable;
        # in place on one array (whole-frame temporaries cost more than the arithmetic)
        cleaned = np.subtract(data, shift, dtype=np.float32)
        deviation = np.subtract(cleaned, centre)
        with np.errstate(invalid="ignore"):
            outlier = np.abs(deviation, out=deviation) > half
        outlier |= np.isnan(deviation)
        np.copyto(cleaned, np.broadcast_to(centre, cleaned.shape), where=outlier)
        np.copyto(cleaned, np.float32(0), where=~usable)
        wdata = cleaned if weights is None else weights * cleaned
        fitted = counts > 0
        ticks = np.count_nonzero(read_order_coverage(usable, self.timing), axis=0)
        reduced = fitted & (ticks < self.min_samples)
        full = np.flatnonzero(fitted & ~reduced)
        theta = np.zeros((data.shape[1], self.settings.unknowns(self.timing)))
        if full.size:
            theta[full] = solve(blocks, wdata, self.timing, self.settings)[full]
        few = np.flatnonzero(reduced)
        if few.size:
            w = usable[:, few] if weights is None else weights[:, few]
            theta[few, 0] = wdata[:, few].sum(axis=0) / np.maximum(w.sum(axis=0), 1e-300)
        return TimeFit(theta, counts, fitted, float(level)), reduced

    def model(self, theta: np.ndarray) -> np.ndarray:
        """The model of every line, DMS layout, float32."""
        return synthesize(theta, self.timing, self.settings)
