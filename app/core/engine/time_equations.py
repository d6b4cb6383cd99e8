"""The read-time fit's settings, basis and normal equations, batched over lines.

The model and its prior are described in :mod:`app.core.engine.time_fit`, whose
:class:`~app.core.engine.time_fit.TimeFitter` drives what is here.

Batched over lines: the normal matrices need, per output, the sums ``Σ w cos(2πjt/P)``
and ``Σ w sin(2πjt/P)`` for ``j < 2·harmonics``, which one FFT of the weights laid out
on the output's time grid gives for all lines (product-to-sum identities: Toeplitz and
Hankel views of those sums, as in :mod:`app.core.engine.fourier_real`). Right-hand
sides and models are float32 products of the frame with the basis sampled at each
pixel's tick (:func:`sample_basis`), a few milliseconds for a full frame.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.fft

from app.core.engine.fourier_real import solve_batch
from app.core.engine.readtime import LineTiming
from app.core.engine.robust import (
    MIN_PARALLEL_MATRICES,
    parallel_map,
    thread_spans,
    workers,
)


@dataclass(frozen=True)
class TimeFitSettings:
    """Parameters of the read-time fit (see :mod:`app.core.engine.time_fit`).

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


def output_index(settings: TimeFitSettings) -> np.ndarray:
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
    own = output_index(settings)
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

    parallel_map(reduce_part, thread_spans(ncols, MIN_PARALLEL_MATRICES))
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
    own = output_index(settings)
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
    own = output_index(settings)
    size = basis.shape[1]
    model = basis @ theta[:, :size].T.astype(np.float32)
    for a, rows in enumerate(output_rows(timing)):
        terms = theta[:, size + a * own.size: size + (a + 1) * own.size]
        model[rows] += basis[rows][:, own] @ terms.T.astype(np.float32)
    return model
