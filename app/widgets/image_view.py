"""The image display: a pyqtgraph ViewBox with the working image and overlay layers.

FITS origin at the bottom left (the ViewBox y axis points up), square pixels (aspect
locked), wheel zoom about the cursor and left-drag pan (pyqtgraph's own), DS9-style
right-drag for contrast/bias. Every layer lives in DMS pixel coordinates; the detector
view is a transform on the layers, so overlays added through :meth:`ImageView.add_overlay`
follow the orientation without copying any array.

Like ginga, the view renders only what the screen can show: the image item holds a
*tile*, the visible part of the image (plus a margin for panning) taken every ``k``-th
pixel when zoomed out, ``k`` being the whole number nearest to image pixels per screen
pixel. Qt drops pixels when it scales an image down anyway, so the picture hardly changes,
but a LUT or level change then costs about a screen's worth of pixels, not a whole frame.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QPen, QTransform
from PyQt6.QtWidgets import QGraphicsItem, QGraphicsRectItem, QWidget

from app.core.display.stretch import DisplayModel
from app.core.orientation import dms_to_detector_coords

BACKGROUND = QColor(32, 33, 36)
ORIENTATIONS = ("dms", "detector")
#: Extra fraction of the visible size rendered on each side, so small pans need no re-render.
TILE_MARGIN = 0.15


class ImageViewBox(pg.ViewBox):
    """ViewBox whose right-button drag reports the pointer position for contrast/bias."""

    #: (fx, fy): pointer position as a fraction of the view, from the left and bottom
    sigContrastBias = pyqtSignal(float, float)

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=False, enableMenu=False, defaultPadding=0.0)

    def mouseDragEvent(self, ev, axis=None):
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            rect = self.boundingRect()
            pos = ev.pos()
            fx = (pos.x() - rect.left()) / max(rect.width(), 1.0)
            fy = 1.0 - (pos.y() - rect.top()) / max(rect.height(), 1.0)
            self.sigContrastBias.emit(fx, fy)
            return
        super().mouseDragEvent(ev, axis)


def detector_view_transform(detector: str, shape: tuple[int, int]) -> QTransform:
    """Transform from DMS item coordinates to the detector view (fast-scan lines horizontal).

    Derived from :func:`app.core.orientation.dms_to_detector_coords` so the view can
    never disagree with the engine: pixel centres ``(x, y)`` go to ``(sample, line)``.
    """

    def to_view(u: float, v: float) -> np.ndarray:
        line, sample = dms_to_detector_coords(u - 0.5, v - 0.5, detector, shape)
        return np.array([float(sample) + 0.5, float(line) + 0.5])

    origin = to_view(0.5, 0.5)
    ex = to_view(1.5, 0.5) - origin
    ey = to_view(0.5, 1.5) - origin
    dx, dy = origin - 0.5 * ex - 0.5 * ey
    return QTransform(ex[0], ex[1], ey[0], ey[1], dx, dy)


class ImageView(pg.GraphicsLayoutWidget):
    """Shows one float32 image with levels and a lookup table, plus overlay layers.

    Signals
    -------
    sigCursor(float, float)
        Pointer position in DMS pixel coordinates (continuous; pixel ``i`` spans
        ``[i, i+1)``), emitted on every mouse move over the view.
    sigCursorLeft()
        The pointer left the view.
    """

    sigCursor = pyqtSignal(float, float)
    sigCursorLeft = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground(BACKGROUND)
        self.ci.setContentsMargins(0, 0, 0, 0)
        self.view = ImageViewBox()
        self.view.disableAutoRange()
        self.addItem(self.view)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setZValue(0)
        self._backdrop = QGraphicsRectItem()
        self.set_nan_color((205, 60, 60))
        self._backdrop.setPen(QPen(Qt.PenStyle.NoPen))
        self._backdrop.setZValue(-10)
        self._backdrop.setVisible(False)
        self.view.addItem(self._backdrop, ignoreBounds=True)
        self.view.addItem(self.image_item)
        # layers in plain DMS coordinates (the image item adds its tile placement)
        self._layers: list[QGraphicsItem] = [self._backdrop]
        self._image: np.ndarray | None = None
        self._tile: tuple[int, int, int, int, int] | None = None  # k, x0, y0, x1, y1
        self._shape: tuple[int, int] | None = None
        self._orientation = "dms"
        self._detector: str | None = None
        self._levels: tuple[float, float] = (0.0, 1.0)
        self._lut: np.ndarray | None = None
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.view.sigRangeChanged.connect(lambda *_: self._update_tile())

    # --- data ---------------------------------------------------------------------------
    @property
    def image(self) -> np.ndarray | None:
        """The whole displayed float32 image (DMS orientation), or None."""
        return self._image

    def set_image(self, image: np.ndarray | None, detector: str | None = None) -> None:
        """Show ``image`` (2-D float32) with the current levels and LUT."""
        self._image, self._tile = image, None
        if image is None:
            self.image_item.clear()
            self._backdrop.setVisible(False)
            self._shape = None
            return
        new_shape = (int(image.shape[0]), int(image.shape[1]))
        self._backdrop.setRect(QRectF(0, 0, new_shape[1], new_shape[0]))
        self._backdrop.setVisible(True)
        refit = new_shape != self._shape or detector != self._detector
        self._shape, self._detector = new_shape, detector
        self._apply_orientation()
        if refit:
            self.fit()
        self._update_tile()

    def _update_tile(self) -> None:
        """Re-cut the rendered tile if the view left it or the zoom needs another step."""
        if self._image is None or self._shape is None:
            return
        ny, nx = self._shape
        view_rect = self.view.viewRect()
        if self.view.width() < 2 or view_rect.width() <= 0:  # not laid out yet
            k = 1
        else:
            # nearest whole step to one image pixel per screen pixel
            k = max(1, round(view_rect.width() / self.view.width()))
        inverse, _ = self._transform().inverted()
        visible = inverse.mapRect(view_rect).intersected(QRectF(0, 0, nx, ny))
        if self._tile is not None:
            tk, x0, y0, x1, y1 = self._tile
            if tk == k and QRectF(x0, y0, x1 - x0, y1 - y0).contains(visible):
                return
        mx, my = TILE_MARGIN * visible.width(), TILE_MARGIN * visible.height()
        x0 = max(0, math.floor((visible.left() - mx) / k) * k)
        y0 = max(0, math.floor((visible.top() - my) / k) * k)
        x1 = min(nx, math.ceil(visible.right() + mx))
        y1 = min(ny, math.ceil(visible.bottom() + my))
        if x1 <= x0 or y1 <= y0:  # nothing of the image is visible
            x0, y0, x1, y1 = 0, 0, min(nx, k), min(ny, k)
        tile = np.ascontiguousarray(self._image[y0:y1:k, x0:x1:k])
        self._tile = (k, x0, y0, x1, y1)
        self.image_item.setImage(tile, autoLevels=False, levels=self._levels, lut=self._lut)
        self._place_image_item()

    def _place_image_item(self) -> None:
        if self._tile is None:
            return
        k, x0, y0, _x1, _y1 = self._tile
        placement = QTransform.fromScale(k, k) * QTransform.fromTranslate(x0, y0)
        self.image_item.setTransform(placement * self._transform())

    def set_levels(self, levels: tuple[float, float]) -> None:
        """Data values at the first and last LUT entry; the image is not touched."""
        self._levels = (float(levels[0]), float(levels[1]))
        self.image_item.setLevels(self._levels)

    def set_lut(self, lut: np.ndarray) -> None:
        """Swap the lookup table (the whole cost of a stretch or colour-map change)."""
        self._lut = lut
        self.image_item.setLookupTable(lut)

    def set_nan_color(self, rgb: tuple[int, int, int]) -> None:
        """Colour of NaN pixels (a backdrop seen through the transparent NaN pixels)."""
        self._backdrop.setBrush(QBrush(QColor(*rgb)))

    def bind_display(self, model: DisplayModel) -> None:
        """Follow ``model``'s levels and LUT, and feed right-drags back to it."""

        def on_change(what: frozenset[str]) -> None:
            if "levels" in what:
                self.set_levels(model.levels)
            if "lut" in what:
                self.set_lut(model.lut)
                self.set_nan_color(model.nan_color)

        model.changed.connect(on_change)
        self.view.sigContrastBias.connect(model.drag_contrast_bias)
        self.set_levels(model.levels)
        self.set_lut(model.lut)
        self.set_nan_color(model.nan_color)

    # --- overlays (hook for the mask layers) ------------------------------------------
    def add_overlay(self, item: QGraphicsItem, z: float = 10.0) -> None:
        """Add an item drawn in DMS pixel coordinates above the image (e.g. a mask layer).

        The item gets the current orientation transform and follows later changes.
        """
        item.setZValue(z)
        self.view.addItem(item, ignoreBounds=True)
        self._layers.append(item)
        self._apply_orientation()

    def remove_overlay(self, item: QGraphicsItem) -> None:
        """Remove an item added with :meth:`add_overlay`."""
        if item in self._layers[1:]:
            self._layers.remove(item)
            self.view.removeItem(item)

    # --- geometry ------------------------------------------------------------------------
    @property
    def orientation(self) -> str:
        """``"dms"`` or ``"detector"``."""
        return self._orientation

    def set_orientation(self, orientation: str) -> None:
        """Show the DMS orientation, or the detector one (fast-scan lines horizontal)."""
        if orientation not in ORIENTATIONS:
            raise ValueError(f"orientation must be one of {ORIENTATIONS}")
        if orientation != self._orientation:
            self._orientation = orientation
            self._tile = None
            self._apply_orientation()
            self.fit()
            self._update_tile()

    def _transform(self) -> QTransform:
        if self._orientation == "detector" and self._shape and self._detector:
            return detector_view_transform(self._detector, self._shape)
        return QTransform()

    def _apply_orientation(self) -> None:
        transform = self._transform()
        for item in self._layers:
            item.setTransform(transform)
        self._place_image_item()

    def image_rect(self) -> QRectF:
        """The image's bounds in view coordinates (after the orientation transform)."""
        if self._shape is None:
            return QRectF(0, 0, 1, 1)
        ny, nx = self._shape
        return self._transform().mapRect(QRectF(0, 0, nx, ny))

    def fit(self) -> None:
        """Zoom so that the whole image fits the window."""
        self.view.setRange(rect=self.image_rect(), padding=0.0)

    def one_to_one(self) -> None:
        """One image pixel per screen pixel, keeping the centre of the view."""
        centre = self.view.viewRect().center()
        width, height = self.view.width(), self.view.height()
        self.view.setRange(
            xRange=(centre.x() - width / 2, centre.x() + width / 2),
            yRange=(centre.y() - height / 2, centre.y() + height / 2),
            padding=0.0,
        )

    def zoom(self, factor: float, centre: QPointF | None = None) -> None:
        """Magnify by ``factor`` (>1 zooms in) about ``centre`` (view centre by default)."""
        centre = centre or self.view.viewRect().center()
        self.view.scaleBy((1.0 / factor, 1.0 / factor), centre)

    def zoom_level(self) -> float:
        """Screen pixels per image pixel."""
        return 1.0 / max(self.view.viewPixelSize()[0], 1e-12)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self._shape is None or not self.view.sceneBoundingRect().contains(scene_pos):
            self.sigCursorLeft.emit()
            return
        pos = self.dms_from_scene(scene_pos)
        self.sigCursor.emit(pos.x(), pos.y())

    def dms_from_scene(self, scene_pos: QPointF) -> QPointF:
        """DMS pixel coordinates of a scene point (whatever the orientation)."""
        return self._backdrop.mapFromScene(scene_pos)

    def scene_from_dms(self, x: float, y: float) -> QPointF:
        """Scene point of DMS pixel coordinates ``(x, y)``."""
        self.view.updateMatrix()  # the ViewBox applies range changes lazily
        return self._backdrop.mapToScene(QPointF(x, y))

    def leaveEvent(self, ev):
        self.sigCursorLeft.emit()
        super().leaveEvent(ev)
