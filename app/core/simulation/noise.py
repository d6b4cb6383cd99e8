"""Correlated read noise of a NIRSpec H2RG count-rate image, generated in time order.

The noise is made the way the detector makes it, in detector coordinates (one row =
one "line", read along the fast axis), then turned into the DMS orientation with
:func:`app.core.orientation.detector_to_dms`:

- A full-frame line of 2048 pixels is read by four outputs in parallel, 512 pixels
  each, the fast-scan direction alternating from one output to the next; a subarray
  (fewer than 2048 samples per line) is read by one output.
- Pixel ``s`` of line ``i`` is read at tick ``i·L + t(s)`` by output ``o(s)``, with
  ``t``, ``o`` and the line period ``L`` from :func:`app.core.engine.readtime.line_timing`:
  traditional readout ``t = s mod 512`` or ``511 − s mod 512`` (odd outputs), ``L =
  524``; IRS² (``READPATT`` NRSIRS2, NRSIRS2RAPID) the same order with interleaved
  reference pixels, so ``L = 712`` and the normal pixels are not evenly spaced in time.
- 1/f noise: a series common to all outputs plus a smaller independent series per
  output, both with one-sided power spectrum ``P(f) = A²/f``. ``A`` is set so that a
  series spanning one full-frame read (2048·524 ticks) has the RMS given in
  :class:`NoiseModel`; shorter reads (subarrays) use the same ``A``, so the noise per
  unit of time is the same.
- Alternating column noise (ACN): an even/odd offset in time, ``a(i)·(−1)^tick``, whose
  amplitude ``a`` is a constant per output plus a slow 1/f drift from line to line.
- Picture frame: a low-frequency offset, largest next to the reference border and
  decaying exponentially inwards, with an independent random amplitude at each of the
  four edges of the full detector (so subarrays only see the edges they touch).

Values are count rates in DN/s. The defaults give per-line banding of about 0.01 DN/s,
the same size as the white read noise per pixel (0.01 DN/s): invisible on one pixel,
obvious as stripes when averaged along a 2048-pixel line, which is what NSClean removes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.fft

from app.core.engine.readtime import line_timing
from app.core.orientation import detector_to_dms

FULL_SIZE = 2048
REFERENCE_BORDER = 4
OUTPUTS_FULL_FRAME = 4
LINE_OVERHEAD_TICKS = 12
TICK_SECONDS = 10e-6
#: The 1/f amplitudes of :class:`NoiseModel` hold over this many ticks, one traditional
#: full-frame read; other reads use the same amplitude per unit of time.
REFERENCE_READ_TICKS = FULL_SIZE * (FULL_SIZE // OUTPUTS_FULL_FRAME + LINE_OVERHEAD_TICKS)


@dataclass(frozen=True)
class Window:
    """Where an image sits on the full 2048×2048 detector (DMS, 0-based pixels).

    ``x0, y0`` are the first column and row; ``nx, ny`` the size. In the headers this
    becomes ``SUBSTRT1 = x0 + 1``, ``SUBSTRT2 = y0 + 1``, ``SUBSIZE1 = nx``,
    ``SUBSIZE2 = ny``.
    """

    x0: int
    y0: int
    nx: int
    ny: int

    @classmethod
    def full(cls) -> Window:
        """The full 2048×2048 frame."""
        return cls(0, 0, FULL_SIZE, FULL_SIZE)

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape ``(ny, nx)``."""
        return (self.ny, self.nx)

    @property
    def is_full(self) -> bool:
        """True for the full frame."""
        return self.nx == FULL_SIZE and self.ny == FULL_SIZE

    def reference_pixels(self) -> np.ndarray:
        """Boolean ``(ny, nx)`` image: True on the 4-pixel reference border it contains."""
        xs = self.x0 + np.arange(self.nx)
        ys = self.y0 + np.arange(self.ny)
        ref_x = (xs < REFERENCE_BORDER) | (xs >= FULL_SIZE - REFERENCE_BORDER)
        ref_y = (ys < REFERENCE_BORDER) | (ys >= FULL_SIZE - REFERENCE_BORDER)
        return ref_y[:, None] | ref_x[None, :]


@dataclass(frozen=True)
class NoiseModel:
    """Amplitudes of the simulated noise, in DN/s (1 σ unless stated).

    Attributes
    ----------
    white : float
        Read noise per pixel (uncorrelated).
    alpha : float
        Spectral index of the 1/f noise, ``P(f) ∝ f^-alpha``.
    common_1f : float
        RMS of the 1/f series shared by all outputs, over one full-frame read.
    output_1f : float
        RMS of each output's own 1/f series, over one full-frame read.
    acn_offset : float
        σ of the constant even/odd (alternating column) offset of each output.
    acn_drift : float
        RMS of the slow 1/f drift of that offset over the lines of a full frame.
    picture_frame : float
        σ of the offset next to each of the four edges of the detector.
    picture_frame_scale : float
        e-folding distance of the picture frame from the edge, in pixels.
    exposure_seconds : float
        Effective exposure time, only used for the photon noise of the scene
        (gain 1 e⁻/DN assumed).
    """

    white: float = 0.010
    alpha: float = 1.0
    common_1f: float = 0.015
    output_1f: float = 0.005
    acn_offset: float = 0.004
    acn_drift: float = 0.002
    picture_frame: float = 0.02
    picture_frame_scale: float = 80.0
    exposure_seconds: float = 1000.0


