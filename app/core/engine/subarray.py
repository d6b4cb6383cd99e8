"""The subarray variant of NSClean (any frame that is not 2048×2048).

A subarray is read as one time series: in detector orientation pixel ``(y, x)`` is read
at tick ``y·(nx + 12) + x`` (12 ticks of new-line overhead, 10 µs per tick), so the
correlated noise is modelled in Hz rather than per line. The apodizer keeps the lowest
frequencies (1/f noise) and the highest (alternating-column noise near Nyquist).

The image is fit in overlapping windows of about ``npix`` background samples along the
slow axis and the window models are blended with triangular weights, as the JWST
pipeline does. Samples beyond ``sigrej`` σ of the whole image, and their four nearest
neighbours, are dropped from the background first.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.fft

from app.core.engine.fourier_basis import circular_gaussian
from app.core.engine.robust import MAD_TO_SIGMA
from app.core.orientation import detector_to_dms, dms_to_detector

TICK_SECONDS = 10e-6
LINE_OVERHEAD_TICKS = 12
#: Apodizer corners in Hz: unity below 1061, roll-off to 1211, zero to 49943, roll-on to 49957.
SUBARRAY_FC = (1061.0, 1211.0, 49943.0, 49957.0)
#: Time-line samples fitted per batch of windows (bounds the memory of a batch).
_BATCH_TICKS = 1 << 20


def band_apodizer(freq: np.ndarray, corners: Sequence[float] = SUBARRAY_FC) -> np.ndarray:
    """Gain per frequency (Hz): low-pass plus high-pass with cosine transitions."""
    f0, f1, f2, f3 = corners
    gain = np.zeros(freq.shape)
    gain[freq < f0] = 1.0
    fall = (freq >= f0) & (freq < f1)
    gain[fall] = 0.5 * (1.0 + np.cos(np.pi * (freq[fall] - f0) / (f1 - f0)))
    rise = (freq >= f2) & (freq < f3)
    gain[rise] = 0.5 * (1.0 + np.cos(np.pi * (freq[rise] - f2) / (f3 - f2) + np.pi))
    gain[freq >= f3] = 1.0
    return gain


def drop_outliers(data: np.ndarray, mask: np.ndarray, sigrej: float) -> np.ndarray:
    """Remove samples beyond ``sigrej`` σ (MAD) of the image, and their 4 neighbours."""
    values = data[mask]
    centre = np.median(values)
    sigma = MAD_TO_SIGMA * np.median(np.abs(values - centre))
    outlier = mask & (np.abs(data - centre) > sigrej * sigma)
    keep = mask & ~outlier
    keep[1:] &= ~outlier[:-1]
    keep[:-1] &= ~outlier[1:]
    keep[:, 1:] &= ~outlier[:, :-1]
    keep[:, :-1] &= ~outlier[:, 1:]
    return keep


def fit_window(data: np.ndarray, mask: np.ndarray, corners: Sequence[float],
               centre: int = 0) -> np.ndarray:
    """Weighted Fourier fit of one window (detector orientation); returns its model."""
    return fit_windows(data[None], mask[None], corners, centre)[0]


def fit_windows(data: np.ndarray, mask: np.ndarray, corners: Sequence[float],
                centre: int = 0) -> np.ndarray:
    """Fit a stack of windows of the same shape ``(nwin, ny, nx)`` at once.

    For window weights ``w = p²`` on the background ticks (0 elsewhere) and data ``d``, the
    normal equations of the fit to ``exp(2πi·t·k/n)`` are ``G[k, k'] = W[k - k']`` and
    ``b[k] = B[k]``, with ``W`` and ``B`` the DFTs of ``w`` and ``w·d`` over the whole
    time line. Only a few dozen frequencies are needed, so they come from one matrix
    product for all windows (the window length often has a large prime factor, which
    makes FFTs of it slow), and all windows of one shape are solved as a batch.
    """
    nwin, ny, nx = data.shape
    width = nx + LINE_OVERHEAD_TICKS
    line = _time_line(ny * width, tuple(corners), centre)
    timeline = np.zeros((nwin, ny, width))
    timeline[:, :, :nx] = mask
    timeline = timeline.reshape(nwin, line.n)
    values = np.zeros((nwin, ny, width))
    values[:, :, :nx] = np.where(mask, data, 0.0)  # NaN and the like only off the mask
    values = values.reshape(nwin, line.n)
    # Weight by the reciprocal of the local density of samples in time.
    density = line.smooth(timeline)
    with np.errstate(divide="ignore"):
        p = np.where((timeline > 0) & (density > 0), 1.0 / density, 0.0)
    weights = p * p
    terms = np.concatenate([weights, weights * values]) @ line.analysis
    half = terms.shape[1] // 2
    dft = terms[:, :half] - 1j * terms[:, half:]  # at line.freqs, for w then for w·d
    gram = dft[:nwin, line.lag_index]
    gram[:, line.lag_conj] = np.conj(gram[:, line.lag_conj])  # W[-j] = conj(W[j])
    g = np.linalg.solve(gram, dft[nwin:, line.k_index, None])[:, :, 0]
    model = np.concatenate([g.real, g.imag], axis=1) @ line.synthesis
    return model.reshape(nwin, ny, width)[:, :, :nx]


@dataclass(frozen=True)
class _TimeLine:
    """Everything about windows of ``n`` ticks that does not depend on the data."""

    n: int
    freqs: np.ndarray  # DFT frequency indices needed (k and the lags k - k', folded)
    analysis: np.ndarray  # [cos | sin] of 2π·t·f/n at those frequencies, (n, 2·nfreq)
    k_index: np.ndarray  # position in freqs of each fitted frequency k
    lag_index: np.ndarray  # (K, K): position in freqs of |k - k'| folded into [0, n/2]
    lag_conj: np.ndarray  # (K, K): the lag was folded (take the conjugate)
    synthesis: np.ndarray  # (2K, n): model from [Re g, Im g] (irfft of n·g·gain)
    taps: np.ndarray  # density kernel at offsets -R..R (or the whole circle)

    def smooth(self, timeline: np.ndarray) -> np.ndarray:
        """Circular convolution of each row with the density kernel.

        The Gaussian is negligible (< 1e-30) beyond ±12σ, so the circular convolution is a
        linear one over the row wrapped by that radius, done by FFTs of a fast length.
        """
        if self.taps.size == self.n:  # short windows: the kernel covers the circle
            kernel = scipy.fft.rfft(self.taps)
            return scipy.fft.irfft(scipy.fft.rfft(timeline, axis=1) * kernel, self.n, axis=1)
        radius = self.taps.size // 2
        wrapped = np.concatenate([timeline[:, -radius:], timeline, timeline[:, :radius]],
                                 axis=1)
        # imported here: scipy.signal takes ~0.9 s to import, which the app's start-up
        # (every window imports the engine) should not pay for a full-frame image
        from scipy.signal import fftconvolve

        return fftconvolve(wrapped, self.taps[None], mode="valid", axes=1)


@functools.lru_cache(maxsize=16)
def _time_line(n: int, corners: tuple[float, ...], centre: int) -> _TimeLine:
    gain = band_apodizer(np.fft.rfftfreq(n, TICK_SECONDS), corners)
    k = np.flatnonzero(gain > 0)
    lag = (k[:, None] - k[None, :]) % n
    folded = np.minimum(lag, n - lag)
    freqs = np.union1d(k, folded)
    ticks = np.arange(n)
    # exact phases: t·f mod n in integers before scaling
    phase = 2.0 * np.pi * ((ticks[:, None] * freqs[None, :]) % n) / n
    analysis = np.ascontiguousarray(np.hstack([np.cos(phase), np.sin(phase)]))
    # irfft of c_k = n·g_k·gain_k: weight 1 at k = 0 and at Nyquist, 2 elsewhere; the
    # imaginary part is dropped at k = 0 and at Nyquist
    phase_k = 2.0 * np.pi * ((k[:, None] * ticks[None, :]) % n) / n
    edge = (k == 0) | (2 * k == n)
    scale = np.where(edge, 1.0, 2.0) * gain[k]
    synthesis = np.vstack([scale[:, None] * np.cos(phase_k),
                           np.where(edge, 0.0, -scale)[:, None] * np.sin(phase_k)])
    # σ of the density kernel, in ticks: an eighth of a period at the low-pass corner
    sigma = 1.0 / ((corners[0] + corners[1]) / 2.0) / TICK_SECONDS / 8.0
    kernel = circular_gaussian(n, sigma, centre)
    radius = int(np.ceil(12 * sigma)) + abs(centre)
    taps = kernel if 2 * radius + 1 >= n else kernel[np.arange(-radius, radius + 1) % n]
    return _TimeLine(n, freqs, analysis, np.searchsorted(freqs, k),
                     np.searchsorted(freqs, folded), lag > n // 2, synthesis, taps)


def subarray_model(data: np.ndarray, usable: np.ndarray, detector: str, *,
                   legacy_kernels: bool = False, corners: Sequence[float] = SUBARRAY_FC,
                   npix: int = 512, minfrac: float = 0.05, sigrej: float = 4.0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model the correlated noise of a subarray (DMS in, DMS out).

    Parameters
    ----------
    data : ndarray, DMS layout
        Background-subtracted image; values off ``usable`` are ignored.
    usable : ndarray of bool
        Background samples.
    detector : {"NRS1", "NRS2"}
        Fixes the read order.
    legacy_kernels : bool
        Centre the density kernel one tick off, as the public implementation does.
    corners : 4 floats
        Apodizer corners in Hz (see :func:`band_apodizer`).
    npix : int
        Background samples per fit window (a few hundred reach sub-kHz frequencies).
    minfrac : float
        A window whose background fraction is below this is not fit.
    sigrej : float
        Outlier threshold in σ for dropping samples from the background.

    Returns
    -------
    model : ndarray, float32, DMS layout
    counts : ndarray of int
        Background samples per DMS column (detector line) after outlier removal.
    unfit : ndarray of bool
        Per DMS column: the line lies in no window that could be fit.
    """
    det = np.asarray(dms_to_detector(data, detector), dtype=np.float64)
    mask = drop_outliers(det, np.array(dms_to_detector(usable, detector)), sigrej)
    per_line = np.count_nonzero(mask, axis=1)
    model = np.zeros(det.shape)
    weight = np.zeros(det.shape[0])
    fitted = np.zeros(det.shape[0], dtype=bool)
    windows = _windows(per_line, npix)
    cumulative = np.concatenate([[0], np.cumsum(per_line)])
    dense = [(a, b) for a, b in windows
             if (cumulative[b] - cumulative[a]) / ((b - a) * det.shape[1]) > minfrac]
    models = _fit_all(det, mask, dense, corners, centre=1 if legacy_kernels else 0)
    for start, stop in windows:  # blend with triangular weights
        ramp = _ramp(stop - start)
        weight[start:stop] += ramp
        if (start, stop) in models:
            model[start:stop] += ramp[:, None] * models[start, stop]
            fitted[start:stop] = True
    model /= np.where(weight > 0, weight, 1.0)[:, None]
    to_dms = detector_to_dms
    counts = np.asarray(to_dms(per_line[:, None], detector))[0]
    unfit = np.asarray(to_dms(~fitted[:, None], detector))[0]
    return np.ascontiguousarray(to_dms(model, detector), dtype=np.float32), counts, unfit


