"""What the preview shows besides the images: plot curves, display levels, status text.

Qt-free helpers for :mod:`app.widgets.preview_plots`, :mod:`app.widgets.preview_panel` and
:mod:`app.preview_controller`, computed from a :class:`~app.core.engine.incremental.PreviewResult`.

The fast-axis power spectrum is the mean of one periodogram per detector line (the
definition of :func:`app.core.simulation.metrics.fast_axis_power_spectrum`). :class:`CurveBuilder`
keeps those periodograms between previews and recomputes only the lines that changed:
after a stroke, the lines whose background changed (before and after cleaning) and the
lines whose model changed by more than a constant (after cleaning; a constant does not
change a periodogram of mean-subtracted data). A parameter change leaves the "before"
spectrum as it is. So the plots of a stroke cost a few milliseconds, not two 2048-line
FFTs.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import scipy.fft

from app.core.engine.incremental import PreviewResult
from app.core.errors import MaskError
from app.core.generators import run_to_end
from app.core.orientation import detector_to_dms_coords
from app.core.simulation.noise import TICK_SECONDS

#: Lines with fewer valid samples are left out of the spectrum (as in ``metrics``).
MIN_SPECTRUM_SAMPLES = 32
#: Lines per step: bounded temporary memory, and a point where a stale job can stop.
SPECTRUM_CHUNK = 256
CurveProgress = Generator[tuple[float, str], None, "PreviewCurves"]


@dataclass(frozen=True)
class PreviewCurves:
    """Before/after curves for the preview plots (x values and both series).

    ``profile_*`` are background means per DMS row (``axis="rows"``, averaged along the
    dispersion direction) or per DMS column (``axis="columns"``, along the detector
    lines); ``spectrum_*`` are :func:`~app.core.simulation.metrics.fast_axis_power_spectrum` powers
    at ``frequency_hz`` (None when no line has enough background). ``with_spectrum`` is
    False when the spectrum was not asked for (its plot is not shown): keep the old one.
    """

    profile_x: np.ndarray
    profile_before: np.ndarray
    profile_after: np.ndarray
    frequency_hz: np.ndarray | None
    spectrum_before: np.ndarray | None
    spectrum_after: np.ndarray | None
    with_spectrum: bool = True


def background_profile(image: np.ndarray, usable: np.ndarray, axis: str = "rows") -> np.ndarray:
    """Mean of the usable pixels of each DMS row (``"rows"``) or column (``"columns"``).

    NaN where a row or column has no usable pixel.
    """
    along = 1 if axis == "rows" else 0
    valid = usable & np.isfinite(image)
    total = np.where(valid, image, np.float32(0)).sum(axis=along, dtype=np.float64)
    count = np.count_nonzero(valid, axis=along)
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


#: The profile plot's vertical range spans these percentiles of its curves (plus a
#: margin): a few rows hit by cosmic rays or hot pixels would otherwise set the scale
#: and flatten the banding the plot is there to show.
PROFILE_PERCENTILES = (1.0, 99.0)


def profile_range(*curves: np.ndarray, margin: float = 0.15) -> tuple[float, float] | None:
    """Vertical range for profile curves that ignores their few most extreme points.

    Parameters
    ----------
    *curves : ndarray
        Profiles (NaN allowed, ignored).
    margin : float
        Added above and below, as a fraction of the range.

    Returns
    -------
    (low, high) or None
        None when no curve has a finite value.
    """
    values = np.concatenate([np.ravel(c) for c in curves]) if curves else np.empty(0)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    low, high = (float(v) for v in np.percentile(values, PROFILE_PERCENTILES))
    pad = margin * (high - low) or max(abs(high), 1e-6) * margin
    return low - pad, high + pad


def line_periodograms(image: np.ndarray, usable: np.ndarray, columns: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Periodograms of the detector lines at DMS ``columns``, and their valid samples.

    Each line's valid samples (usable and finite) minus their mean, every other sample 0,
    gives ``|rfft|² / n_valid`` (float32, one row per column; zeros for an empty line).
    """
    valid = usable[:, columns] & np.isfinite(image[:, columns])
    counts = np.count_nonzero(valid, axis=0)
    values = np.where(valid, image[:, columns], np.float32(0))
    means = values.sum(axis=0, dtype=np.float64) / np.maximum(counts, 1)
    values -= means.astype(np.float32)
    values *= valid
    spectrum = scipy.fft.rfft(np.ascontiguousarray(values.T), axis=1)
    power = spectrum.real ** 2 + spectrum.imag ** 2
    power /= np.maximum(counts, 1)[:, None]
    return power.astype(np.float32, copy=False), counts


