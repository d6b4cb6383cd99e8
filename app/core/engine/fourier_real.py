"""A real-valued weighted least-squares variant of NSClean's per-line Fourier fit.

NSClean fits complex amplitudes ``g_k`` of ``exp(2πi·m·k/n)``, k = 0 … nvec−1, to real
data and keeps the real part of the synthesis (``irfft``). On a complete line the
positive frequencies are orthogonal to their negative partners and this is exact; on a
line with gaps it is not, and the fit is biased: the negative-frequency half of each real
cosine leaks into the other coefficients (about 16 % model error at 60 % coverage
without any noise). Here the model is fitted directly as what it is, a real series::

    model(m) = Σ_k α_k cos(2π·m·k/n) + Σ_{k≥1} β_k sin(2π·m·k/n)     (2·nvec − 1 unknowns)

with the same weights, outlier replacement, apodizer and buffing as the published fit.
With ``w = p²`` and the lag sums ``C_j = Σ_m w_m cos(2π·m·j/n)``, ``S_j = Σ_m w_m
sin(2π·m·j/n)`` the normal matrix follows from product-to-sum identities::

    <cos_k, cos_l> = (C_{k−l} + C_{k+l}) / 2      <sin_k, sin_l> = (C_{k−l} − C_{k+l}) / 2
    <cos_k, sin_l> = (S_{l+k} + S_{l−k}) / 2       (C_{−j} = C_j, S_{−j} = −S_j)

so it is Toeplitz-plus-Hankel and needs the lags 0 … 2(nvec−1), which one matrix product
gives for all lines at once. The fitted ``(α, β)`` are returned as the complex ``g_k`` of
the published convention (``α_k = s_k·Re g_k``, ``β_k = −s_k·Im g_k`` with ``s_0 = 1``,
``s_k = 2``), so :meth:`LineFitter.buff`, :meth:`LineFitter.synthesize` and
``CleanResult.coefficients`` work unchanged.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from app.core.engine.conditioning import COND_LIMIT, condition, invert
from app.core.engine.fourier import LineFitter
from app.core.engine.robust import per_line_parallel


@functools.lru_cache(maxsize=16)
def analysis_matrix(n: int, nfreq: int, first: int = 0) -> np.ndarray:
    """``[cos | sin]`` of ``2π·m·j/n`` for m < n, first ≤ j < nfreq: (n, 2·(nfreq − first))."""
    phase = 2.0 * np.pi * np.outer(np.arange(n), np.arange(first, nfreq)) / n
    out = np.ascontiguousarray(np.hstack([np.cos(phase), np.sin(phase)]))
    out.setflags(write=False)
    return out


def lag_sums(values: np.ndarray, nfreq: int, first: int = 0) -> np.ndarray:
    """``[C_first..C_{nfreq-1}, S_first..S_{nfreq-1}]`` of each column along axis 0.

    ``C_j = Σ_m v_m cos(2π·m·j/n)`` and ``S_j = Σ_m v_m sin(2π·m·j/n)``; the result has
    shape ``(2·(nfreq − first), ncols)``, float64 (the products are float64 because
    float32 loses up to 1 % of the normal matrix on lines with sparse background).
    """
    matrix = analysis_matrix(values.shape[0], nfreq, first)
    return matrix.T @ np.asarray(values, dtype=np.float64)


@functools.lru_cache(maxsize=32)
def _gram_index(nvec: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Indices into lag sums ``[C | S]`` (``2·(2nvec−1)`` rows) and signs of both terms."""
    nlag = 2 * nvec - 1
    kinds = [("c", k) for k in range(nvec)] + [("s", k) for k in range(1, nvec)]
    size = len(kinds)
    idx_a, idx_b = np.zeros((size, size), int), np.zeros((size, size), int)
    sgn_a, sgn_b = np.zeros((size, size)), np.zeros((size, size))
    for i, (ki, k) in enumerate(kinds):
        for j, (kj, q) in enumerate(kinds):
            if ki == kj:  # cos·cos or sin·sin: C_|k−q| ± C_{k+q}
                idx_a[i, j], sgn_a[i, j] = abs(k - q), 1.0
                idx_b[i, j], sgn_b[i, j] = k + q, 1.0 if ki == "c" else -1.0
            else:  # cos_k·sin_q (either order): S_{q+k} + S_{q−k}
                kc, ls = (k, q) if ki == "c" else (q, k)
                idx_a[i, j], sgn_a[i, j] = nlag + kc + ls, 1.0
                idx_b[i, j], sgn_b[i, j] = nlag + abs(ls - kc), float(np.sign(ls - kc))
    return idx_a, idx_b, sgn_a, sgn_b


def real_gram(lags: np.ndarray, nvec: int) -> np.ndarray:
    """Normal matrices of the real basis, shape (ncols, 2nvec−1, 2nvec−1), C-contiguous.

    ``lags`` are :func:`lag_sums` of the weights with at least ``2nvec − 1``
    frequencies; only the first ``2nvec − 1`` cosine and sine rows are used.
    """
    nlag = 2 * nvec - 1
    have = lags.shape[0] // 2
    # (ncols, [C | S]) so that the gathers below land in the final layout
    terms = np.concatenate([lags[:nlag], lags[have:have + nlag]]).T.copy()
    idx_a, idx_b, sgn_a, sgn_b = _gram_index(nvec)
    gram = terms[:, idx_a]
    gram *= 0.5 * sgn_a
    gram += (0.5 * sgn_b) * terms[:, idx_b]
    return gram


