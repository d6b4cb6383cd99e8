"""What the preview shows besides the images: plot curves, display levels, status text.

Qt-free helpers for :mod:`app.widgets.preview_plots`, :mod:`app.widgets.preview_panel` and
:mod:`app.preview_controller`, computed from a :class:`~app.core.preview.PreviewResult`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.errors import MaskError
from app.core.orientation import detector_to_dms_coords
from app.core.preview import PreviewResult


@dataclass(frozen=True)
class PreviewCurves:
    """Before/after curves for the preview plots (x values and both series).

    ``profile_*`` are background means per DMS row (``axis="rows"``, averaged along the
    dispersion direction) or per DMS column (``axis="columns"``, along the detector
    lines); ``spectrum_*`` are :func:`~app.core.metrics.fast_axis_power_spectrum` powers
    at ``frequency_hz``.
    """

    profile_x: np.ndarray
    profile_before: np.ndarray
    profile_after: np.ndarray
    frequency_hz: np.ndarray | None
    spectrum_before: np.ndarray | None
    spectrum_after: np.ndarray | None


def background_profile(image: np.ndarray, usable: np.ndarray, axis: str = "rows") -> np.ndarray:
    """Mean of the usable pixels of each DMS row (``"rows"``) or column (``"columns"``).

    NaN where a row or column has no usable pixel.
    """
    along = 1 if axis == "rows" else 0
    valid = usable & np.isfinite(image)
    total = np.where(valid, image, np.float32(0)).sum(axis=along, dtype=np.float64)
    count = np.count_nonzero(valid, axis=along)
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def preview_curves(result: PreviewResult, axis: str = "rows",
                   spectrum: bool = True) -> PreviewCurves:
    """Profiles (and fast-axis power spectra) of the original and cleaned image."""
    from app.core.metrics import fast_axis_power_spectrum

    before = background_profile(result.image, result.usable, axis)
    after = background_profile(result.cleaned, result.usable, axis)
    freq = sb = sa = None
    if spectrum:
        try:
            pb = fast_axis_power_spectrum(result.image, result.usable, result.detector)
            pa = fast_axis_power_spectrum(result.cleaned, result.usable, result.detector)
            freq, sb, sa = pb.frequency_hz, pb.power, pa.power
        except MaskError:  # no line with enough background: no spectrum to show
            pass
    return PreviewCurves(np.arange(before.size), before, after, freq, sb, sa)


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
    if unfit.size == 0:
        return text + ".", False
    return (f"{text}. {unfit.size} detector line(s) have fewer than "
            f"{result.diagnostics.min_samples} background samples and are not cleaned: lines "
            f"{format_runs(unfit)} (DMS columns {format_runs(unfit_columns(result))}).", True)