def _fit_all(det: np.ndarray, mask: np.ndarray, windows: list[tuple[int, int]],
             corners: Sequence[float], centre: int) -> dict[tuple[int, int], np.ndarray]:
    """Models of the given windows, fitted in batches of windows of equal length."""
    by_length: dict[int, list[tuple[int, int]]] = {}
    for start, stop in windows:
        by_length.setdefault(stop - start, []).append((start, stop))
    models = {}
    for length, group in by_length.items():
        per_batch = max(1, _BATCH_TICKS // (length * (det.shape[1] + LINE_OVERHEAD_TICKS)))
        for first in range(0, len(group), per_batch):
            batch = group[first:first + per_batch]
            rows = np.array([np.arange(start, stop) for start, stop in batch])
            for window, fit in zip(batch, fit_windows(det[rows], mask[rows], corners, centre),
                                   strict=True):
                models[window] = fit
    return models


@functools.lru_cache(maxsize=64)
def _ramp(length: int) -> np.ndarray:
    """Triangular blending weights of a window of ``length`` lines."""
    return 1.001 - np.abs(np.linspace(-1.0, 1.0, length))


def _windows(per_line: np.ndarray, npix: int) -> list[tuple[int, int]]:
    """Overlapping line ranges holding about ``npix`` samples each (half-window steps).

    A window ends at the first line that brings it above ``npix`` samples, unless fewer
    than 1.5 ``npix`` samples remain: then it runs to the last line with samples.
    """
    lines = np.flatnonzero(per_line)
    if lines.size == 0:
        return []
    first, last = int(lines[0]), int(lines[-1])
    cumulative = [0, *np.cumsum(per_line).tolist()]
    total = cumulative[-1]
    windows = []
    start = first
    while start <= last:
        stop = last + 1
        if total - cumulative[start] > 1.5 * npix:
            stop = min(bisect.bisect_right(cumulative, cumulative[start] + npix), last + 1)
        windows.append((start, stop))
        if stop == last + 1:
            break
        start += max(round((stop - start) / 2), 1)
    return windows
