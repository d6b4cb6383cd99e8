"""Auto-tune from the Cleaning panel: cross-validation off the GUI thread, undoable apply.

"Auto-tune…" runs :func:`app.core.tuning.tune.iter_tune` on the working image and the current
background mask in the window's TaskRunner (progress in a dialog, Cancel closes the
generator at its next step). When it finishes, the best parameters go into the
parameter form (which restarts the live preview) and the dialog shows one score curve
per search stage. The parameters change as one command on the window's undo stack, so
Edit ▸ Undo (Ctrl+Z) puts them back, in order with the painting. Too little background,
a subarray or the median method: a message, and the form is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QWidget

from app.core.clean import CleanParams
from app.core.errors import NSCleanError
from app.core.files.stack import ImageStack
from app.core.parameters import PARAMETERS
from app.core.state.states import SettingsState
from app.core.state.undo import UndoStack
from app.core.tuning.tune import TuneResult, TuneSettings, iter_tune, why_not_tunable
from app.widgets.live_task import LiveTask
from app.widgets.parameter_form import LINE
from app.widgets.port import MessagePort
from app.widgets.tune_dialog import Curve, TuneControls, TuneDialog
from app.widgets.workers import TaskRunner

TUNE_KEY = "tune"
#: Plot titles: the parameter table's labels, in the units the tune's values are shown in.
TITLES = {name: f"{p.label} ({p.unit})" if p.unit else p.label
          for name, p in PARAMETERS.items()} | {
    "buff_sigma": f"{PARAMETERS['buff_sigma'].label} (lines, 0 = off)",
    "fc": f"{PARAMETERS['fc'].label} (cycles/line)",
    "kw": f"{PARAMETERS['kw'].label} (× fc)"}


def _tune_job(image: np.ndarray, mask: np.ndarray, detector: str, start: CleanParams,
              settings: TuneSettings, readpatt: str | None = None
              ) -> Generator[tuple[float, str], None, TuneResult]:
    return (yield from iter_tune(image, mask, detector, start=start, settings=settings,
                                 readpatt=readpatt))


def _label(name: str, value: object) -> str:
    if isinstance(value, str):
        return value
    if name == "fc":
        return f"{float(value) * LINE:.3g}"
    return f"{float(value):.3g}"


def tune_curves(result: TuneResult) -> list[Curve]:
    """One :class:`Curve` per search stage (error bars: paired standard errors against the
    stage's best value, the uncertainty that decides the choice)."""
    curves, seen = [], set()
    for stage in result.stages:
        title = TITLES.get(stage.name, stage.name) + (" (again)" if stage.name in seen else "")
        seen.add(stage.name)
        curves.append(Curve(title, [_label(stage.name, v) for v in stage.values],
                            list(stage.scores), list(stage.diff_errors), stage.chosen))
    return curves


def describe_changes(result: TuneResult) -> str:
    """``fc 8 → 12 cycles/line, buffing σ 1.5 → 1`` (or ``no change``)."""
    changes = result.changes()
    if not result.best.buff:
        changes.pop("buff_sigma", None)  # unused without buffing
    if result.best.fit != "real":
        changes.pop("ridge", None)
    if result.best.method != "time":  # the read-time fit's own settings: unused
        for name in ("time_ridge", "output_terms", "harmonics"):
            changes.pop(name, None)
    parts = []
    for name, (old, new) in changes.items():
        if name in ("fc", "kw"):
            show = [("auto" if v is None else f"{float(v) * LINE:.3g}") for v in (old, new)]
            cut = " (hard cut)" if name == "kw" and new == 0 else ""
            parts.append(f"{name} {show[0]} → {show[1]} cycles/line{cut}")
        elif name == "buff":
            parts.append(f"buffing {'on' if new else 'off'}")
        elif name == "ridge":
            parts.append(f"1/f prior {old:g} → {new:g}")
        elif isinstance(new, float):
            parts.append(f"{name.replace('_', ' ')} {old:g} → {new:g}")
        else:
            parts.append(f"{name.replace('_', ' ')} {old} → {new}")
    return ", ".join(parts) or "no change"


class TuneController(QObject):
    """The Auto-tune buttons of the Cleaning panel and their dialog.

    Signals
    -------
    tuneFinished(object)
        The :class:`TuneResult` applied, or None (cancelled or refused).
    """

    tuneFinished = pyqtSignal(object)

    def __init__(self, stack: ImageStack, cleaning: SettingsState[CleanParams],
                 history: UndoStack, current_mask: Callable[[], np.ndarray | None],
                 runner: TaskRunner, port: MessagePort, parent: QWidget) -> None:
        super().__init__(parent)
        self.stack, self.cleaning, self.history = stack, cleaning, history
        self.current_mask, self.runner, self.port = current_mask, runner, port
        self._parent = parent  # of the dialog
        self.controls = TuneControls()  # placed under the cleaning form by the window
        # one tune at a time, started by the button (no debounce); the result comes back
        # with the image it was computed on
        self._request: tuple | None = None
        self.live = LiveTask(runner, TUNE_KEY, _tune_job, lambda: self._request,
                             self._on_done, self._on_error, on_progress=self._progress,
                             parent=self)
        self.settings = TuneSettings()
        self.dialog: TuneDialog | None = None
        self.result: TuneResult | None = None
        self._tuning = False  # between start and its end (the runner keeps a request longer)
        self.controls.tuneRequested.connect(self.start)
        stack.changed.connect(lambda _what: self._cancel_quietly())
        stack.changed.connect(lambda _what: self._refresh_button())
        self.cleaning.changed.connect(lambda _fields: self._refresh_button())
        self._refresh_button()

    @property
    def running(self) -> bool:
        """Whether a tune is in progress."""
        return self.live.running

    def _refresh_button(self) -> None:
        """Auto-tune is offered only where there is something to tune; the tooltip of a
        disabled button says why (a subarray, the median method)."""
        shape = self.stack.shape
        reason = None if shape is None else why_not_tunable(shape, self.cleaning.value)
        self.controls.set_tunable(reason, running=self._tuning)

    def _progress(self, fraction: float, message: str) -> None:
        if self.dialog is not None:
            self.dialog.set_progress(fraction, message)

    def _dialog(self) -> TuneDialog:
        if self.dialog is None:
            self.dialog = TuneDialog(self._parent)
            self.dialog.cancelRequested.connect(self.cancel)
            self.dialog.rejected.connect(lambda: self.running and self.cancel())
        return self.dialog

    def start(self) -> bool:
        """Tune on the working image and current mask (asynchronous); False if refused."""
        image, detector, port = self.stack.image, self.stack.detector, self.port
        mask = self.current_mask()
        if image is None or mask is None:
            port.show_message("Nothing to tune", "Load an image and paint a mask first.")
            return False
        if detector not in ("NRS1", "NRS2"):
            port.show_message("Auto-tune", "The files do not say which detector (NRS1 or "
                                "NRS2) they come from.\n\nThe parameters are unchanged.")
            return False
        refusal = why_not_tunable(image.shape, self.cleaning.value)
        if refusal:
            port.show_message("Auto-tune", f"{refusal[0].upper()}{refusal[1:]}.\n\n"
                                "The parameters are unchanged.")
            return False
        dialog = self._dialog()
        dialog.set_running(True)
        dialog.show_message("Cross-validating: fitting on most background samples and "
                            "scoring the prediction on held-out blocks…")
        dialog.show()
        dialog.raise_()
        self._tuning = True
        self._refresh_button()
        self._request = (image, mask, detector, self.cleaning.value, self.settings,
                         self.stack.readpatt)
        return self.live.submit()

    def cancel(self) -> None:
        """Stop the running tune; the parameters stay as they are."""
        self.live.cancel()
        self._tuning = False
        self._refresh_button()
        if self.dialog is not None:
            self.dialog.set_running(False)
            self.dialog.show_message("Cancelled: the parameters are unchanged.")
        self.tuneFinished.emit(None)

    def _cancel_quietly(self) -> None:
        if self.running:  # a new image: the running tune is for the old one
            self.cancel()

    def _on_done(self, inputs: tuple, result: TuneResult) -> None:
        if inputs[0] is not self.stack.image:
            return  # tuned on an image that is gone (its cancel is on the way)
        self._tuning = False
        self._refresh_button()
        self.result = result
        changes = describe_changes(result)
        self.apply(result.best)
        dialog = self._dialog()
        dialog.set_running(False)
        dialog.show_curves(tune_curves(result))
        dialog.show_message(
            f"Applied: {changes}.\nCross-validated score {result.start_score.mean:.4g} → "
            f"{result.best_score.mean:.4g} ({result.improvement:.0%} lower) in "
            f"{result.elapsed:.1f} s; {result.held_out_fraction:.0%} of the background held "
            "out per fold. Gold: the value kept in each stage; bars: ±1 paired standard "
            "error. Edit ▸ Undo (Ctrl+Z) restores the previous parameters.")
        self.controls.set_note(f"Tuned: {changes}.")
        self.tuneFinished.emit(result)

    def _on_error(self, _inputs: tuple, description: str) -> None:
        self._tuning = False
        self._refresh_button()
        if self.dialog is not None:
            self.dialog.set_running(False)
        text = f"{description}\n\nThe parameters are unchanged."
        if isinstance(self.live.last_error, NSCleanError):
            if self.dialog is not None:
                self.dialog.show_message(text, problem=True)
            self.port.show_message("Auto-tune not possible", text)
        else:
            self.port.show_message("Auto-tune failed", text, critical=True)
        self.tuneFinished.emit(None)

    def apply(self, params: CleanParams) -> None:
        """Put ``params`` into the cleaning state as one undoable command (Edit ▸ Undo)."""
        self.history.set(self.cleaning, params, "auto-tune")
