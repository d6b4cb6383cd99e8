"""Diff-based undo for boolean mask layers: old values of touched tiles, one item per action.

Before the first write to a region inside an action (a whole brush stroke, a fill, a
threshold, an import), the owner calls :meth:`History.before_write`; the history copies
the affected 64×64 tiles once. When the action ends the copies are packed to bits, tiles
that did not change are dropped, and the action becomes one :class:`UndoItem`. Tiles keep
memory proportional to the painted area (no overlap between the dabs of a stroke, no
frame-sized box for a long diagonal stroke) and make undo a handful of small copies.

Undo and redo are the same operation: swap the stored values with the current ones.
Scalar state (for example "the dark layer was edited directly") is swapped the same way
through the owner's ``swap_state`` callback. The history is bounded by item count and by
bytes; the oldest items go first.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from app.core.mask.paint import Box
from app.core.state.events import Event

TileKey = tuple[str, int, int]


@dataclass
class UndoItem:
    """One undoable action: packed tiles of the layers it touched, and scalar state."""

    label: str
    tiles: dict[TileKey, np.ndarray] = field(default_factory=dict)
    state: dict[str, object] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        """Memory held by the stored tiles."""
        return sum(t.nbytes for t in self.tiles.values())


@dataclass(frozen=True)
class Applied:
    """What an undo or redo changed, so the owner can notify its views."""

    label: str
    layers: frozenset[str]
    box: Box | None
    state_changed: bool


class History:
    """Bounded undo/redo history over named boolean arrays of one shape.

    Parameters
    ----------
    get_array : callable
        ``get_array(name)`` returns the writable layer array of that name.
    shape : tuple of int
        Shape of every layer.
    swap_state : callable, optional
        ``swap_state(values)`` applies the given scalar state and returns the previous
        values of the same keys.
    tile : int
        Tile edge in pixels.
    max_items : int
        Most undo items kept.
    max_bytes : int
        Most bytes of stored tiles kept (the newest item is always kept).
    """

    def __init__(
        self,
        get_array: Callable[[str], np.ndarray],
        shape: tuple[int, int],
        *,
        swap_state: Callable[[dict[str, object]], dict[str, object]] | None = None,
        tile: int = 64,
        max_items: int = 100,
        max_bytes: int = 128 * 2**20,
    ) -> None:
        if max_items < 1 or tile < 1:
            raise ValueError("max_items and tile must be at least 1")
        self._get_array = get_array
        self._swap_state = swap_state
        self.shape = (int(shape[0]), int(shape[1]))
        self.tile = int(tile)
        self.max_items = int(max_items)
        self.max_bytes = int(max_bytes)
        self._undo: deque[UndoItem] = deque()
        self._redo: list[UndoItem] = []
        self._depth = 0
        #: Emits ``pushed(UndoItem)`` when an action is stored (the window's undo stack
        #: interleaves it with its other commands).
        self.pushed = Event()
        self._label = ""
        self._pending: dict[TileKey, np.ndarray] = {}
        self._pending_state: dict[str, object] = {}

    # ---- recording -------------------------------------------------------------------

    def begin(self, label: str) -> None:
        """Open an action; nested calls join the outermost one."""
        if self._depth == 0:
            self._label = label
            self._pending = {}
            self._pending_state = {}
        self._depth += 1

    def end(self) -> UndoItem | None:
        """Close an action; the outermost close stores it. Returns the stored item."""
        if self._depth == 0:
            raise RuntimeError("History.end() without begin()")
        self._depth -= 1
        if self._depth:
            return None
        item = UndoItem(self._label, state=self._pending_state)
        for key, old in self._pending.items():
            current = self._get_array(key[0])[self._tile_slices(key)]
            if not np.array_equal(old, current):
                item.tiles[key] = np.packbits(old, axis=None)
        self._pending = {}
        self._pending_state = {}
        if not item.tiles and not item.state:
            return None
        self._redo.clear()
        self._undo.append(item)
        self._evict()
        self.pushed.emit(item)
        return item

    @contextlib.contextmanager
    def group(self, label: str) -> Iterator[None]:
        """Context manager around :meth:`begin`/:meth:`end`; what was written is kept
        even if the block raises."""
        self.begin(label)
        try:
            yield
        finally:
            self.end()

    @property
    def recording(self) -> bool:
        """True inside an open action."""
        return self._depth > 0

    def before_write(self, name: str, box: Box) -> None:
        """Remember the current values of ``box`` in layer ``name`` (first write only)."""
        if self._depth == 0:
            raise RuntimeError("History.before_write() outside begin()/end()")
        box = box.clip(self.shape)
        if box.empty:
            return
        array = self._get_array(name)
        t = self.tile
        for ty in range(box.y0 // t, (box.y1 - 1) // t + 1):
            for tx in range(box.x0 // t, (box.x1 - 1) // t + 1):
                key = (name, ty, tx)
                if key not in self._pending:
                    self._pending[key] = array[self._tile_slices(key)].copy()

    def note_state(self, key: str, old_value: object) -> None:
        """Remember the value of a scalar before the action changes it (first time only)."""
        if self._depth == 0:
            raise RuntimeError("History.note_state() outside begin()/end()")
        self._pending_state.setdefault(key, old_value)

    # ---- undo / redo -----------------------------------------------------------------

    def undo(self) -> Applied | None:
        """Undo the newest action; None when there is nothing to undo."""
        if self._depth or not self._undo:
            return None
        item = self._undo.pop()
        applied = self._swap(item)
        self._redo.append(item)
        return applied

    def redo(self) -> Applied | None:
        """Redo the newest undone action; None when there is nothing to redo."""
        if self._depth or not self._redo:
            return None
        item = self._redo.pop()
        applied = self._swap(item)
        self._undo.append(item)
        self._evict()
        return applied

    def clear(self) -> None:
        """Forget every undo and redo item."""
        self._undo.clear()
        self._redo.clear()

    @property
    def can_undo(self) -> bool:
        """Whether :meth:`undo` would do something."""
        return bool(self._undo) and not self._depth

    @property
    def can_redo(self) -> bool:
        """Whether :meth:`redo` would do something."""
        return bool(self._redo) and not self._depth

    @property
    def undo_label(self) -> str | None:
        """Label of the action :meth:`undo` would revert."""
        return self._undo[-1].label if self._undo else None

    @property
    def redo_label(self) -> str | None:
        """Label of the action :meth:`redo` would repeat."""
        return self._redo[-1].label if self._redo else None

    @property
    def nbytes(self) -> int:
        """Bytes held by all undo and redo items."""
        return sum(i.nbytes for i in self._undo) + sum(i.nbytes for i in self._redo)

    def __len__(self) -> int:
        return len(self._undo)

    # ---- internals -------------------------------------------------------------------

    def _tile_slices(self, key: TileKey) -> tuple[slice, slice]:
        _name, ty, tx = key
        t = self.tile
        return (
            slice(ty * t, min((ty + 1) * t, self.shape[0])),
            slice(tx * t, min((tx + 1) * t, self.shape[1])),
        )

    def _swap(self, item: UndoItem) -> Applied:
        box: Box | None = None
        for key, packed in item.tiles.items():
            rows, cols = self._tile_slices(key)
            region = self._get_array(key[0])[rows, cols]
            current = np.packbits(region, axis=None)
            count = region.size
            region[...] = np.unpackbits(packed, count=count).reshape(region.shape).view(bool)
            item.tiles[key] = current
            tile_box = Box(rows.start, rows.stop, cols.start, cols.stop)
            box = tile_box if box is None else box.union(tile_box)
        state_changed = bool(item.state)
        if state_changed:
            if self._swap_state is None:
                raise RuntimeError("History holds state but has no swap_state callback")
            item.state = self._swap_state(item.state)
        layers = frozenset(key[0] for key in item.tiles)
        return Applied(item.label, layers, box, state_changed)

    def _evict(self) -> None:
        while len(self._undo) > self.max_items:
            self._undo.popleft()
        total = sum(i.nbytes for i in self._undo)
        while len(self._undo) > 1 and total > self.max_bytes:
            total -= self._undo.popleft().nbytes
