"""What the paint tool draws while the user works: the brush outline and shape previews.

Two graphics items added to the image view as overlays (so they follow the detector
orientation like the mask): a circle showing the brush under the pointer, and one path
for the rectangle, band, straight-line or polygon being drawn. Positions are view
coordinates of the DMS image (pixel ``i`` spans ``[i, i+1)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PyQt6 import sip
from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QBrush, QColor, QPainterPath, QPen
from PyQt6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem

from app.widgets.image_view import ImageView

PREVIEW_Z = 20.0
RGB = tuple[int, int, int]


def far(a: QPointF, b: QPointF, distance: float) -> bool:
    """True when ``a`` and ``b`` are more than ``distance`` apart."""
    return math.hypot(a.x() - b.x(), a.y() - b.y()) > distance


def band_extent(p0: QPointF, p1: QPointF) -> tuple[int, int, int]:
    """``(axis, first, stop)`` of a band drag in whole pixels: rows (axis 0) if the drag
    is mostly along DMS y (it crosses rows), else columns."""
    if abs(p1.y() - p0.y()) >= abs(p1.x() - p0.x()):
        lo, hi = sorted((math.floor(p0.y()), math.floor(p1.y())))
        return 0, lo, hi + 1
    lo, hi = sorted((math.floor(p0.x()), math.floor(p1.x())))
    return 1, lo, hi + 1


def _cosmetic_pen(color: QColor, dashed: bool = False) -> QPen:
    pen = QPen(color, 0)  # width 0: one screen pixel whatever the zoom
    pen.setCosmetic(True)
    if dashed:
        pen.setStyle(Qt.PenStyle.DashLine)
    return pen


class ToolPreview:
    """The brush outline and the shape preview of one image view."""

    def __init__(self, view: ImageView) -> None:
        self.cursor = QGraphicsEllipseItem()
        self.cursor.setPen(_cosmetic_pen(QColor(255, 255, 255, 230)))
        self.cursor.setVisible(False)
        self.shape = QGraphicsPathItem()
        self.shape.setVisible(False)
        view.add_overlay(self.cursor, PREVIEW_Z + 1)
        view.add_overlay(self.shape, PREVIEW_Z)

    def brush(self, pos: QPointF | None, size: float) -> None:
        """Show the brush of diameter ``size`` at ``pos``; hide it when ``pos`` is None."""
        if sip.isdeleted(self.cursor):  # the view went first (window closing)
            return
        self.cursor.setVisible(pos is not None)
        if pos is not None:
            self.cursor.setPos(pos)
            self.set_size(size)

    def set_size(self, size: float) -> None:
        """Brush diameter in image pixels."""
        r = size / 2
        self.cursor.setRect(QRectF(-r, -r, 2 * r, 2 * r))

    def hide_shape(self) -> None:
        """No shape in progress."""
        self.shape.setVisible(False)

    def rectangle(self, p0: QPointF, p1: QPointF, rgb: RGB) -> None:
        """The pixels a rectangle drag from ``p0`` to ``p1`` will cover."""
        x0, x1 = sorted((math.floor(p0.x()), math.floor(p1.x())))
        y0, y1 = sorted((math.floor(p0.y()), math.floor(p1.y())))
        self._filled(QRectF(x0, y0, x1 + 1 - x0, y1 + 1 - y0), rgb)

    def band(self, p0: QPointF, p1: QPointF, shape: tuple[int, int], rgb: RGB) -> None:
        """The whole rows or columns a band drag will cover."""
        axis, lo, stop = band_extent(p0, p1)
        ny, nx = shape
        self._filled(
            QRectF(0, lo, nx, stop - lo) if axis == 0 else QRectF(lo, 0, stop - lo, ny), rgb
        )

    def line(self, p0: QPointF, p1: QPointF, size: float, rgb: RGB) -> None:
        """A straight brush stroke of diameter ``size``."""
        path = QPainterPath(p0)
        path.lineTo(p1)
        pen = QPen(QColor(*rgb, 140), max(size, 1.0))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        self.shape.setPen(pen)
        self.shape.setBrush(QBrush(QColor(0, 0, 0, 0)))
        self._show(path)

    def polygon(self, vertices: Sequence[QPointF], hover: QPointF | None, rgb: RGB) -> None:
        """The polygon so far, closed through the pointer position ``hover``."""
        if not vertices:
            self.hide_shape()
            return
        path = QPainterPath(vertices[0])
        for v in [*vertices[1:], *([hover] if hover is not None else [])]:
            path.lineTo(v)
        path.closeSubpath()
        self._outline(rgb)
        self._show(path)

    def _filled(self, rect: QRectF, rgb: RGB) -> None:
        path = QPainterPath()
        path.addRect(rect)
        self._outline(rgb)
        self._show(path)

    def _outline(self, rgb: RGB) -> None:
        self.shape.setPen(_cosmetic_pen(QColor(255, 255, 255, 220), dashed=True))
        self.shape.setBrush(QBrush(QColor(*rgb, 90)))

    def _show(self, path: QPainterPath) -> None:
        self.shape.setPath(path)
        self.shape.setVisible(True)
