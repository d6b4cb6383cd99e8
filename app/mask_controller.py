"""Owns the window's mask layers and reports their changes as Qt signals.

The layers follow the working image: an image of a new shape or detector gets fresh
layers (the old undo history belongs to other pixels); a new image of the same shape and
detector (another combination, one more file) keeps the painting and only refreshes the
unusable pixels (NaN in the combined image = no usable frame, DO_NOT_USE included).

Pixel changes are batched per user action: during a brush stroke the model reports every
mouse move (the overlay needs that), but :attr:`MaskController.maskChanged` fires once
when the stroke ends, so expensive listeners (live preview, statistics) run once per
stroke, fill, import or undo.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal

from app.core.mask_layers import MaskChange, MaskLayers
from app.core.paint import Box


class MaskController(QObject):
    """Creates, replaces and watches the mask layers of the working image.

    Signals
    -------
    maskChanged(Box)
        Pixels of the background changed in this box (after a stroke, fill, import,
        undo, or new layers: then the full frame).
    layersReplaced(object)
        New :class:`MaskLayers` (or None): rebind views to it.
    styleChanged()
        Only colours, opacity or visibility changed.
    """

    maskChanged = pyqtSignal(object)
    layersReplaced = pyqtSignal(object)
    styleChanged = pyqtSignal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._layers: MaskLayers | None = None
        self._detector: str | None = None
        self._pending: Box | None = None
        self._holding = 0

    @property
    def layers(self) -> MaskLayers | None:
        """The current layers, None before the first image."""
        return self._layers

    @property
    def detector(self) -> str | None:
        """Detector of the image the layers belong to."""
        return self._detector

    def image_changed(self, image: np.ndarray | None, detector: str | None) -> MaskLayers | None:
        """Follow a new working image; returns the layers (new or kept)."""
        if image is None:
            return self._layers
        shape = (int(image.shape[0]), int(image.shape[1]))
        unusable = ~np.isfinite(image)
        if self._layers is not None and self._layers.shape == shape and detector == self._detector:
            self._layers.set_unusable(unusable)
            return self._layers
        self.set_layers(MaskLayers(shape, unusable=unusable), detector)
        return self._layers

    def set_layers(self, layers: MaskLayers | None, detector: str | None) -> None:
        """Adopt ``layers`` (new image, opened session, recovery)."""
        if self._layers is not None:
            self._layers.remove_listener(self._on_change)
        self._layers, self._detector = layers, detector
        self._pending, self._holding = None, 0
        if layers is not None:
            layers.add_listener(self._on_change)
        self.layersReplaced.emit(layers)
        if layers is not None:
            self.maskChanged.emit(Box.full(layers.shape))

    # --- batching ---------------------------------------------------------------------
    def hold(self) -> None:
        """Collect changes until :meth:`release` (a stroke in progress)."""
        self._holding += 1

    def release(self) -> None:
        """End a :meth:`hold`; emits one :attr:`maskChanged` for what changed meanwhile."""
        self._holding = max(self._holding - 1, 0)
        if not self._holding:
            self._flush()

    def _on_change(self, change: MaskChange) -> None:
        if change.kind != "pixels":
            self.styleChanged.emit()
            return
        if change.box is None or self._layers is None:
            return
        self._pending = change.box.union(self._pending)
        if not self._holding:
            self._flush()

    def _flush(self) -> None:
        box, self._pending = self._pending, None
        if box is not None and not box.empty:
            self.maskChanged.emit(box)
