"""The mask model: the layers of the working image, and their changes batched per action.

The layers follow the working image: an image of a new shape or detector gets its own
layers (the undo history belongs to those pixels); a new image of the same shape and
detector (another combination, one more file) keeps the painting and only refreshes the
unusable pixels (NaN in the combined image = no usable frame, DO_NOT_USE included).
Layers of the last few shape/detector pairs are kept, so opening an NRS2 file after
painting on NRS1 and going back finds the NRS1 painting again.

Pixel changes are batched per user action: during a brush stroke the model reports every
mouse move (the overlay needs that), but :attr:`MaskModel.changed` fires once
when the stroke ends, so expensive listeners (live preview, statistics) run once per
stroke, fill, import or undo.
"""

from __future__ import annotations

import numpy as np

from app.core.clean import reference_sides
from app.core.mask.layers import MaskChange, MaskLayers
from app.core.mask.paint import Box
from app.core.state.events import Event


class MaskModel:
    """Creates, replaces and watches the mask layers of the working image.

    Events (:class:`~app.core.state.events.Event`)
    -----------------------------------------------
    changed(Box)
        Pixels of the background changed in this box (after a stroke, fill, import,
        undo, or new layers: then the full frame).
    replaced(MaskLayers or None)
        New layers (None: no image): rebind views to them.
    styled()
        Only colours, opacity or visibility changed.
    """

    #: How many (shape, detector) layer sets are kept for switching back.
    KEEP = 4

    def __init__(self) -> None:
        self.changed = Event()
        self.replaced = Event()
        self.styled = Event()
        self._layers: MaskLayers | None = None
        self._detector: str | None = None
        self._kept: dict[tuple[tuple[int, int], str | None], MaskLayers] = {}
        self._pending: Box | None = None
        self._holding = 0
        #: Counts user edits (pixels changed by tools, imports, undo; new layers from a
        #: session); autosave compares it. Unusable-pixel refreshes do not count.
        self.edits = 0

    @property
    def layers(self) -> MaskLayers | None:
        """The current layers, None before the first image."""
        return self._layers

    @property
    def detector(self) -> str | None:
        """Detector of the image the layers belong to."""
        return self._detector

    def image_changed(self, image: np.ndarray | None, detector: str | None) -> MaskLayers | None:
        """Follow a new working image; returns the layers (kept, restored or new)."""
        if image is None:
            return self._layers
        shape = (int(image.shape[0]), int(image.shape[1]))
        unusable = ~np.isfinite(image)
        layers = self._layers
        if layers is not None and layers.shape == shape and detector == self._detector:
            layers.set_unusable(unusable)
            return layers
        layers = self._kept.get((shape, detector))
        if layers is not None:
            layers.set_unusable(unusable)  # before listening: one report, from set_layers
        else:
            layers = MaskLayers(shape, unusable=unusable, border_sides=reference_sides(shape))
        self.set_layers(layers, detector)
        return layers

    def set_layers(self, layers: MaskLayers | None, detector: str | None) -> None:
        """Adopt ``layers`` (new image, opened session, recovery)."""
        if self._layers is not None:
            self._layers.end_stroke()  # a stroke cut short stays one undo item
            self._layers.changed.disconnect(self._on_change)
        self._layers, self._detector = layers, detector
        self._pending, self._holding = None, 0
        if layers is not None:
            key = (layers.shape, detector)
            self._kept.pop(key, None)
            self._kept[key] = layers
            while len(self._kept) > self.KEEP:
                self._kept.pop(next(iter(self._kept)))
            layers.changed.connect(self._on_change)
        self.replaced.emit(layers)
        if layers is not None:
            self.changed.emit(Box.full(layers.shape))

    # --- batching ---------------------------------------------------------------------
    def hold(self) -> None:
        """Collect changes until :meth:`release` (a stroke in progress)."""
        self._holding += 1

    def release(self) -> None:
        """End a :meth:`hold`; emits one :attr:`changed` for what changed meanwhile."""
        self._holding = max(self._holding - 1, 0)
        if not self._holding:
            self._flush()

    def _on_change(self, change: MaskChange) -> None:
        if change.kind != "pixels":
            self.styled.emit()
            return
        if change.box is None or self._layers is None:
            return
        if change.layers != ("unusable",):
            self.edits += 1
        self._pending = change.box.union(self._pending)
        if not self._holding:
            self._flush()

    def _flush(self) -> None:
        box, self._pending = self._pending, None
        if box is not None and not box.empty:
            self.changed.emit(box)
