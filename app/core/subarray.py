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

from collections.abc import Sequence

import numpy as np

from app.core.fourier import circular_gaussian
from app.core.orientation import detector_to_dms, dms_to_detector
from app.core.robust import MAD_TO_SIGMA

TICK_SECONDS = 10e-6
LINE_OVERHEAD_TICKS = 12
#: Apodizer corners in Hz: unity below 1061, roll-off to 1211, zero to 49943, roll-on to 49957.
SUBARRAY_FC = (1061.0, 1211.0, 49943.0, 49957.0)


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
    ny, nx = data.shape
    width = nx + LINE_OVERHEAD_TICKS
    n = ny * width
    freq = np.fft.rfftfreq(n, TICK_SECONDS)
    gain = band_apodizer(freq, corners)
    k = np.flatnonzero(gain > 0)
    timeline = np.zeros((ny, width), dtype=bool)
    timeline[:, :nx] = mask
    timeline = timeline.ravel()
    ticks = np.flatnonzero(timeline)
    # Weight by the reciprocal of the local density of samples in time (σ in ticks).
    sigma = 1.0 / ((corners[0] + corners[1]) / 2.0) / TICK_SECONDS / 8.0
    density = np.fft.irfft(np.fft.rfft(timeline.astype(float))
                           * np.fft.rfft(circular_gaussian(n, sigma, centre)), n)[ticks]
    with np.errstate(divide="ignore"):
        p = np.where(density > 0, 1.0 / density, 0.0)
    values = np.zeros((ny, width))
    values[:, :nx] = data
    d = values.ravel()[ticks]
    basis = np.exp(2j * np.pi * np.outer(ticks, k) / n) * p[:, None]
    gram = basis.conj().T @ basis
    g = np.linalg.solve(gram, basis.conj().T @ (p * d))
    spectrum = np.zeros(freq.size, dtype=complex)
    spectrum[k] = n * g * gain[k]
    return np.fft.irfft(spectrum, n).reshape(ny, width)[:, :nx]


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
    for start, stop in _windows(per_line, npix):
        ramp = 1.001 - np.abs(np.linspace(-1.0, 1.0, stop - start))
        weight[start:stop] += ramp
        if mask[start:stop].mean() > minfrac:
            window = fit_window(det[start:stop], mask[start:stop], corners,
                                centre=1 if legacy_kernels else 0)
            model[start:stop] += ramp[:, None] * window
            fitted[start:stop] = True
    model /= np.where(weight > 0, weight, 1.0)[:, None]
    to_dms = detector_to_dms
    counts = np.asarray(to_dms(per_line[:, None], detector))[0]
    unfit = np.asarray(to_dms(~fitted[:, None], detector))[0]
    return np.ascontiguousarray(to_dms(model, detector), dtype=np.float32), counts, unfit


def _windows(per_line: np.ndarray, npix: int) -> list[tuple[int, int]]:
    """Overlapping line ranges holding about ``npix`` samples each (half-window steps)."""
    lines = np.flatnonzero(per_line)
    if lines.size == 0:
        return []
    first, last = int(lines[0]), int(lines[-1])
    cumulative = np.concatenate([[0], np.cumsum(per_line)])
    total = cumulative[-1]
    windows = []
    start = first
    while start <= last:
        stop = last + 1
        if total - cumulative[start] > 1.5 * npix:
            enough = np.flatnonzero(cumulative[start + 1:last + 2] - cumulative[start] > npix)
            if enough.size:
                stop = start + 1 + int(enough[0])
        windows.append((start, stop))
        if stop == last + 1:
            break
        start += max(round((stop - start) / 2), 1)
    return windows