def real_rhs(lags: np.ndarray, nvec: int) -> np.ndarray:
    """Right-hand sides ``[<cos_k, w·d>, <sin_k, w·d> (k ≥ 1)]``, shape (ncols, 2nvec−1).

    ``lags`` are :func:`lag_sums` of ``w·d`` with at least ``nvec`` frequencies.
    """
    have = lags.shape[0] // 2
    return np.concatenate([lags[:nvec], lags[have + 1:have + nvec]]).T


_blas_lock = threading.Lock()
_blas_users = 0
_blas_limit = None


def _blas_controller():
    """A controller of the BLAS libraries loaded now (SciPy may load its own later)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: without it the solves just run as BLAS is set up
        return None
    return ThreadpoolController()


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run LAPACK single-threaded inside the block (re-entrant across threads).

    A batch of small systems is solved one matrix at a time; OpenBLAS splits each one
    over its threads from ~100 unknowns on, which on a busy 2-core machine made a batch
    10× slower than on one thread. The limit is process-wide, so it is held while any
    thread is inside such a block and lifted when the last one leaves.
    """
    global _blas_users, _blas_limit
    with _blas_lock:
        _blas_users += 1
        if _blas_users == 1:
            controller = _blas_controller()
            _blas_limit = None if controller is None else controller.limit(
                limits=1, user_api="blas")
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0 and _blas_limit is not None:
                _blas_limit.restore_original_limits()
                _blas_limit = None


