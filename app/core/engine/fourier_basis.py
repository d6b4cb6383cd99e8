"""What a line fit is made of: the low-pass apodizer, the Gaussian kernels, the settings.

Shared by the full-frame fit (:mod:`app.core.engine.fourier`, :mod:`app.core.engine.fourier_real`),
the subarray fit (:mod:`app.core.engine.subarray`) and the cross-validation
(:mod:`app.core.tuning.cv`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
