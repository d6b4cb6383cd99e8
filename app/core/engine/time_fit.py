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
on the output's time grid gives for all lines (product-to-sum identities, as in
:mod:`app.core.engine.fourier_real`); the model is synthesised by inverse FFTs on the
time grid and read back at each sample's tick.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import scipy.fft

from app.core.engine.fourier_real import _gram_index, real_gram, real_rhs, solve_batch
from app.core.engine.readtime import LineTiming, read_order_coverage
from app.core.engine.robust import MAD_TO_SIGMA, sort_columns, workers

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


def replace_outliers(data: np.ndarray, usable: np.ndarray, sigrej: float) -> np.ndarray:
    """Data to fit: samples beyond ``sigrej`` σ of their line's median set to the median,
    zero off ``usable`` (the published rule, per DMS column)."""
    median, mad = sort_columns(data, usable).median_mad()
    half = sigrej * MAD_TO_SIGMA * mad
    with np.errstate(invalid="ignore"):
        keep = np.abs(data - median) <= half
        kept = np.where(keep, data, np.nan_to_num(median))
    return np.where(usable, kept, 0.0)


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


def normal_equations(weights: np.ndarray, wdata: np.ndarray, timing: LineTiming,
                     settings: TimeFitSettings) -> tuple[np.ndarray, np.ndarray]:
    """Normal matrices and right-hand sides of every line, prior not included.

    Returns
    -------
    gram : ndarray, (ncols, m, m)
    rhs : ndarray, (ncols, m)
    """
    return normal_matrices(weights, timing, settings), right_hand_sides(wdata, timing,
                                                                        settings)


def normal_matrices(weights: np.ndarray, timing: LineTiming, settings: TimeFitSettings
                    ) -> np.ndarray:
    """Normal matrices ``(ncols, m, m)`` of every line from its weights (no prior).

    The common block is the real-basis Gram matrix of all outputs' samples together
    (it is linear in the lag sums, so it is built once from their sum); an output's own
    terms are a few columns of the same matrix built from that output's samples only.
    """
    period, nvec = settings.period(timing), settings.harmonics + 1
    lag_w = _lags(weights, timing, period, 2 * nvec - 1)
    size = 2 * nvec - 1
    own = _output_index(settings)
    m = settings.unknowns(timing)
    gram = np.zeros((weights.shape[1], m, m))
    gram[:, :size, :size] = real_gram(lag_w.sum(axis=0), nvec)
    for a in range(timing.outputs):
        part = real_gram_columns(lag_w[a], nvec, own)  # (ncols, size, own)
        at = slice(size + a * own.size, size + (a + 1) * own.size)
        gram[:, :size, at] = part
        gram[:, at, :size] = part.transpose(0, 2, 1)
        gram[:, at, at] = part[:, own]
    return gram


def right_hand_sides(wdata: np.ndarray, timing: LineTiming, settings: TimeFitSettings
                     ) -> np.ndarray:
    """Right-hand sides ``(ncols, m)`` from weights × data (DMS layout)."""
    period, nvec = settings.period(timing), settings.harmonics + 1
    lag_d = _lags(wdata, timing, period, nvec)
    size = 2 * nvec - 1
    own = _output_index(settings)
    rhs = np.empty((wdata.shape[1], settings.unknowns(timing)))
    rhs[:, :size] = real_rhs(lag_d.sum(axis=0), nvec)
    for a in range(timing.outputs):
        rhs[:, size + a * own.size: size + (a + 1) * own.size] = real_rhs(lag_d[a], nvec)[:, own]
    return rhs


def real_gram_columns(lags: np.ndarray, nvec: int, columns: np.ndarray) -> np.ndarray:
    """Some columns of :func:`~app.core.engine.fourier_real.real_gram`: (ncols, 2nvec−1,
    len(columns)), computed without the rest of the matrix."""
    nlag = 2 * nvec - 1
    have = lags.shape[0] // 2
    terms = np.concatenate([lags[:nlag], lags[have:have + nlag]]).T
    idx_a, idx_b, sgn_a, sgn_b = _gram_index(nvec)
    idx_a, idx_b = idx_a[:, columns], idx_b[:, columns]
    gram = terms[:, idx_a] * (0.5 * sgn_a[:, columns])
    gram += (0.5 * sgn_b[:, columns]) * terms[:, idx_b]
    return gram


