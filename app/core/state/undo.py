"""One Edit ▸ Undo history for the whole window: mask actions and settings commands.

Mask actions keep their pixels in the undo history of their own layers
(:class:`~app.core.mask.undo.History`, diff tiles with a memory bound); this stack only
records *that* such an action happened, in order with the settings commands (Auto-tune,
Defaults: :meth:`UndoStack.set`). Undo takes back the newest entry that concerns what is
on screen: a settings command, or an action of the current layers. Actions of layers not
shown (another detector's image, kept for switching back) stay in place until their
layers return; entries whose layers are gone or whose pixels the memory bound dropped are
forgotten.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from app.core.mask.layers import MaskLayers
from app.core.mask.model import MaskModel
from app.core.state.events import Event
from app.core.state.states import SettingsState


@dataclass
class SetCommand:
    """A settings state changed from ``old`` to ``new`` (undo puts ``old`` back)."""

    state: SettingsState[Any]
    old: Any
    new: Any
    label: str


@dataclass
class _MaskEntry:
    """An action stored in the history of one set of layers."""

    layers: weakref.ReferenceType[MaskLayers]


class UndoStack:
    """The window's undo and redo, over the mask layers of ``masks`` and settings states.

    Events
    ------
    changed()
        What :attr:`undo_label` / :attr:`redo_label` say may have changed.
    """

    def __init__(self, masks: MaskModel) -> None:
        self.masks = masks
        self._done: list[SetCommand | _MaskEntry] = []
        self._undone: list[SetCommand | _MaskEntry] = []
        self._watched: weakref.WeakSet[MaskLayers] = weakref.WeakSet()
        self.changed = Event()
        masks.replaced.connect(self._watch)
        masks.changed.connect(lambda _box: self.changed.emit())

    # --- recording --------------------------------------------------------------------
    def set(self, state: SettingsState[Any], value: Any, label: str) -> bool:
        """Change ``state`` to ``value`` as one undoable command; True if it changed."""
        old = state.value
        if not state.set(value):
            return False
        self._push(SetCommand(state, old, state.value, label))
        return True

    def _watch(self, layers: MaskLayers | None) -> None:
        if layers is not None and layers not in self._watched:
            self._watched.add(layers)
            ref = weakref.ref(layers)
            layers.history.pushed.connect(lambda _item, ref=ref: self._mask_pushed(ref))
        self.changed.emit()

    def _mask_pushed(self, ref: weakref.ReferenceType[MaskLayers]) -> None:
        self._push(_MaskEntry(ref))
        layers = ref()
        if layers is not None:  # the history keeps a bounded number of actions
            mine = [e for e in self._done if isinstance(e, _MaskEntry) and e.layers is ref]
            for entry in mine[: max(0, len(mine) - len(layers.history))]:
                self._done.remove(entry)

    def _push(self, entry: SetCommand | _MaskEntry) -> None:
        self._done.append(entry)
        self._undone.clear()
        self.changed.emit()

    # --- undo and redo ----------------------------------------------------------------
    def _next(self, entries: list[SetCommand | _MaskEntry], redo: bool) -> int | None:
        """Index of the newest entry that applies now (stale ones are dropped)."""
        for i in range(len(entries) - 1, -1, -1):
            entry = entries[i]
            if isinstance(entry, SetCommand):
                return i
            layers = entry.layers()
            if layers is None:
                del entries[i]
                continue
            if layers is not self.masks.layers:
                continue  # another image's action: kept until its layers return
            history = layers.history
            if history.can_redo if redo else history.can_undo:
                return i
            if not history.recording:
                del entries[i]  # dropped by the history's memory bound
        return None

    def _label(self, entries: list[SetCommand | _MaskEntry], redo: bool) -> str | None:
        i = self._next(entries, redo)
        if i is None:
            return None
        entry = entries[i]
        if isinstance(entry, SetCommand):
            return entry.label
        layers = entry.layers()
        history = layers.history  # type: ignore[union-attr]
        return history.redo_label if redo else history.undo_label

    @property
    def undo_label(self) -> str | None:
        """What :meth:`undo` would take back (None: nothing)."""
        return self._label(self._done, False)

    @property
    def redo_label(self) -> str | None:
        """What :meth:`redo` would do again (None: nothing)."""
        return self._label(self._undone, True)

    def undo(self) -> str | None:
        """Take back the newest action or command; returns its label."""
        return self._move(self._done, self._undone, redo=False)

    def redo(self) -> str | None:
        """Do again what was undone last; returns its label."""
        return self._move(self._undone, self._done, redo=True)

    def _move(self, source: list[SetCommand | _MaskEntry],
              target: list[SetCommand | _MaskEntry], redo: bool) -> str | None:
        label = self._label(source, redo)
        i = self._next(source, redo)
        if i is None:
            return None
        entry = source.pop(i)
        if isinstance(entry, SetCommand):
            entry.state.set(entry.new if redo else entry.old)
        else:
            layers: MaskLayers = entry.layers()  # type: ignore[assignment]
            _ = layers.redo() if redo else layers.undo()
        target.append(entry)
        self.changed.emit()
        return label

    def clear(self) -> None:
        """Forget every command (the mask layers keep their own history)."""
        self._done.clear()
        self._undone.clear()
        self.changed.emit()

