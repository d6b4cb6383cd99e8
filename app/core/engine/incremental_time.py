"""The live preview's incremental refit for the read-time fit (method "time").

The read-time fit is independent per detector line (no buffing; weights, outlier
statistics and the least-squares solve use the line's own samples), and a change ``δ``
of the background level moves every fitted line's model by exactly ``−δ`` (the common
mean is not penalised by the prior, and the median, MAD and solve follow a constant
shift). So after a brush stroke only the lines whose usable background changed are
refit, on a narrow slice of the frame; the others move by the level change.
:class:`~app.core.engine.incremental.IncrementalCleaner` calls :func:`refit`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.engine.readtime import LineTiming
from app.core.engine.time_fit import TimeFitSettings, TimeFitter


@dataclass
class TimeState:
    """What an incremental update of a "time" preview needs from the previous one."""

    timing: LineTiming
    settings: TimeFitSettings
    counts: np.ndarray  # usable samples per DMS column
    fitted: np.ndarray  # bool per column: the column was fit
    reduced: np.ndarray  # bool per column: fitted by its mean level only
    level: float
    sorted_background: np.ndarray | None = None  # see IncrementalCleaner._level


def refit(state: TimeState, image: np.ndarray, usable: np.ndarray, columns: np.ndarray,
          level: float, model: np.ndarray, detector: str) -> tuple[np.ndarray, TimeState]:
    """The model after the usable background changed in ``columns`` (sorted DMS columns).

    Parameters
    ----------
    state : TimeState
        The previous fit.
    image : ndarray, float32
        The frame (DMS).
    usable : ndarray of bool
        The new usable background (whole frame).
    columns : ndarray of int
        Columns whose usable background changed.
    level : float
        The new background level.
    model : ndarray
        The previous model (not modified).
    detector : str

    Returns
    -------
    model : ndarray, float32
        The new model.
    state : TimeState
        The new state (``sorted_background`` left for the caller to set).
    """
    shift = np.float32(level - state.level)
    # one broadcast pass (a boolean column index would copy the frame twice)
    out = model - shift * state.fitted.astype(np.float32) if shift else model.copy()
    sub_usable = np.ascontiguousarray(usable[:, columns])
    sub_data = np.ascontiguousarray(image[:, columns]) - np.float32(level)
    fitter = TimeFitter(sub_usable.shape, detector, state.timing, state.settings)
    fit, reduced = fitter.fit(sub_data, sub_usable)
    out[:, columns] = fitter.model(fit.theta)
    counts, fitted, all_reduced = state.counts.copy(), state.fitted.copy(), state.reduced.copy()
    counts[columns], fitted[columns], all_reduced[columns] = fit.counts, fit.fitted, reduced
    return out, TimeState(state.timing, state.settings, counts, fitted, all_reduced, level)
