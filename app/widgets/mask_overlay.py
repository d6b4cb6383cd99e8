"""The mask overlay: one pyqtgraph ImageItem showing the label image of :class:`MaskLayers`.

The item holds a whole-frame uint8 label image (bits for light, background, exclude and
never-background; see :meth:`MaskLayers.labels`) and the layers' 16-entry RGBA colour
table. pyqtgraph shows such an image as an ``Indexed8`` QImage that *wraps* the array,
so a change costs only:

- pixels: recompute the labels of the touched box into the array and repaint that
  rectangle (no full-frame conversion, no new QImage);
- style (visibility, opacity, colour): swap the 16-entry colour table.

Drawing the whole 2048² indexed image scaled to a window takes ~3 ms in Qt's raster
engine, so unlike the science image the overlay needs no tiling.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF

from app.core.mask.layers import MaskChange, MaskLayers
from app.core.mask.paint import Box

#: Above the image (z 0), below cursors and tool previews.
OVERLAY_Z = 10.0


def _table(layers: MaskLayers) -> np.ndarray:
    """The layers' colour table padded to 256 entries: pyqtgraph spreads a shorter table
    over the whole uint8 range, which would map every label to entry 0."""
    table = np.zeros((256, 4), dtype=np.uint8)
    lut = layers.label_lut()
    table[: len(lut)] = lut
    return table


class MaskOverlay(pg.ImageItem):
    """An ImageItem bound to a :class:`MaskLayers` that redraws only what changed."""

    def __init__(self) -> None:
        super().__init__(axisOrder="row-major")
        self.setAutoDownsample(False)
        self._layers: MaskLayers | None = None
        self._labels: np.ndarray | None = None
        #: Number of partial (box) refreshes, for tests and the bench.
        self.partial_updates = 0

    @property
    def layers(self) -> MaskLayers | None:
        """The bound layers."""
        return self._layers

    @property
    def label_image(self) -> np.ndarray | None:
        """The label image shown (read-only view; DMS orientation)."""
        if self._labels is None:
            return None
        view = self._labels.view()
        view.flags.writeable = False
        return view

    def bind(self, layers: MaskLayers | None) -> None:
        """Show ``layers`` (None: show nothing) and follow their changes."""
        if self._layers is not None:
            self._layers.changed.disconnect(self._on_change)
        self._layers = layers
        if layers is None:
            self._labels = None
            self.clear()
            return
        layers.changed.connect(self._on_change)
        self._labels = np.ascontiguousarray(layers.labels())
        self.setImage(self._labels, autoLevels=False, levels=None, lut=_table(layers))

    def refresh(self, box: Box | None = None) -> None:
        """Recompute the labels of ``box`` (everything when None) and repaint it."""
        layers, labels = self._layers, self._labels
        if layers is None or labels is None:
            return
        if box is None or box == Box.full(layers.shape):
            labels[...] = layers.labels()
            self.update()
            return
        box = box.clip(layers.shape)
        if box.empty:
            return
        labels[box.slices] = layers.labels(box)
        self.partial_updates += 1
        # The QImage wraps ``labels``: repainting the rectangle is enough.
        self.update(QRectF(box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0))

    def _on_change(self, change: MaskChange) -> None:
        if self._layers is None:
            return
        if change.kind == "style":
            self.setLookupTable(_table(self._layers))
        else:
            self.refresh(change.box)
