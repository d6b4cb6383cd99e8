"""NSClean's full-frame fit: a weighted low-order Fourier model on every detector line.

Everything here works on arrays in **DMS layout** ``(y, x)``: a detector line is one DMS
column and the sample index along the line is the DMS row ``y`` (for NRS1 and NRS2
alike; only the order of the lines differs, see :mod:`app.core.orientation`). Matrix
products handle either layout at the same speed, so the frame is never transposed.

For a line with weights ``w = p²`` (zero off the background) and data ``d``, the fit
solves the ``nvec × nvec`` normal equations ``G g = b`` with ``G[k, k'] = W[k - k']``,
``W[j] = Σ_m w_m exp(-2πi m j / n)`` (Hermitian Toeplitz) and ``b[k] = Σ_m w_m d_m
exp(-2πi m k / n)``. Both are the first few DFT coefficients of ``w`` and ``w·d``, which
one matrix product computes for all lines at once; the systems are then solved as a batch.
The model is the inverse real FFT of ``c_k = n g_k a_k`` with the apodizer ``a``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from app.core.robust import MAD_TO_SIGMA, column_median_mad

#: Reference pixels on each side of the detector: never background, never fit.
BORDER = 4


def lowpass_apodizer(fc: float, kw: float, n: int) -> np.ndarray:
    """Low-pass filter on the rfft frequencies of ``n`` samples.

    Unity below ``fc - kw/2``, zero above ``fc + kw/2``, a half cosine in between
    (0.5 at ``fc``, the half-power point). Frequencies are in cycles per pixel.
    """
    freq = np.fft.rfftfreq(n)
    if kw <= 0:
        return (freq <= fc).astype(np.float64)
    roll = 0.5 * (1.0 + np.cos(np.pi * (freq - fc) / kw + np.pi / 2))
    return np.where(freq <= fc - kw / 2, 1.0, np.where(freq <= fc + kw / 2, roll, 0.0))


def circular_gaussian(n: int, sigma: float, centre: int = 0) -> np.ndarray:
    """A Gaussian of unit area sampled on a circle of ``n`` points, peaking at ``centre``.

    ``centre=0`` is the correct kernel for circular convolution. ``centre=1`` reproduces
    the public implementations, whose kernels end up at index 1 (the documented defect).
    """
    offset = (np.arange(n) - centre + n // 2) % n - n // 2
    return np.exp(-0.5 * (offset / sigma) ** 2) / (sigma * np.sqrt(2.0 * np.pi))


@dataclass(frozen=True)
class FitSettings:
    """Parameters of the full-frame fit (see :func:`app.core.clean.clean` for meanings)."""

    fc: float = 1.0 / 256.0
    kw: float = 1.0 / 1024.0
    sigrej: float = 3.0
    weight_sigma: float = 32.0
    buff: bool = True
    buff_sigma: float = 1.5
    legacy_kernels: bool = False


class LineFitter:
    """Fit and evaluate the per-line Fourier model for frames of one shape and detector.

    Parameters
    ----------
    shape : tuple of int
        DMS frame shape ``(n, nlines)``; ``n`` samples per detector line.
    detector : {"NRS1", "NRS2"}
        Fixes the order of lines (needed where neighbouring lines interact).
    settings : FitSettings
        Fit parameters.
    """

    def __init__(self, shape: tuple[int, int], detector: str, settings: FitSettings) -> None:
        self.n, self.nlines = shape
        self.detector = detector
        self.settings = settings
        self.apodizer = lowpass_apodizer(settings.fc, settings.kw, self.n)
        self.nvec = int(np.count_nonzero(self.apodizer > 0))
        m = np.arange(self.n)[:, None]
        k = np.arange(self.nvec)[None, :]
        phase = 2.0 * np.pi * m * k / self.n
        # Analysis matrix: [cos | sin] so that real products give the complex DFT terms.
        self._analysis = np.ascontiguousarray(np.hstack([np.cos(phase), np.sin(phase)]))
        # Synthesis of irfft from nvec coefficients (imaginary part of c_0 is dropped).
        # The public code buffs with a 2-D kernel centred one pixel off along the line too.
        shift = 1 if (settings.legacy_kernels and settings.buff) else 0
        phase_out = 2.0 * np.pi * (m - shift) * k / self.n
        scale = np.where(k == 0, 1.0, 2.0) * self.apodizer[: self.nvec]
        self._synth_cos = np.ascontiguousarray(np.cos(phase_out) * scale, dtype=np.float32)
        self._synth_sin = np.ascontiguousarray(-np.sin(phase_out) * scale, dtype=np.float32)
        centre = 1 if settings.legacy_kernels else 0
        self._weight_kernel = scipy.fft.rfft(
            circular_gaussian(self.n, settings.weight_sigma, centre)).astype(np.complex64)
        self._buff_kernel = np.fft.fft(circular_gaussian(self.nlines, settings.buff_sigma, centre))
        self._line_step = 1 if detector == "NRS1" else -1  # DMS column step per line
        self._weights_cache: tuple[np.ndarray, np.ndarray] | None = None

    # -- weights ---------------------------------------------------------------------
    def weights(self, usable: np.ndarray) -> np.ndarray:
        """Squared NSClean weights ``p²`` on usable samples, zero elsewhere (float64).

        ``p`` is the reciprocal of the usable-sample density along the line: the mask
        convolved with a Gaussian of σ = ``weight_sigma`` pixels. The last result is
        cached, since a mask is usually reused for many frames.
        """
        cached = self._weights_cache
        if cached is not None and np.array_equal(cached[0], usable):
            return cached[1]
        spectrum = scipy.fft.rfft(usable.astype(np.float32), axis=0, workers=-1)
        spectrum *= self._weight_kernel[:, None]
        density = scipy.fft.irfft(spectrum, n=self.n, axis=0, workers=-1)
        if self.settings.legacy_kernels:
            # The public code's 2-D kernel also sits one *line* off: line y is weighted
            # by the density of line y - 1.
            density = np.roll(density, self._line_step, axis=1)
        # Where the density is round-off (legacy weighting from an empty neighbour line)
        # the weight is meaningless; such samples get none and the line may go unfit.
        floor = 1e-3 * circular_gaussian(1, self.settings.weight_sigma)[0]
        valid = usable & (density > floor)
        weights = np.zeros(density.shape, dtype=np.float64)
        np.divide(1.0, np.square(density, dtype=np.float64), out=weights, where=valid)
        self._weights_cache = (usable.copy(), weights)
        return weights

    # -- outliers --------------------------------------------------------------------
    def replace_outliers(self, data: np.ndarray, usable: np.ndarray) -> np.ndarray:
        """Return the data to fit: outliers set to their line's median, zero off ``usable``.

        Samples beyond ``sigrej`` σ (1.4826 × MAD) of their line's median are replaced
        by the median, as in the published code.
        """
        median, mad = column_median_mad(data, usable)
        mu = median.astype(data.dtype)
        half = (self.settings.sigrej * MAD_TO_SIGMA * mad).astype(data.dtype)
        out = np.where(usable, data, 0).astype(data.dtype, copy=False)
        outlier = usable & ((out < mu - half) | (out > mu + half))
        np.copyto(out, np.broadcast_to(mu, out.shape), where=outlier)
        return out

    # -- least squares ---------------------------------------------------------------
    def solve(self, data: np.ndarray, weights: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Solve the weighted fits of the given DMS columns.

        Parameters
        ----------
        data : ndarray
            Data to fit, zero off the background (see :meth:`replace_outliers`).
        weights : ndarray, float64
            :meth:`weights`.
        columns : ndarray of int
            Columns to solve; each must have more than ``nvec`` weighted samples.

        Returns
        -------
        ndarray, complex128, shape (len(columns), nvec)
            ``g_k`` per column.
        """
        nvec = self.nvec
        full = len(columns) > data.shape[1] // 2  # one pass over all is cheaper than a gather
        w = weights if full else weights[:, columns]
        wd = w * (data if full else data[:, columns])
        # Real float64 products give the DFT terms Σ w cos - i Σ w sin, for w (W_j) and for
        # w·d (b_k); float32 loses up to 1 % on lines with sparse background.
        terms_w = self._analysis.T @ w
        terms_b = self._analysis.T @ wd
        if full:
            terms_w, terms_b = terms_w[:, columns], terms_b[:, columns]
        dft_w = terms_w[:nvec] - 1j * terms_w[nvec:]  # W_j, j = 0..nvec-1
        rhs = terms_b[:nvec] - 1j * terms_b[nvec:]  # b_k
        j = np.arange(nvec)
        lag = j[:, None] - j[None, :]  # G[k, k'] = W[k - k'], W[-j] = conj(W[j])
        gram = dft_w[np.abs(lag)]
        gram = np.where((lag >= 0)[:, :, None], gram, np.conj(gram))
        gram = np.moveaxis(gram, -1, 0)  # (ncols, nvec, nvec)
        rhs = rhs.T[:, :, None]
        try:
            return np.linalg.solve(gram, rhs)[:, :, 0]
        except np.linalg.LinAlgError:  # a numerically singular line: solve one by one
            return np.stack([np.linalg.lstsq(g, r, rcond=None)[0][:, 0]
                             for g, r in zip(gram, rhs, strict=True)])

    # -- model -----------------------------------------------------------------------
    def buff(self, coeffs: np.ndarray) -> np.ndarray:
        """Smooth the per-line coefficients across lines (σ = ``buff_sigma`` lines).

        Smoothing the model across lines equals smoothing its coefficients, because every
        line is synthesised from the same basis; the convolution is circular, as in the
        published code. ``coeffs`` is indexed by DMS column.
        """
        ordered = coeffs[:: self._line_step]  # detector line order
        smoothed = np.fft.ifft(np.fft.fft(ordered, axis=0) * self._buff_kernel[:, None], axis=0)
        return smoothed[:: self._line_step]

    def synthesize(self, coeffs: np.ndarray) -> np.ndarray:
        """Evaluate the model (DMS layout, float32) from coefficients ``g`` per column."""
        real = np.ascontiguousarray(coeffs.real.T, dtype=np.float32)
        imag = np.ascontiguousarray(coeffs.imag.T, dtype=np.float32)
        return self._synth_cos @ real + self._synth_sin @ imag

    def fit_lines(self, data: np.ndarray, usable: np.ndarray,
                  weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Fit every line of a frame.

        Parameters
        ----------
        data : ndarray, float32, DMS layout
            Background-subtracted data; values off ``usable`` are ignored.
        usable : ndarray of bool
            Background samples (reference border already excluded).
        weights : ndarray, optional
            :meth:`weights` of ``usable`` if already computed.

        Returns
        -------
        coeffs : ndarray, complex128, shape (nlines, nvec)
            ``g_k`` per DMS column (zero for reference and unfit lines).
        counts : ndarray of int
            Usable samples per DMS column.
        """
        if weights is None:
            weights = self.weights(usable)
        counts = np.count_nonzero(usable, axis=0)
        cleaned = self.replace_outliers(data, usable)
        weighted = counts if not self.settings.legacy_kernels else np.count_nonzero(weights, axis=0)
        fittable = np.flatnonzero((counts > self.nvec) & (weighted > self.nvec))
        coeffs = np.zeros((self.nlines, self.nvec), dtype=np.complex128)
        if fittable.size:
            coeffs[fittable] = self.solve(cleaned, weights, fittable)
        return coeffs, counts

    def model(self, coeffs: np.ndarray) -> np.ndarray:
        """Background model in DMS layout from per-column coefficients (buffed if set)."""
        if self.settings.buff:
            coeffs = self.buff(coeffs)
        return self.synthesize(coeffs)