def synthesize(theta: np.ndarray, timing: LineTiming, settings: TimeFitSettings
               ) -> np.ndarray:
    """The model of every line at its samples: DMS layout ``(n, ncols)``, float32."""
    period, nvec = settings.period(timing), settings.harmonics + 1
    size = 2 * nvec - 1
    own = _output_index(settings)
    model = np.empty((timing.n, theta.shape[0]), dtype=np.float32)
    for a in range(timing.outputs):
        coeffs = theta[:, :size].copy()
        coeffs[:, own] += theta[:, size + a * own.size: size + (a + 1) * own.size]
        # irfft of X_0 = P·α_0, X_j = (P/2)(α_j − iβ_j) is Σ α cos + β sin
        spectrum = np.zeros((theta.shape[0], period // 2 + 1), dtype=np.complex128)
        spectrum[:, :nvec] = coeffs[:, :nvec]
        spectrum[:, 1:nvec] -= 1j * coeffs[:, nvec:]
        spectrum[:, 1:nvec] *= 0.5
        series = scipy.fft.irfft(spectrum * period, n=period, axis=1, workers=workers())
        rows = np.flatnonzero(timing.output == a)
        model[rows] = series[:, timing.tick[rows]].T
    return model


def solve_blocks(gram: np.ndarray, rhs: np.ndarray, size: int, outputs: int) -> np.ndarray:
    """Solve the regularised normal equations of every line, eliminating the outputs' own
    terms first.

    The matrix is ``[[A, B], [Bᵀ, D]]`` with ``A`` the common series (``size`` unknowns)
    and ``D`` block-diagonal (the outputs' terms never share a sample). With
    ``z = D⁻¹(s − Bᵀx)`` the common part solves ``(A − B D⁻¹ Bᵀ) x = r − B D⁻¹ s``: a
    system of ``size`` unknowns instead of all of them (3-4× less work for the batch).
    Every ``D`` block holds the prior, so it is invertible.
    """
    nlines, m = rhs.shape
    q = (m - size) // outputs
    schur = gram[:, :size, :size].copy()
    reduced_rhs = rhs[:, :size].copy()
    parts = []
    for a in range(outputs):
        at = slice(size + a * q, size + (a + 1) * q)
        inverse = np.linalg.inv(gram[:, at, at])
        coupling = gram[:, :size, at] @ inverse  # B_a D_a⁻¹
        schur -= coupling @ gram[:, at, :size]
        reduced_rhs -= (coupling @ rhs[:, at, None])[:, :, 0]
        parts.append((at, inverse))
    theta = np.empty((nlines, m))
    theta[:, :size] = solve_batch(schur, reduced_rhs)
    for at, inverse in parts:
        own = rhs[:, at] - (gram[:, at, :size] @ theta[:, :size, None])[:, :, 0]
        theta[:, at] = (inverse @ own[:, :, None])[:, :, 0]
    return theta


class TimeFitter:
    """The read-time fit of full frames of one detector, timing and settings.

    Keeps what depends on the mask only (weights and the normal matrices with their
    prior), so that the integrations of a rateints or a batch with one mask pay for them
    once. One per thread (:meth:`cached`): it holds ~100 MB for a full frame.

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
        # NSClean's weights (density along the line), from the position-domain fitter
        from app.core.engine.fourier import LineFitter
        from app.core.engine.fourier_basis import FitSettings

        self.shape, self.timing, self.settings = tuple(shape), timing, settings
        self._weighter = LineFitter(self.shape, detector, FitSettings(
            sigrej=settings.sigrej, weight_sigma=max(settings.weight_sigma, 1e-3)))
        self._mask: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

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

    def weights(self, usable: np.ndarray) -> np.ndarray:
        """Sample weights: NSClean's ``1/density²``, or 1 when ``weight_sigma`` is 0."""
        if self.settings.weight_sigma <= 0:
            return usable.astype(np.float64)
        return self._weighter.weights(usable)

    def _planned(self, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weights and regularised normal matrices of ``usable`` (kept per mask)."""
        from app.core.engine.maskplan import same_mask

        if self._mask is not None and same_mask(self._mask[0], usable):
            return self._mask[1], self._mask[2]
        weights = self.weights(usable)
        gram = normal_matrices(weights, self.timing, self.settings)
        weighted = np.count_nonzero(weights, axis=0)
        mean_weight = weights.sum(axis=0) / np.maximum(weighted, 1)
        size = gram.shape[1]
        diagonal = gram.reshape(gram.shape[0], size * size)[:, :: size + 1]
        diagonal += mean_weight[:, None] * penalties(self.settings, self.timing.outputs)
        self._mask = (usable.copy(), weights, gram)
        return weights, gram

    def fit(self, data: np.ndarray, usable: np.ndarray) -> tuple[TimeFit, np.ndarray]:
        """Fit every line of ``data`` (background level already removed).

        Returns
        -------
        fit : TimeFit
        reduced : ndarray of bool
            Lines with samples at fewer than :attr:`min_samples` ticks (some output sees
            background at a tick: four samples at one tick constrain the common series
            once): their weighted mean level only was fitted.
        """
        weights, gram = self._planned(usable)
        counts = np.count_nonzero(usable, axis=0)
        cleaned = replace_outliers(data, usable, self.settings.sigrej)
        wdata = weights * cleaned
        fitted = counts > 0
        ticks = np.count_nonzero(read_order_coverage(usable, self.timing), axis=0)
        reduced = fitted & (ticks < self.min_samples)
        full = np.flatnonzero(fitted & ~reduced)
        theta = np.zeros((data.shape[1], self.settings.unknowns(self.timing)))
        if full.size:
            rhs = right_hand_sides(wdata[:, full] if full.size < data.shape[1] else wdata,
                                   self.timing, self.settings)
            theta[full] = solve_blocks(gram[full], rhs, 2 * self.settings.harmonics + 1,
                                       self.timing.outputs)
        few = np.flatnonzero(reduced)
        theta[few, 0] = wdata[:, few].sum(axis=0) / np.maximum(weights[:, few].sum(axis=0),
                                                              1e-300)
        return TimeFit(theta, counts, fitted), reduced

    def model(self, theta: np.ndarray) -> np.ndarray:
        """The model of every line, DMS layout, float32."""
        return synthesize(theta, self.timing, self.settings)