def mean_spectrum(power: np.ndarray, counts: np.ndarray, samples: int,
                  min_samples: int = MIN_SPECTRUM_SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (Hz) and the one-sided mean periodogram of the lines with enough samples.

    Raises
    ------
    MaskError
        If no line has ``min_samples`` valid samples.
    """
    keep = counts >= min_samples
    if not keep.any():
        raise MaskError(f"no detector line has {min_samples} finite background pixels")
    mean = power[keep].mean(axis=0, dtype=np.float64)
    mean[1:] *= 2.0  # one-sided density: every frequency but 0 and Nyquist counts twice
    if samples % 2 == 0:
        mean[-1] *= 0.5
    return np.fft.rfftfreq(samples) / TICK_SECONDS, mean


@dataclass(frozen=True)
class _Spectra:
    """Per-line periodograms of one image/usable pair (the arrays of one result)."""

    image: np.ndarray
    usable: np.ndarray
    serial: int
    power: np.ndarray
    counts: np.ndarray


class CurveBuilder:
    """Builds :class:`PreviewCurves` for successive previews, reusing unchanged lines.

    Thread-safe: one computation at a time; a computation that is stopped early (a
    closed generator) leaves the kept periodograms as they were.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._before: _Spectra | None = None
        self._after: _Spectra | None = None

    def curves(self, result: PreviewResult, axis: str = "rows",
               spectrum: bool = True) -> PreviewCurves:
        """The curves of ``result``; see :meth:`iter_curves`."""
        return run_to_end(self.iter_curves(result, axis, spectrum))

    def iter_curves(self, result: PreviewResult, axis: str = "rows",
                    spectrum: bool = True) -> CurveProgress:
        """Generator: yields ``(fraction, message)``, returns the curves of ``result``.

        Parameters
        ----------
        result : PreviewResult
        axis : {"rows", "columns"}
            Profile direction (see :func:`background_profile`).
        spectrum : bool
            Compute the power spectra too (only when their plot is shown).
        """
        before = background_profile(result.image, result.usable, axis)
        after = background_profile(result.cleaned, result.usable, axis)
        x = np.arange(before.size)
        if not spectrum:
            return PreviewCurves(x, before, after, None, None, None, with_spectrum=False)
        with self._lock:
            yield 0.2, "spectrum before cleaning"
            old = self._before
            stale = None if old is None or old.image is not result.image else \
                np.flatnonzero(np.any(old.usable != result.usable, axis=0))
            spectra_before = yield from self._update(old, result.image, result, stale)
            yield 0.6, "spectrum after cleaning"
            old = self._after
            stale = None
            if (old is not None and old.image is result.image and old.serial == result.base
                    and result.changed_columns is not None):
                moved = np.flatnonzero(np.any(old.usable != result.usable, axis=0))
                stale = np.union1d(result.changed_columns, moved)
            elif old is not None and old.serial == result.serial:
                stale = np.zeros(0, int)
            spectra_after = yield from self._update(old, result.cleaned, result, stale)
            self._before, self._after = spectra_before, spectra_after
        try:
            freq, sb = mean_spectrum(spectra_before.power, spectra_before.counts,
                                     result.image.shape[0])
            _, sa = mean_spectrum(spectra_after.power, spectra_after.counts,
                                  result.image.shape[0])
        except MaskError:  # no line with enough background: no spectrum to show
            return PreviewCurves(x, before, after, None, None, None)
        return PreviewCurves(x, before, after, freq, sb, sa)

    @staticmethod
    def _update(old: _Spectra | None, image: np.ndarray, result: PreviewResult,
                stale: np.ndarray | None) -> Generator[tuple[float, str], None, _Spectra]:
        """``old`` with the ``stale`` lines recomputed (every line when None), as a copy."""
        nx = image.shape[1]
        if old is None or stale is None:
            power = np.empty((nx, image.shape[0] // 2 + 1), dtype=np.float32)
            counts = np.zeros(nx, dtype=np.int64)
            stale = np.arange(nx)
        elif stale.size == 0:
            return _Spectra(result.image, result.usable, result.serial, old.power, old.counts)
        else:
            power, counts = old.power.copy(), old.counts.copy()
        for start in range(0, stale.size, SPECTRUM_CHUNK):
            columns = stale[start:start + SPECTRUM_CHUNK]
            power[columns], counts[columns] = line_periodograms(image, result.usable, columns)
            if start + SPECTRUM_CHUNK < stale.size:
                yield start / stale.size, "spectrum"
        return _Spectra(result.image, result.usable, result.serial, power, counts)


def preview_curves(result: PreviewResult, axis: str = "rows",
                   spectrum: bool = True) -> PreviewCurves:
    """Profiles (and fast-axis power spectra) of the original and cleaned image, from
    scratch (:class:`CurveBuilder` reuses the lines that did not change)."""
    return CurveBuilder().curves(result, axis, spectrum)


def difference_levels(levels: tuple[float, float]) -> tuple[float, float]:
    """Display levels for a difference image (model, residual): centred on zero with the
    width of the image's levels, so a stripe looks as strong as it does in the image."""
    half = 0.5 * (float(levels[1]) - float(levels[0]))
    return -half, half


def unfit_columns(result: PreviewResult) -> np.ndarray:
    """DMS columns of the detector lines that were not fit."""
    lines = result.diagnostics.unfit_lines
    columns = detector_to_dms_coords(lines, 0, result.detector, result.image.shape)[0]
    return np.sort(np.asarray(columns, dtype=int))


def format_runs(values: np.ndarray, limit: int = 8) -> str:
    """``[3, 4, 5, 9]`` → ``"3–5, 9"`` (at most ``limit`` runs, then "…")."""
    values = np.unique(np.asarray(values, dtype=int))
    if values.size == 0:
        return ""
    breaks = np.flatnonzero(np.diff(values) > 1)
    starts, stops = values[np.r_[0, breaks + 1]], values[np.r_[breaks, values.size - 1]]
    runs = [f"{a}" if a == b else f"{a}–{b}" for a, b in zip(starts, stops, strict=True)]
    return ", ".join(runs[:limit]) + (", …" if len(runs) > limit else "")


def summary(result: PreviewResult) -> tuple[str, bool]:
    """One status line for the preview and whether it reports a problem (unfit lines)."""
    ms = 1e3 * result.seconds
    if result.full:
        text = f"Cleaned the whole frame in {ms:.0f} ms"
    else:
        text = f"Refit {result.refit_columns.size} line(s) in {ms:.0f} ms"
    unfit = result.diagnostics.unfit_lines
    reduced = result.diagnostics.reduced_lines
    if unfit.size == 0 and reduced.size == 0:
        return text + ".", False
    if unfit.size:
        text += (f". {unfit.size} detector line(s) have fewer than "
                 f"{result.diagnostics.min_samples} background samples and are not cleaned: "
                 f"lines {format_runs(unfit)} (DMS columns "
                 f"{format_runs(unfit_columns(result))})")
    if reduced.size:
        text += (f". {reduced.size} detector line(s) have their background in too few "
                 f"places for the Fourier fit; only their mean level is removed: lines "
                 f"{format_runs(reduced)}")
    return text + ".", True