@functools.lru_cache(maxsize=8)
def _unit_amplitude(length: int, alpha: float) -> np.ndarray:
    """``sqrt(f_k^-α / 2)`` for the two-sided DFT bins of a length-``L`` series.

    ``f_k = |k|/L`` in cycles per tick; 0 at DC. With ``E|Z_k|² = f_k^-α`` the real and
    imaginary parts of the inverse FFT (norm="ortho") each have spectrum ``f^-α``.
    """
    k = np.abs(scipy.fft.fftfreq(length) * length)
    amplitude = np.zeros(length, dtype=np.float32)
    amplitude[k > 0] = np.sqrt(0.5 * (k[k > 0] / length) ** -alpha)
    amplitude.flags.writeable = False
    return amplitude


@functools.lru_cache(maxsize=8)
def _unit_variance(n_reference: int, alpha: float) -> float:
    """Expected variance of a length-``n`` series with spectrum ``f^-α`` (A = 1)."""
    k = np.arange(1, n_reference // 2 + 1)
    return float(np.sum((k / n_reference) ** -alpha) / n_reference)


def one_over_f_series(
    n: int,
    rms_reference: np.ndarray,
    n_reference: int,
    rng: np.random.Generator,
    alpha: float = 1.0,
) -> np.ndarray:
    """Return independent 1/f noise series of length ``n`` (float32), one per RMS given.

    The one-sided spectrum is ``P(f) = A²/f^α`` (no DC term), with ``A`` chosen so that
    a series of ``n_reference`` samples has expected RMS ``rms_reference``. Each complex
    inverse FFT yields two independent real series (its real and imaginary parts).

    Parameters
    ----------
    n : int
        Length of each series.
    rms_reference : array_like of float
        For each series, its expected RMS over ``n_reference`` samples.
    n_reference : int
        The length at which ``rms_reference`` holds.
    rng : numpy.random.Generator
        Source of randomness.
    alpha : float
        Spectral index (1 = pink noise).

    Returns
    -------
    ndarray
        Shape ``(len(rms_reference), n)``, float32.
    """
    rms = np.atleast_1d(np.asarray(rms_reference, dtype=np.float64))
    length = scipy.fft.next_fast_len(max(int(n), 2))
    npairs = (rms.size + 1) // 2
    z = np.empty((npairs, length), dtype=np.complex64)
    z.real = rng.standard_normal((npairs, length), dtype=np.float32)
    z.imag = rng.standard_normal((npairs, length), dtype=np.float32)
    z *= _unit_amplitude(length, float(alpha))
    series = scipy.fft.ifft(z, axis=-1, norm="ortho", overwrite_x=True)
    scale = (rms / np.sqrt(_unit_variance(int(n_reference), float(alpha)))).astype(np.float32)
    out = np.empty((rms.size, n), dtype=np.float32)
    for i in range(rms.size):
        part = series[i // 2].real if i % 2 == 0 else series[i // 2].imag
        np.multiply(part[:n], scale[i], out=out[i])
    return out


def one_over_f_autocovariance(
    max_lag: int, rms_reference: float, n_reference: int, n: int, alpha: float = 1.0
) -> np.ndarray:
    """Autocovariance of :func:`one_over_f_series` at lags ``0 … max_lag`` (float64).

    Exact for the generator: the series is the real part of an inverse FFT of length
    ``L`` (``n`` rounded up to a fast length) whose bins have variance ``f_k^-α``, so
    ``R(τ) = s² (1/L) Σ_k ½ f_k^-α cos(2πkτ/L)`` with ``s`` the RMS scale. Optimal
    (Gaussian-process) estimates of the simulated noise, the floor any cleaner can reach,
    are built from it (``bench/bench_time_floor.py``).

    Parameters
    ----------
    max_lag : int
        Largest lag, in samples (< n).
    rms_reference, n_reference : float, int
        As for :func:`one_over_f_series`.
    n : int
        Length of the generated series (it fixes the lowest frequency).
    alpha : float
        Spectral index.

    Returns
    -------
    ndarray
        ``R(0) … R(max_lag)``.
    """
    length = scipy.fft.next_fast_len(max(int(n), 2))
    power = np.asarray(_unit_amplitude(length, float(alpha)), dtype=np.float64) ** 2
    covariance = scipy.fft.ifft(power).real[: int(max_lag) + 1]
    return covariance * rms_reference**2 / _unit_variance(int(n_reference), float(alpha))


def edge_profile(index: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Shape of the picture frame along full-frame ``index`` (line or sample numbers):
    ``exp(−d/scale)`` with ``d`` the distance inside the reference border, from the low
    and from the high edge (the two profiles an edge's random amplitude multiplies)."""
    first, last = REFERENCE_BORDER, FULL_SIZE - 1 - REFERENCE_BORDER
    low = np.exp(-np.clip(index - first, 0, None) / scale)
    high = np.exp(-np.clip(last - index, 0, None) / scale)
    return low, high


def _detector_geometry(window: Window, detector: str) -> tuple[np.ndarray, np.ndarray]:
    """Full-frame (line, sample) index of each detector-orientation line and sample."""
    i = np.arange(window.nx)
    # NRS2: detector line i is DMS column nx-1-i, whose full-frame line is 2047 - x.
    lines = window.x0 + i if detector == "NRS1" else FULL_SIZE - window.x0 - window.nx + i
    samples = window.y0 + np.arange(window.ny)
    return lines, samples


def _picture_frame(
    lines: np.ndarray, samples: np.ndarray, model: NoiseModel, rng: np.random.Generator
) -> np.ndarray:
    """Edge offsets in detector orientation, from full-frame line/sample indices."""
    amps = rng.standard_normal(4) * model.picture_frame

    def edge(index: np.ndarray, a_low: float, a_high: float) -> np.ndarray:
        low, high = edge_profile(index, model.picture_frame_scale)
        return (a_low * low + a_high * high).astype(np.float32)

    return edge(lines, amps[0], amps[1])[:, None] + edge(samples, amps[2], amps[3])[None, :]


def correlated_noise(
    window: Window, detector: str, model: NoiseModel, rng: np.random.Generator,
    readpatt: str | None = None,
) -> np.ndarray:
    """Simulate one integration's correlated noise (1/f, ACN, picture frame).

    Parameters
    ----------
    window : Window
        Placement of the image on the detector (DMS).
    detector : {"NRS1", "NRS2"}
        Decides how detector lines map to DMS columns.
    model : NoiseModel
        Amplitudes.
    rng : numpy.random.Generator
        Source of randomness.
    readpatt : str, optional
        Header ``READPATT``: NRSIRS2 and NRSIRS2RAPID read with IRS² timing (full-frame
        lines only), anything else with the traditional timing.

    Returns
    -------
    ndarray
        float32 ``(ny, nx)`` in DMS orientation.
    """
    nlines, nsamples = window.nx, window.ny  # detector orientation: lines = DMS columns
    timing = line_timing(FULL_SIZE if nsamples == FULL_SIZE else nsamples, readpatt)
    noutputs, period = timing.outputs, timing.line_ticks
    nticks = nlines * period

    rms = [model.common_1f] + [model.output_1f] * noutputs
    series = one_over_f_series(nticks, np.array(rms), REFERENCE_READ_TICKS, rng, model.alpha)
    acn = one_over_f_series(nlines, np.full(noutputs, model.acn_drift), FULL_SIZE, rng)
    acn += (rng.standard_normal(noutputs) * model.acn_offset).astype(np.float32)[:, None]

    # (series, line, tick within the line) gathered at each sample's tick
    by_line = series.reshape(1 + noutputs, nlines, period)
    tick, output = timing.tick, timing.output
    det = by_line[0][:, tick] + by_line[1 + output, :, tick].T
    # ACN sign (-1)^tick, tick = line*period + t: an outer product of two ±1 vectors.
    line_sign = 1 - 2 * ((np.arange(nlines) * period) % 2).astype(np.float32)
    sample_sign = 1 - 2 * (tick % 2).astype(np.float32)
    det += (acn[output].T * line_sign[:, None]) * sample_sign[None, :]

    lines, samples = _detector_geometry(window, detector)
    det += _picture_frame(lines, samples, model, rng)
    return np.ascontiguousarray(detector_to_dms(det.astype(np.float32, copy=False), detector))


def white_noise(scene: np.ndarray, model: NoiseModel, rng: np.random.Generator) -> np.ndarray:
    """Uncorrelated noise: read noise plus the photon noise of ``scene`` (Gaussian).

    Returns float32 noise of the scene's shape, σ² = white² + max(scene, 0)/exposure.
    """
    return rng.standard_normal(scene.shape, dtype=np.float32) * expected_error(scene, model)


def expected_error(scene: np.ndarray, model: NoiseModel) -> np.ndarray:
    """The 1-σ uncorrelated noise per pixel (what the ERR extension holds), float32."""
    variance = model.white**2 + np.clip(scene, 0, None) / model.exposure_seconds
    return np.sqrt(variance).astype(np.float32)
