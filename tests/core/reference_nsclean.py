"""A slow, obvious NSClean written from the algorithm description, for tests only.

Every step is done line by line with plain NumPy so that it shares nothing with the
fast engine but the published definition: explicit circular convolution for the
weights, ``np.median`` for the outlier step, ``np.linalg.lstsq`` on the complex Fourier
basis, ``np.fft.irfft`` for the model and explicit shifted sums for buffing.
"""

from __future__ import annotations

import numpy as np


def gaussian(offsets: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * (offsets / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))


def apodizer(fc: float, kw: float, n: int) -> np.ndarray:
    freq = np.fft.rfftfreq(n)
    out = np.zeros(freq.size)
    for i, f in enumerate(freq):
        if f <= fc - kw / 2:
            out[i] = 1.0
        elif f <= fc + kw / 2:
            out[i] = 0.5 * (1 + np.cos(np.pi * (f - fc) / kw + np.pi / 2))
    return out


def line_density(mask_line: np.ndarray, sigma: float, reach: int = 400) -> np.ndarray:
    """Circular convolution of one line's mask with a unit-area Gaussian (direct sum)."""
    n = mask_line.size
    density = np.zeros(n)
    for shift in range(-reach, reach + 1):
        density += gaussian(np.array(shift), sigma) * np.roll(mask_line.astype(float), shift)
    return density


def fit_line(data_line, mask_line, fc=1 / 256, kw=1 / 1024, sigrej=3.0, weight_sigma=32.0):
    """Model of one detector line (unbuffed); zeros if it cannot be fit."""
    n = data_line.size
    a = apodizer(fc, kw, n)
    nvec = int(np.count_nonzero(a > 0))
    m = np.flatnonzero(mask_line)
    if m.size <= nvec:
        return np.zeros(n)
    p = 1.0 / line_density(mask_line, weight_sigma)[m]
    d = data_line[m].astype(np.float64)
    mu = np.median(d)
    sigma = 1.4826 * np.median(np.abs(d - mu))
    d = np.where((d >= mu - sigrej * sigma) & (d <= mu + sigrej * sigma), d, mu)
    basis = np.exp(2j * np.pi * np.outer(m, np.arange(nvec)) / n)
    g = np.linalg.lstsq(basis * p[:, None], d * p, rcond=None)[0]
    spectrum = np.zeros(n // 2 + 1, dtype=complex)
    spectrum[:nvec] = n * g * a[:nvec]
    return np.fft.irfft(spectrum, n)


def buff_lines(model_det: np.ndarray, sigma: float, reach: int = 12) -> np.ndarray:
    """Smooth a detector-orientation model across lines (circular, explicit sum)."""
    out = np.zeros_like(model_det, dtype=float)
    for shift in range(-reach, reach + 1):
        out += gaussian(np.array(shift), sigma) * np.roll(model_det, shift, axis=0)
    return out
