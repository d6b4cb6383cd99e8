"""The whole application state in one object: models and settings, saved as one dict.

:class:`Workspace` gathers the models the window's parts share: the loaded products
(:class:`~app.core.files.stack.ImageStack`), the display settings
(:class:`~app.core.display.stretch.DisplayModel`), the mask layers
(:class:`~app.core.mask.model.MaskModel`) and the settings states of
:mod:`app.core.state.states` (cleaning parameters, threshold settings, paint tool, view).
Controllers and widgets receive the parts they use; a session and the autosave store
:meth:`Workspace.settings_dict` and give it back to :meth:`Workspace.apply_settings`, so
a setting added to a state is saved without touching the session code.
"""

from __future__ import annotations

from typing import Any

from app.core.clean import CleanParams
from app.core.display.stretch import DisplayModel, DisplaySettings
from app.core.errors import InputError
from app.core.files.stack import ImageStack
from app.core.mask.model import MaskModel
from app.core.state.events import Event
from app.core.state.states import (
    PaintSettings,
    SettingsState,
    ViewSettings,
    value_from_dict,
    value_to_dict,
)
from app.core.state.undo import UndoStack
from app.core.threshold.traces import ThresholdSettings

#: The settings states of a workspace, by the name they are saved under.
STATES = ("cleaning", "threshold", "paint", "view")
#: The states whose changes are work a user would not want to lose (autosaved).
WORK_STATES = ("cleaning", "threshold")


class Workspace:
    """Models and settings of one window.

    Attributes
    ----------
    stack, display, masks
        The products, the display settings and the mask layers.
    cleaning, threshold, paint, view : SettingsState
        The cleaning parameters, threshold settings, paint tool and view choices.
    undo : UndoStack
        The one undo history of the window.
    revision : int
        Bumped by every change of a state in :data:`WORK_STATES` (autosave compares it).

    Events
    ------
    changed(str, frozenset)
        A settings state changed: its name and the changed field names.
    """

    def __init__(self) -> None:
        self.stack = ImageStack()
        self.display = DisplayModel()
        self.masks = MaskModel()
        self.cleaning: SettingsState[CleanParams] = SettingsState(CleanParams())
        self.threshold: SettingsState[ThresholdSettings] = SettingsState(ThresholdSettings())
        self.paint: SettingsState[PaintSettings] = SettingsState(PaintSettings())
        self.view: SettingsState[ViewSettings] = SettingsState(ViewSettings())
        #: Edit ▸ Undo: mask actions and settings commands (Auto-tune, Defaults) in order.
        self.undo = UndoStack(self.masks)
        self.revision = 0
        self.changed = Event()
        for name in STATES:
            self.state(name).changed.connect(
                lambda fields, name=name: self._on_state_changed(name, fields))

    def state(self, name: str) -> SettingsState[Any]:
        """The settings state saved under ``name`` (one of :data:`STATES`)."""
        if name not in STATES:
            raise KeyError(name)
        return getattr(self, name)  # type: ignore[no-any-return]

    def _on_state_changed(self, name: str, fields: frozenset[str]) -> None:
        if name in WORK_STATES:
            self.revision += 1
        self.changed.emit(name, fields)

    # --- saving and restoring ---------------------------------------------------------
    def settings_dict(self) -> dict[str, dict[str, Any]]:
        """Every setting as JSON values: one table per state, plus the display settings
        and the combination of the stack."""
        out = {name: self.state(name).to_dict() for name in STATES}
        out["display"] = value_to_dict(self.display.settings)
        out["combine"] = {"method": self.stack.method}
        return out

    def apply_settings(self, data: object) -> list[str]:
        """Adopt the tables of :meth:`settings_dict`; each is checked on its own, so a
        damaged one is reported (the returned notes) and the others are still restored.
        Tables missing from ``data`` leave their settings as they are."""
        if not isinstance(data, dict):
            return ["The settings were not restored (not a table of settings)."]
        notes = []
        for name, restore in self._restorers().items():
            if name not in data:
                continue
            try:
                restore(data[name])
            except (InputError, TypeError, ValueError) as exc:
                notes.append(f"The {name} settings were not restored ({exc}).")
        return notes

    def _restorers(self) -> dict[str, Any]:
        restorers: dict[str, Any] = {name: self.state(name).from_dict for name in STATES}
        restorers["display"] = self._restore_display
        restorers["combine"] = self._restore_combine
        return restorers

    def _restore_display(self, data: object) -> None:
        settings = value_to_dict(value_from_dict(DisplaySettings(), data))
        self.display.update(**{name: tuple(value) if isinstance(value, list) else value
                               for name, value in settings.items()})

    def _restore_combine(self, data: object) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("method"), str):
            raise InputError("expected a combination method")
        self.stack.set_method(data["method"])

