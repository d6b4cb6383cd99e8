"""How well correlated noise was removed: banding, residual RMS, fast-axis power spectra.

All functions take DMS images, either one ``(ny, nx)`` image or a stack
``(nints, ny, nx)`` (statistics then pool every integration), and a boolean background
mask (2-D, shared by all integrations, or shaped like the images). Pixels that are not
finite are ignored everywhere. The GUI plots and the quality benchmarks use these
definitions, so they are stated exactly in each docstring.

Orientation: one detector line is one DMS column read along the fast axis (DMS y);
NRS2 only reverses the order of the lines, which no statistic here depends on, but the
arrays are turned with :func:`app.core.orientation.dms_to_detector` so that "along a
line" is always the last axis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d

from app.core.errors import MaskError
from app.core.orientation import detector_to_dms, dms_to_detector
from app.core.simulation.noise import TICK_SECONDS

#: Width (pixels along a line) of the running mean that isolates banding; three passes
#: of it approximate a Gaussian of σ = sqrt((width² − 1)/4) ≈ 16.5 px.
BANDING_SMOOTH_WIDTH = 33


def _stack(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    if array.ndim not in (2, 3):
        raise ValueError(f"expected a 2-D image or a 3-D stack, got {array.ndim}-D")
    return array if array.ndim == 3 else array[None]


def _valid(mask: np.ndarray, *arrays: np.ndarray) -> np.ndarray:
    """Mask broadcast to the stack shape, and False wherever any array is not finite."""
    valid = np.broadcast_to(np.asarray(mask, dtype=bool), arrays[0].shape).copy()
    for array in arrays:
        valid &= np.isfinite(array)
    return valid


def _to_lines(array: np.ndarray, detector: str, dtype: type = np.float32) -> np.ndarray:
    """A C-contiguous copy in detector orientation: running filters along the last axis
    of a contiguous array are several times faster than along a strided one."""
    return np.ascontiguousarray(dms_to_detector(array, detector), dtype=dtype)


def _line_smoother(valid_lines: np.ndarray, width: int) -> Callable[[np.ndarray], np.ndarray]:
    """Return ``f(values_lines)``: values smoothed along lines over valid pixels only.

    Both arguments are in detector orientation (see :func:`_to_lines`). Normalised
    convolution ``K∗(v·w) / K∗w`` with ``w`` the valid pixels and ``K`` three passes of
    a ``width``-pixel running mean along each line, so gaps (spectra, bad pixels)
    neither pull the average towards zero nor leak their values. ``K∗w`` is computed
    once and shared by every call.
    """
    if width < 1 or width % 2 == 0:
        raise ValueError(f"smoothing width must be a positive odd number, not {width}")

    def kernel(a: np.ndarray) -> np.ndarray:
        for _ in range(3):
            a = uniform_filter1d(a, width, axis=-1, mode="constant")
        return a

    weight = kernel(valid_lines.astype(np.float32))
    usable = weight > 1e-6

    def smooth(values_lines: np.ndarray) -> np.ndarray:
        numerator = kernel(np.where(valid_lines, values_lines, np.float32(0)))
        return np.divide(
            numerator, weight, out=np.full(weight.shape, np.nan, np.float32), where=usable
        )

    return smooth


def smooth_along_lines(
    values: np.ndarray,
    valid: np.ndarray,
    detector: str = "NRS1",
    width: int = BANDING_SMOOTH_WIDTH,
) -> np.ndarray:
    """Smooth ``values`` along detector lines using only the ``valid`` pixels.

    Parameters
    ----------
    values : ndarray
        DMS image or stack.
    valid : ndarray of bool
        Same shape: the pixels to use.
    detector : {"NRS1", "NRS2"}
        Orientation of the data.
    width : int
        Odd width of the running mean, applied three times (≈ Gaussian σ = width/2).

    Returns
    -------
    ndarray
        float32, DMS, same shape; NaN where no valid pixel is within reach.
    """
    valid_lines = _to_lines(np.asarray(valid, dtype=bool), detector, bool)
    smooth = _line_smoother(valid_lines, width)(_to_lines(values, detector))
    return detector_to_dms(smooth, detector)


def banding_rms(
    image: np.ndarray,
    mask: np.ndarray,
    detector: str = "NRS1",
    width: int = BANDING_SMOOTH_WIDTH,
) -> float:
    """RMS of ``image`` smoothed along detector lines, over the background pixels.

    ``sqrt(mean over valid pixels of S[image]²)`` where valid = ``mask`` and finite, and
    ``S`` is :func:`smooth_along_lines` (running mean of ``width`` px applied three
    times, valid pixels only). The smoothing keeps per-line offsets and slow variations
    (banding, picture frame) and suppresses white and alternating column noise.

    Raises
    ------
    MaskError
        If no background pixel is finite.
    """
    stack = _stack(image)
    valid = _valid(mask, stack)
    if not valid.any():
        raise MaskError("no finite background pixels to measure banding on")
    valid_lines = _to_lines(valid, detector, bool)
    smooth = _line_smoother(valid_lines, width)(_to_lines(stack, detector))
    return float(np.sqrt(np.mean(smooth[valid_lines].astype(np.float64) ** 2)))


def residual_banding(
    cleaned: np.ndarray,
    expected: np.ndarray,
    correlated: np.ndarray,
    mask: np.ndarray,
    detector: str = "NRS1",
    width: int = BANDING_SMOOTH_WIDTH,
) -> float:
    """Banding left after cleaning, relative to the banding that was injected.

    With residual ``r = cleaned − expected`` (``expected`` = the exposure without its
    correlated noise, :attr:`app.core.simulation.simulate.Simulation.expected_clean`)::

        residual_banding = banding_rms(r, m) / banding_rms(correlated, m)

    where ``m`` is the background mask minus pixels not finite in ``cleaned``,
    ``expected`` or ``correlated``, and :func:`banding_rms` is the RMS over those pixels
    of the values smoothed along each detector line (running mean of ``width`` px applied
    three times, background pixels only). 1 means nothing was removed (``cleaned`` is
    the noisy input, so ``r = correlated``); 0 means the correlated noise was removed
    exactly; above 1, cleaning added banding.

    Parameters
    ----------
    cleaned, expected, correlated : ndarray
        DMS images or stacks of one shape.
    mask : ndarray of bool
        True on background pixels: 2-D, or shaped like the images.
    detector : {"NRS1", "NRS2"}
        Orientation of the data.
    width : int
        Odd width of the running mean along lines, pixels.

    Returns
    -------
    float

    Raises
    ------
    MaskError
        If no background pixel is usable or the injected noise has no banding.
    """
    cleaned, expected, correlated = _stack(cleaned), _stack(expected), _stack(correlated)
    if not cleaned.shape == expected.shape == correlated.shape:
        raise ValueError(f"shapes differ: {cleaned.shape}, {expected.shape}, {correlated.shape}")
    valid = _valid(mask, cleaned, expected, correlated)
    if not valid.any():
        raise MaskError("no finite background pixels to measure banding on")
    valid_lines = _to_lines(valid, detector, bool)
    smooth = _line_smoother(valid_lines, width)

    def rms(values: np.ndarray) -> float:
        smoothed = smooth(_to_lines(values, detector))[valid_lines]
        return float(np.sqrt(np.mean(smoothed.astype(np.float64) ** 2)))

    injected = rms(correlated)
    if injected == 0:
        raise MaskError("the injected correlated noise has no banding on the background")
    return rms(cleaned - expected) / injected


def residual_rms(cleaned: np.ndarray, expected: np.ndarray, mask: np.ndarray) -> float:
    """RMS of ``cleaned − expected`` over background pixels where both are finite.

    Unsmoothed, in the images' units (DN/s). For a perfect cleaner it is 0; for the
    uncleaned input it is the RMS of the injected correlated noise.
    """
    cleaned, expected = _stack(cleaned), _stack(expected)
    valid = _valid(mask, cleaned, expected)
    if not valid.any():
        raise MaskError("no finite background pixels to measure the residual on")
    residual = (cleaned - expected)[valid].astype(np.float64)
    return float(np.sqrt(np.mean(residual**2)))


@dataclass(frozen=True)
class PowerSpectrum:
    """Mean power spectrum along detector lines.

    Attributes
    ----------
    frequency : ndarray
        Cycles per pixel, 0 … 0.5.
    frequency_hz : ndarray
        The same in Hz, at :data:`~app.core.simulation.noise.TICK_SECONDS` (10 µs) per pixel.
    power : ndarray
        One-sided power spectral density, (image units)² per (cycle/pixel).
    lines : int
        Number of lines averaged.
    """

    frequency: np.ndarray
    frequency_hz: np.ndarray
    power: np.ndarray
    lines: int


def fast_axis_power_spectrum(
    image: np.ndarray,
    mask: np.ndarray,
    detector: str = "NRS1",
    min_samples: int = 32,
) -> PowerSpectrum:
    """Mean periodogram along detector lines (the fast axis), background pixels only.

    For each line (DMS column) with at least ``min_samples`` valid pixels (background
    and finite), the valid values minus their mean are kept and every other sample is
    set to 0; the periodogram is ``c·|rfft|² / n_valid`` with ``c = 2`` except at 0 and
    Nyquist (``c = 1``), so a line of white noise of variance σ² has a flat density
    ``2σ²`` and ``Σ power·Δf = σ²``. The lines' periodograms are averaged. The line is
    treated as one series at 10 µs per pixel (the four outputs read in parallel are not
    separated).

    Parameters
    ----------
    image : ndarray
        DMS image or stack.
    mask : ndarray of bool
        True on background pixels.
    detector : {"NRS1", "NRS2"}
        Orientation of the data.
    min_samples : int
        Lines with fewer valid pixels are skipped.

    Returns
    -------
    PowerSpectrum

    Raises
    ------
    MaskError
        If no line has enough valid pixels.
    """
    stack = _stack(image)
    valid = _valid(mask, stack)
    lines_v = dms_to_detector(stack, detector).reshape(-1, stack.shape[1])
    lines_w = dms_to_detector(valid, detector).reshape(-1, stack.shape[1])
    counts = lines_w.sum(axis=1)
    keep = counts >= min_samples
    if not keep.any():
        raise MaskError(f"no detector line has {min_samples} finite background pixels")
    values, weights, counts = lines_v[keep], lines_w[keep], counts[keep]
    means = np.where(weights, values, 0.0).sum(axis=1) / counts
    centred = np.where(weights, values - means[:, None], 0.0)
    n = stack.shape[1]
    spectrum = np.abs(np.fft.rfft(centred, axis=1)) ** 2 / counts[:, None]
    factor = np.full(spectrum.shape[1], 2.0)
    factor[0] = 1.0
    if n % 2 == 0:
        factor[-1] = 1.0
    frequency = np.fft.rfftfreq(n)
    return PowerSpectrum(
        frequency=frequency,
        frequency_hz=frequency / TICK_SECONDS,
        power=spectrum.mean(axis=0) * factor,
        lines=int(keep.sum()),
    )