def solve_batch(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``gram[i] @ x[i] = rhs[i]`` for every i (symmetric positive semi-definite).

    If any matrix is numerically singular (a line whose samples leave some frequencies
    undetermined), every matrix gets a diagonal loading of 1e-10 of its mean diagonal,
    which only picks the smallest solution among the undetermined ones; one singular
    line must not send the whole batch to a slow per-line loop.
    """
    # split over the engine's threads; each part falls back to diagonal loading alone
    solution = np.empty(rhs.shape, dtype=np.result_type(gram, rhs))
    return per_line_parallel(_solve_serial, solution, gram, rhs)


def _solve_serial(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """:func:`solve_batch` of some lines on the calling thread."""
    with single_threaded_blas():
        return _solve_batch(gram, rhs)


def _solve_batch(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        size = gram.shape[1]
        loaded = gram.copy()
        diagonal = loaded.reshape(loaded.shape[0], size * size)[:, :: size + 1]
        diagonal += 1e-10 * np.abs(diagonal).mean(axis=1, keepdims=True) + 1e-300
        try:
            return np.linalg.solve(loaded, rhs[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            return np.stack([np.linalg.lstsq(g, r, rcond=None)[0]
                             for g, r in zip(gram, rhs, strict=True)])


def real_to_complex(theta: np.ndarray, nvec: int) -> np.ndarray:
    """``(α_0..α_{nvec−1}, β_1..β_{nvec−1})`` per row → ``g_k`` of the published convention."""
    scale = np.where(np.arange(nvec) == 0, 1.0, 2.0)
    g = theta[:, :nvec].astype(np.complex128)
    g[:, 1:] -= 1j * theta[:, nvec:]
    return g / scale


def complex_to_real(g: np.ndarray) -> np.ndarray:
    """Inverse of :func:`real_to_complex` (drops the imaginary part of ``g_0``)."""
    nvec = g.shape[1]
    scale = np.where(np.arange(nvec) == 0, 1.0, 2.0)
    return np.hstack([scale * g.real, -(scale * g.imag)[:, 1:]])


def complex_gram(lags: np.ndarray, nvec: int) -> np.ndarray:
    """Hermitian Toeplitz normal matrices of the published complex fit, (ncols, nvec, nvec).

    ``G[k, k'] = W_{k−k'}`` with ``W_j = C_j − i·S_j`` (lag sums of the weights).
    """
    have = lags.shape[0] // 2
    dft = lags[:nvec] - 1j * lags[have:have + nvec]
    j = np.arange(nvec)
    lag = j[:, None] - j[None, :]
    gram = np.where((lag >= 0)[:, :, None], dft[np.abs(lag)], np.conj(dft[np.abs(lag)]))
    return np.moveaxis(gram, -1, 0)


def add_ridge(gram: np.ndarray, total_weight: np.ndarray, weighted: np.ndarray,
              ridge: float) -> None:
    """Add the penalty of a 1/f prior to real normal matrices ``gram`` (in place).

    With prior variance ∝ 1/k for the amplitudes of frequency k (1/f noise) and white
    noise on the samples, the posterior mean adds ``ridge · w̄ · k`` to the diagonal of
    the normal matrix (``w̄`` = mean weight of the line's samples, so ``ridge`` is the
    white-noise variance over the prior variance at k = 1, independent of the weights'
    scale). The mean (k = 0) is not penalised.
    """
    size = gram.shape[1]
    nvec = (size + 1) // 2
    k = np.concatenate([np.arange(nvec), np.arange(1, nvec)]).astype(np.float64)
    mean_weight = total_weight / np.maximum(weighted, 1)
    diagonal = gram.reshape(gram.shape[0], size * size)[:, :: size + 1]
    diagonal += ridge * mean_weight[:, None] * k[None, :]


def solve_from_lags(lag_w: np.ndarray, lag_d: np.ndarray, nvec: int, fit: str,
                    weighted: np.ndarray, ridge: float = 0.0,
                    reduced: np.ndarray | None = None) -> np.ndarray:
    """Coefficients ``(α, β)`` per line from lag sums of ``w`` and ``w·d``; zero if unfit.

    Parameters
    ----------
    lag_w, lag_d : ndarray
        :func:`lag_sums` of the weights (≥ ``2nvec − 1`` frequencies for the real fit,
        ≥ ``nvec`` for the complex one) and of weights × data (≥ ``nvec``).
    nvec : int
        Fitted frequencies.
    fit : {"real", "complex"}
        The real least squares, or the published complex one.
    weighted : ndarray of int
        Samples with non-zero weight per line. Lines with at most ``nvec`` are not fit;
        the real fit hands lines with at most ``2nvec − 1`` to the complex one.
    ridge : float
        Strength of the 1/f prior of the real fit (:func:`add_ridge`).
    reduced : ndarray of bool, optional
        Filled (per line) with the lines fitted by their mean level only: those whose
        background is too clustered for the published fit (its normal matrix is
        ill-conditioned, :mod:`app.core.engine.conditioning`), unless the 1/f prior of the real
        fit (``ridge > 0``) keeps them stable.

    Returns
    -------
    ndarray, float64, shape (ncols, 2nvec − 1)
        Unapodized real coefficients ``(α_0..α_{nvec−1}, β_1..β_{nvec−1})``.
    """
    theta = np.zeros((lag_w.shape[1], 2 * nvec - 1))
    fittable = weighted > nvec
    real = fittable & (weighted > 2 * nvec - 1) if fit == "real" else np.zeros_like(fittable)
    # The same lines as the complex fit of clean() are "too clustered": the condition of
    # the published (complex) normal matrix, a property of where the samples lie.
    clustered = np.zeros_like(fittable)
    if ridge <= 0 or fit != "real":
        lines = np.flatnonzero(fittable)
        gram = complex_gram(lag_w[:, lines], nvec)
        clustered[lines] = ~(condition(gram, invert(gram)) <= COND_LIMIT)
    if reduced is not None:
        reduced[...] = clustered
    lines = np.flatnonzero(real & ~clustered)
    if lines.size:
        gram = real_gram(lag_w[:, lines], nvec)
        if ridge > 0:
            add_ridge(gram, lag_w[0, lines], weighted[lines], ridge)
        theta[lines] = solve_batch(gram, real_rhs(lag_d[:, lines], nvec))
    lines = np.flatnonzero(fittable & ~real & ~clustered)
    if lines.size:
        have = lag_d.shape[0] // 2
        rhs = (lag_d[:nvec, lines] - 1j * lag_d[have:have + nvec, lines]).T
        theta[lines] = complex_to_real(solve_batch(complex_gram(lag_w[:, lines], nvec), rhs))
    lines = np.flatnonzero(clustered)  # their weighted mean: α_0 = Σ w·d / Σ w
    theta[lines, 0] = lag_d[0, lines] / lag_w[0, lines]
    return theta


def fit_lines_real(fitter: LineFitter, data: np.ndarray, usable: np.ndarray,
                   weights: np.ndarray | None = None, ridge: float = 0.0,
                   reduced: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fit every line with the real basis; drop-in for :meth:`LineFitter.fit_lines`.

    Weights, outlier replacement and the fittable-line rule are the fitter's. A line
    with more than ``nvec`` but at most ``2nvec − 1`` weighted samples cannot determine
    the real series; it gets the published (complex) fit so that exactly the same lines
    are fit by either method.

    ``reduced`` (bool per DMS column), when given, is filled with the lines fitted by
    their mean level only (see :func:`solve_from_lags`).

    Returns
    -------
    coeffs : ndarray, complex128, shape (nlines, nvec)
        ``g_k`` per DMS column, as :meth:`LineFitter.fit_lines` returns them.
    counts : ndarray of int
        Usable samples per DMS column.
    """
    if weights is None:
        weights = fitter.weights(usable)
    nvec = fitter.nvec
    counts = np.count_nonzero(usable, axis=0)
    weighted = np.where(counts > nvec, np.count_nonzero(weights, axis=0), 0)
    cleaned = fitter.replace_outliers(data, usable)
    lag_w = lag_sums(weights, 2 * nvec - 1)
    lag_d = lag_sums(weights * cleaned, nvec)
    theta = solve_from_lags(lag_w, lag_d, nvec, "real", weighted, ridge, reduced)
    return real_to_complex(theta, nvec), counts
