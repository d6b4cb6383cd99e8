"""The layered background mask: light, dark and exclude layers with undo and an overlay.

Layers (all boolean, DMS orientation, one shape):

- ``light``: signal — spectral traces and sources (blue overlay).
- ``dark``: background candidates. Until the user paints on it directly it is not
  used; the background is then computed live. Painting or erasing on it (the GIMP
  workflow), or importing a mask, switches it to "edited": the current computed
  background is copied into it first, so nothing visible jumps.
- ``exclude``: never background (hot pixels, artefacts, glow).

Two more masks come from the data and are not painted: ``unusable`` (NaN or DQ
DO_NOT_USE) and the reference border (outer 4 pixels). The background NSClean fits is

    background = dark_candidates & ~light & ~exclude & ~unusable & ~border

where ``dark_candidates`` is everything while the dark layer is not edited, else the
dark layer. Light and exclude therefore always win over dark.

Every change calls the listeners with a :class:`MaskChange` naming the touched box, so
views redraw only that region. The tool methods here (stroke, rectangle, polygon, band,
fill, threshold, import) use the pure rasterisers of :mod:`app.core.mask.paint` and record one
undo item each in :mod:`app.core.mask.undo`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from app.core.mask import paint
from app.core.mask.paint import Box
from app.core.mask.style import (  # noqa: F401  (re-exported: the layer model's vocabulary)
    DEFAULT_STYLES,
    LABEL_BACKGROUND,
    LABEL_EXCLUDE,
    LABEL_LIGHT,
    LABEL_NEVER,
    LayerStyle,
    check_mask_array,
    composite_lut,
)
from app.core.mask.undo import Applied, History
from app.core.state.events import Event

LAYERS = ("light", "dark", "exclude")


@dataclass(frozen=True)
class MaskChange:
    """A change report: ``kind`` is ``"pixels"`` (redraw ``box``) or ``"style"``
    (only the colour table changed)."""

    kind: str
    box: Box | None
    layers: tuple[str, ...] = ()


@dataclass
class LayerSnapshot:
    """A plain copy of the painted state, for sessions and recovery files."""

    light: np.ndarray
    dark: np.ndarray
    exclude: np.ndarray
    unusable: np.ndarray
    dark_edited: bool
    border: int
    border_sides: tuple[bool, bool] = (True, True)


class MaskLayers:
    """Light/dark/exclude layers of one image, with undo, change callbacks and an overlay.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(ny, nx)`` in DMS orientation.
    unusable : ndarray, optional
        True where the data are NaN or DO_NOT_USE.
    border : int
        Width of the reference-pixel border that is never background.
    border_sides : (bool, bool)
        Whether the border runs along the top and bottom rows, and along the left and
        right columns. A subarray has reference pixels only along the axes on which it
        spans the whole detector (:func:`app.core.clean.reference_sides`).
    max_undo, max_undo_bytes : int
        Bounds of the undo history.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        *,
        unusable: np.ndarray | None = None,
        border: int = 4,
        border_sides: tuple[bool, bool] = (True, True),
        max_undo: int = 100,
        max_undo_bytes: int = 128 * 2**20,
    ) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        if border < 0:
            raise ValueError("border must be >= 0")
        self.border = int(border)
        self.border_sides = (bool(border_sides[0]), bool(border_sides[1]))
        self._arrays = {name: np.zeros(self.shape, dtype=bool) for name in LAYERS}
        self._dark_edited = False
        #: Emits ``changed(MaskChange)`` after every change.
        self.changed = Event()
        self.revision = 0  # bumped on every pixel change; autosave compares it
        self._never = np.zeros(self.shape, dtype=bool)
        self._unusable = np.zeros(self.shape, dtype=bool)
        self.set_unusable(unusable)
        self.styles: dict[str, LayerStyle] = dict(DEFAULT_STYLES)
        self._lut: np.ndarray | None = None
        self.history = History(
            self._arrays.__getitem__, self.shape, swap_state=self._swap_state,
            max_items=max_undo, max_bytes=max_undo_bytes,
        )
        self._stroke: tuple[str, float, bool] | None = None
        self._stroke_last: tuple[float, float] | None = None

    # ---- state -----------------------------------------------------------------------

    def layer(self, name: str) -> np.ndarray:
        """A read-only view of one painted layer (write through the tools, for undo)."""
        view = self._arrays[self._check_layer(name)].view()
        view.flags.writeable = False
        return view

    @property
    def dark_edited(self) -> bool:
        """True once the dark layer holds the background candidates (painted or imported)."""
        return self._dark_edited

    @property
    def unusable(self) -> np.ndarray:
        """Read-only view of the NaN / DO_NOT_USE pixels."""
        view = self._unusable.view()
        view.flags.writeable = False
        return view

    def set_unusable(self, unusable: np.ndarray | None) -> None:
        """Replace the NaN / DO_NOT_USE mask (new data or integration); not undoable."""
        if unusable is None:
            self._unusable[...] = False
        else:
            self._unusable[...] = check_mask_array(unusable, self.shape, "unusable-pixel mask")
        self._never[...] = self._unusable
        b = self.border
        if b and self.border_sides[0]:
            self._never[:b, :] = self._never[-b:, :] = True
        if b and self.border_sides[1]:
            self._never[:, :b] = self._never[:, -b:] = True
        self._notify(Box.full(self.shape), ("unusable",))

    def never_background(self, box: Box | None = None) -> np.ndarray:
        """Pixels that can never be background: unusable or reference border."""
        return self._never[(box or Box.full(self.shape)).slices]

    def computed_dark(self, box: Box | None = None) -> np.ndarray:
        """The live default: not light, not excluded, not unusable, not border."""
        s = (box or Box.full(self.shape)).slices
        return ~(self._arrays["light"][s] | self._arrays["exclude"][s] | self._never[s])

    def background(self, box: Box | None = None) -> np.ndarray:
        """The mask NSClean fits (True = background), for the whole image or ``box``."""
        s = (box or Box.full(self.shape)).slices
        out = self.computed_dark(box)
        if self._dark_edited:
            out &= self._arrays["dark"][s]
        return out

    def background_fraction(self) -> float:
        """Fraction of all pixels that are background."""
        return float(np.count_nonzero(self.background())) / (self.shape[0] * self.shape[1])

    def layers_at(self, y: int, x: int) -> tuple[str, ...]:
        """Names under pixel ``(y, x)`` for the cursor readout (``"dark"`` = background)."""
        if not (0 <= y < self.shape[0] and 0 <= x < self.shape[1]):
            return ()
        names = [n for n in ("light", "exclude") if self._arrays[n][y, x]]
        if self.background(Box(y, y + 1, x, x + 1))[0, 0]:
            names.append("dark")
        if self._unusable[y, x]:
            names.append("unusable")
        elif self._never[y, x]:
            names.append("border")
        return tuple(names)

    # ---- events ----------------------------------------------------------------------

    def _notify(self, box: Box | None, layers: tuple[str, ...], kind: str = "pixels") -> None:
        if kind == "pixels":
            self.revision += 1
        self.changed.emit(MaskChange(kind, box, layers))

    # ---- writing (every write goes through here, for undo) ----------------------------

    def _check_layer(self, name: str) -> str:
        if name not in LAYERS:
            raise ValueError(f"unknown layer {name!r}; expected one of {', '.join(LAYERS)}")
        return name

    def _swap_state(self, values: dict[str, object]) -> dict[str, object]:
        previous: dict[str, object] = {"dark_edited": self._dark_edited}
        self._dark_edited = bool(values["dark_edited"])
        return previous

    def _ensure_dark_edited(self) -> bool:
        """Copy the computed background into the dark layer before its first direct edit."""
        if self._dark_edited:
            return False
        full = Box.full(self.shape)
        self.history.note_state("dark_edited", False)
        self.history.before_write("dark", full)
        self._arrays["dark"][...] = self.computed_dark()
        self._dark_edited = True
        return True

    def _write(self, name: str, box: Box, footprint: np.ndarray | None, value: bool) -> bool:
        """Record undo for ``box`` and set the footprint's pixels; True if it switched
        the dark layer to edited (then the whole frame changed)."""
        switched = self._ensure_dark_edited() if name == "dark" else False
        self.history.before_write(name, box)
        region = self._arrays[name][box.slices]
        if footprint is None:
            region[...] = value
        elif value:
            region |= footprint
        else:
            region &= ~footprint
        return switched

    def paint(
        self, name: str, footprint: paint.Footprint | None, value: bool = True, label: str = ""
    ) -> Box | None:
        """Apply one rasterised footprint as one undo item (or part of an open stroke).

        Returns the box to redraw, or None if nothing was touched.
        """
        self._check_layer(name)
        if footprint is None:
            return None
        box, mask = footprint
        with self.history.group(label or f"paint {name}"):
            switched = self._write(name, box, mask, value)
        redraw = Box.full(self.shape) if switched else box
        self._notify(redraw, (name,))
        return redraw

    # ---- tools -----------------------------------------------------------------------

    def begin_stroke(self, name: str, radius: float, value: bool = True) -> None:
        """Start a brush (``value=True``) or eraser (``value=False``) stroke on a layer."""
        self._check_layer(name)
        if self._stroke is not None:
            self.end_stroke()
        self._stroke = (name, float(radius), bool(value))
        self._stroke_last = None
        self.history.begin(f"{'paint' if value else 'erase'} {name}")

    def stroke_to(self, y: float, x: float) -> Box | None:
        """Paint from the previous stroke position (or a dab at the first) to ``(y, x)``."""
        if self._stroke is None:
            raise RuntimeError("stroke_to() outside begin_stroke()/end_stroke()")
        name, radius, value = self._stroke
        start = self._stroke_last or (y, x)
        self._stroke_last = (y, x)
        redraw: Box | None = None
        for box, footprint in paint.capsule_pieces(start, (y, x), radius, self.shape):
            if self._write(name, box, footprint, value):
                redraw = Box.full(self.shape)
            redraw = box if redraw is None else redraw.union(box)
        if redraw is not None:
            self._notify(redraw, (name,))
        return redraw

    def end_stroke(self) -> None:
        """Finish the stroke: it becomes one undo item."""
        if self._stroke is not None:
            self._stroke = None
            self._stroke_last = None
            self.history.end()

    def line(
        self, name: str, p0: tuple[float, float], p1: tuple[float, float], radius: float,
        value: bool = True,
    ) -> Box | None:
        """A straight stroke (Shift-drag) as one undo item."""
        self.begin_stroke(name, radius, value)
        try:
            self.stroke_to(*p0)
            return self.stroke_to(*p1)
        finally:
            self.end_stroke()

    def rectangle(
        self, name: str, p0: tuple[float, float], p1: tuple[float, float], value: bool = True
    ) -> Box | None:
        """Fill the rectangle with corners ``p0``, ``p1``."""
        return self.paint(name, paint.rectangle(p0, p1, self.shape), value, f"rectangle {name}")

    def polygon(
        self, name: str, vertices: Sequence[tuple[float, float]], value: bool = True
    ) -> Box | None:
        """Fill a polygon or lasso outline."""
        return self.paint(name, paint.polygon(vertices, self.shape), value, f"polygon {name}")

    def band(
        self, name: str, start: float, stop: float, axis: int, value: bool = True
    ) -> Box | None:
        """Fill whole rows (``axis=0``) or columns (``axis=1``) from ``start`` to ``stop``."""
        return self.paint(name, paint.band(start, stop, axis, self.shape), value, f"band {name}")

    def fill(
        self, name: str, y: float, x: float, value: bool = True, *,
        connectivity: int = 4, limit: Box | None = None,
    ) -> Box | None:
        """Flood-fill the connected region of equal values around ``(y, x)`` in a layer.

        On the dark layer the region is taken from what is shown (the background).
        """
        source = self.background() if name == "dark" else self._arrays[self._check_layer(name)]
        region = paint.flood_region(source, (y, x), connectivity=connectivity, limit=limit)
        return self.paint(name, region, value, f"fill {name}")

    def apply_mask(self, name: str, mask: np.ndarray, how: str = "replace",
                   label: str = "threshold") -> Box:
        """Combine a whole-image mask into a layer (threshold results, imports).

        ``how`` is ``"replace"``, ``"add"`` (union) or ``"subtract"``. The layers are
        unchanged if ``mask`` is unusable (:class:`MaskError`).
        """
        self._check_layer(name)
        mask = check_mask_array(mask, self.shape)
        if how not in ("replace", "add", "subtract"):
            raise ValueError(f"how must be replace, add or subtract, not {how!r}")
        full = Box.full(self.shape)
        with self.history.group(label):
            if how == "replace":
                self._write(name, full, None, False)
            self._write(name, full, mask, how != "subtract")
        self._notify(full, (name,))
        return full

    def import_background(self, mask: np.ndarray, how: str = "replace") -> int:
        """Load a background mask (NSClean FITS, PNG, pipeline mask) into the layers.

        ``"replace"``: the dark layer becomes ``mask`` and the light layer is cleared, so
        the background equals ``mask`` minus exclude, unusable and border pixels.
        ``"add"``: mask pixels become background too (light is cleared there).
        ``"intersect"``: only pixels already background and in the mask stay.
        One undo item. Returns how many mask pixels cannot be background (border,
        unusable, excluded). Raises :class:`MaskError` without changing anything if the
        mask does not fit.
        """
        mask = check_mask_array(mask, self.shape)
        if how not in ("replace", "add", "intersect"):
            raise ValueError(f"how must be replace, add or intersect, not {how!r}")
        full = Box.full(self.shape)
        with self.history.group(f"import mask ({how})"):
            self._ensure_dark_edited()
            if how == "replace":
                self._write("light", full, None, False)
                self._write("dark", full, None, False)
                self._write("dark", full, mask, True)
            elif how == "add":
                self._write("light", full, mask, False)
                self._write("dark", full, mask, True)
            else:
                self._write("dark", full, ~mask, False)
        self._notify(full, ("light", "dark"))
        return int(np.count_nonzero(mask & (self._arrays["exclude"] | self._never)))

    def use_computed_dark(self) -> None:
        """Go back to the live default background (undoable; the dark layer is kept)."""
        if not self._dark_edited:
            return
        with self.history.group("computed background"):
            self.history.note_state("dark_edited", True)
            self._dark_edited = False
        self._notify(Box.full(self.shape), ("dark",))

    def clear(self, name: str) -> Box:
        """Erase a whole layer (one undo item)."""
        return self.apply_mask(name, np.zeros(self.shape, bool), "replace", f"clear {name}")

    # ---- undo ------------------------------------------------------------------------

    def undo(self) -> Applied | None:
        """Undo the newest action and notify; None when there is nothing to undo."""
        if self._stroke is not None:
            self.end_stroke()
        return self._after_history(self.history.undo())

    def redo(self) -> Applied | None:
        """Redo the newest undone action and notify."""
        return self._after_history(self.history.redo())

    def _after_history(self, applied: Applied | None) -> Applied | None:
        if applied is not None:
            box = Box.full(self.shape) if applied.state_changed else applied.box
            self._notify(box, tuple(sorted(applied.layers)))
        return applied

    # ---- overlay ---------------------------------------------------------------------

    def labels(self, box: Box | None = None) -> np.ndarray:
        """uint8 label image of ``box``: bits LABEL_LIGHT | LABEL_BACKGROUND |
        LABEL_EXCLUDE | LABEL_NEVER; index :meth:`label_lut` with it."""
        s = (box or Box.full(self.shape)).slices
        out = self._arrays["light"][s].astype(np.uint8)
        out |= self.background(box).view(np.uint8) << 1
        out |= self._arrays["exclude"][s].view(np.uint8) << 2
        out |= self._never[s].view(np.uint8) << 3
        return out

    def label_lut(self) -> np.ndarray:
        """RGBA colour table (16×4 uint8) for :meth:`labels`, composited from the styles."""
        if self._lut is None:
            self._lut = composite_lut(self.styles)
        return self._lut

    def render_rgba(self, box: Box | None = None) -> np.ndarray:
        """The overlay of ``box`` as straight-alpha RGBA uint8 ``(h, w, 4)``."""
        labels = self.labels(box)
        # One 4-byte gather per pixel is ~5× faster than indexing the (16, 4) table.
        packed = np.ascontiguousarray(self.label_lut()).view(np.uint32).ravel()
        return packed[labels].view(np.uint8).reshape(*labels.shape, 4)

    def set_style(self, name: str, *, visible: bool | None = None,
                  opacity: float | None = None, color: tuple[int, int, int] | None = None) -> None:
        """Change how a layer is drawn (``"light"``, ``"dark"``, ``"exclude"``, ``"unusable"``)."""
        style = self.styles[name]
        if opacity is not None:
            opacity = min(max(float(opacity), 0.0), 1.0)
        self.styles[name] = replace(
            style,
            visible=style.visible if visible is None else bool(visible),
            opacity=style.opacity if opacity is None else opacity,
            color=style.color if color is None else (int(color[0]), int(color[1]), int(color[2])),
        )
        self._lut = None
        self._notify(None, (name,), kind="style")

    def toggle_visible(self, name: str) -> bool:
        """Flip a layer's visibility (keyboard toggle); returns the new visibility."""
        self.set_style(name, visible=not self.styles[name].visible)
        return self.styles[name].visible

    # ---- snapshots -------------------------------------------------------------------

    def snapshot(self) -> LayerSnapshot:
        """Copy the painted state (for saving)."""
        return LayerSnapshot(
            light=self._arrays["light"].copy(), dark=self._arrays["dark"].copy(),
            exclude=self._arrays["exclude"].copy(), unusable=self._unusable.copy(),
            dark_edited=self._dark_edited, border=self.border, border_sides=self.border_sides,
        )

    @classmethod
    def from_snapshot(cls, snap: LayerSnapshot, **kwargs: int) -> MaskLayers:
        """A new model holding a saved state (empty undo history)."""
        shape = np.shape(snap.light)
        layers = cls(shape, unusable=snap.unusable, border=snap.border,
                     border_sides=snap.border_sides, **kwargs)
        for name in LAYERS:
            layers._arrays[name][...] = check_mask_array(getattr(snap, name), layers.shape, name)
        layers._dark_edited = bool(snap.dark_edited)
        return layers
