"""Cursor readout for the status bar: DS9 image x, y; detector line/sample; value; layers."""

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

    ``(x, y)`` are 0-based NumPy positions (pixel ``i`` spans ``[i, i+1)``). The text
    gives the pixel as DS9 does, in 1-based FITS image coordinates of the DMS image
    (NumPy ``[iy, ix]`` is DS9 ``x = ix + 1, y = iy + 1``), and the detector line and
    sample 0-based, as the coverage list and NSClean's papers number lines.
    """
    ix, iy = math.floor(x), math.floor(y)
    ny, nx = image.shape
    if not (0 <= ix < nx and 0 <= iy < ny):
        return ""
    parts = [f"DS9 x {ix + 1:4d}  y {iy + 1:4d}"]
    if detector in ("NRS1", "NRS2"):
        line, sample = dms_to_detector_coords(ix, iy, detector, (ny, nx))
        parts.append(f"{detector} line {int(line):4d}  sample {int(sample):4d} (from 0)")
    value = float(image[iy, ix])
    parts.append("value NaN" if math.isnan(value) else f"value {value:.5g}")
    if layers is not None:
        text = layers(ix, iy)
        if text:
            parts.append(text)
    return "   │   ".join(parts)


READOUT_HELP = (
    "DS9 x, y: the pixel in DS9's image coordinates (1-based FITS pixels of the DMS image, "
    "as in rate files).\nDetector line and sample: counted from 0, as the Coverage list "
    "and NSClean number detector lines.")


class Readout(QLabel):
    """A monospaced label showing :func:`format_readout` for the pointer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setMinimumWidth(200)
        self.setToolTip(READOUT_HELP)
        self._image: np.ndarray | None = None
        self._detector: str | None = None
        self._layers: LayerProvider | None = None
        self._at: tuple[float, float] | None = None  # the pointer's last DMS position

    def set_image(self, image: np.ndarray | None, detector: str | None) -> None:
        """The image the pointer is over (DMS) and its detector."""
        self._image, self._detector = image, detector
        self._at = None
        self.clear()

    def set_layer_provider(self, provider: LayerProvider | None) -> None:
        """Hook for the mask work: ``provider(x, y)`` returns the layers under a pixel."""
        self._layers = provider

    def show_at(self, x: float, y: float) -> None:
        """Update for the pointer at DMS ``(x, y)``."""
        if self._image is None:
            self.clear()
            return
        self._at = (x, y)
        self.setText(format_readout(self._image, x, y, self._detector, self._layers))

    def leave(self) -> None:
        """The pointer left the image: nothing to show until it comes back."""
        self._at = None
        self.clear()

    def refresh(self) -> None:
        """Show again what is under the pointer (after painting changed the layers there)."""
        if self._at is not None:
            self.show_at(*self._at)
