"""Cursor readout for the status bar: DMS x, y; detector line/sample; value; mask layers."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PyQt6.QtGui import QFontDatabase
from PyQt6.QtWidgets import QLabel, QWidget

from app.core.orientation import dms_to_detector_coords

#: ``provider(x, y) -> text`` naming the mask layers under DMS pixel (x, y).
LayerProvider = Callable[[int, int], str]


def format_readout(
    image: np.ndarray, x: float, y: float, detector: str | None,
    layers: LayerProvider | None = None,
) -> str:
    """Text for the pointer at continuous DMS position ``(x, y)``; empty outside the image.

    Pixel indices are 0-based (NumPy order, as in the rest of nsclean-gui); pixel ``i``
    spans ``[i, i+1)``.
    """
    ix, iy = math.floor(x), math.floor(y)
    ny, nx = image.shape
    if not (0 <= ix < nx and 0 <= iy < ny):
        return ""
    parts = [f"DMS x {ix:4d}  y {iy:4d}"]
    if detector in ("NRS1", "NRS2"):
        line, sample = dms_to_detector_coords(ix, iy, detector, (ny, nx))
        parts.append(f"{detector} line {int(line):4d}  sample {int(sample):4d}")
    value = float(image[iy, ix])
    parts.append("value NaN" if math.isnan(value) else f"value {value:.5g}")
    if layers is not None:
        text = layers(ix, iy)
        if text:
            parts.append(text)
    return "   │   ".join(parts)


class Readout(QLabel):
    """A monospaced label showing :func:`format_readout` for the pointer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setMinimumWidth(200)
        self._image: np.ndarray | None = None
        self._detector: str | None = None
        self._layers: LayerProvider | None = None

    def set_image(self, image: np.ndarray | None, detector: str | None) -> None:
        """The image the pointer is over (DMS) and its detector."""
        self._image, self._detector = image, detector
        self.clear()

    def set_layer_provider(self, provider: LayerProvider | None) -> None:
        """Hook for the mask work: ``provider(x, y)`` returns the layers under a pixel."""
        self._layers = provider

    def show_at(self, x: float, y: float) -> None:
        """Update for the pointer at DMS ``(x, y)``."""
        if self._image is None:
            self.clear()
            return
        self.setText(format_readout(self._image, x, y, self._detector, self._layers))
