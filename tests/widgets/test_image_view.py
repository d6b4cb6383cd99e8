"""ImageView: origin, square pixels, zoom about the cursor, pan, contrast drag, orientation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PyQt6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt
from PyQt6.QtGui import QImage, QMouseEvent, QWheelEvent
from PyQt6.QtWidgets import QApplication

from app.core.display.stretch import DisplayModel, ImageStats
from app.core.orientation import dms_to_detector
from app.widgets.image_view import ImageView, detector_view_transform

GOLDEN = Path(__file__).parent / "golden"


def ramp(shape: tuple[int, int] = (40, 60)) -> np.ndarray:
    """x + 2y ramp with a hot pixel at (0, 0): every pixel tells where it is."""
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    img = (xx + 2.0 * yy).astype(np.float32)
    img[0, 0] = 1000.0
    return img


@pytest.fixture
def view(qtbot) -> ImageView:
    widget = ImageView()
    qtbot.addWidget(widget)
    widget.resize(320, 240)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def show(view: ImageView, image: np.ndarray, detector: str = "NRS1", **settings) -> DisplayModel:
    model = DisplayModel()
    view.bind_display(model)
    view.set_image(image, detector)
    model.set_stats(ImageStats(image))
    model.update(**({"limits": "minmax"} | settings))
    QApplication.processEvents()
    return model


def grab(view: ImageView) -> np.ndarray:
    qimage = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    ptr = qimage.constBits()
    ptr.setsize(qimage.sizeInBytes())
    rows = np.frombuffer(ptr, np.uint8).reshape(qimage.height(), qimage.bytesPerLine())
    return rows[:, : qimage.width() * 3].reshape(qimage.height(), qimage.width(), 3).copy()


def drag(qtbot, view: ImageView, button: Qt.MouseButton, points: list[tuple[int, int]]) -> None:
    """Press at the first point, move through the rest, release at the last.

    Real QMouseEvents with the button held (QTest.mouseMove drops it), spaced beyond
    pyqtgraph's mouse-move rate limit.
    """
    viewport = view.viewport()

    def send(kind: QEvent.Type, xy: tuple[int, int], held: Qt.MouseButton) -> None:
        pos = QPointF(*xy)
        glob = QPointF(viewport.mapToGlobal(pos.toPoint()))
        event = QMouseEvent(kind, pos, glob, button, held, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, event)

    send(QEvent.Type.MouseButtonPress, points[0], button)
    for xy in points[1:]:
        qtbot.wait(20)
        send(QEvent.Type.MouseMove, xy, button)
    send(QEvent.Type.MouseButtonRelease, points[-1], Qt.MouseButton.NoButton)


def test_fits_origin_is_bottom_left_with_square_pixels(view: ImageView) -> None:
    image = ramp()
    show(view, image, limits="manual", manual_levels=(0.0, 200.0))
    sx, sy = view.view.viewPixelSize()
    assert sx == pytest.approx(sy, rel=1e-6)  # aspect locked
    # the hot pixel (row 0, column 0) is drawn at the bottom-left corner of the image
    corner = view.view.mapViewToScene(QPointF(0.5, 0.5))
    top = view.view.mapViewToScene(QPointF(0.5, 39.5))
    assert corner.y() > top.y()
    pixels = grab(view)
    assert pixels[int(corner.y()), int(corner.x())].tolist() == [255, 255, 255]
    assert pixels[int(top.y()), int(top.x())][0] < 128


def test_wheel_zoom_keeps_the_point_under_the_cursor(view: ImageView) -> None:
    show(view, ramp())
    viewport = view.viewport()
    at = QPointF(200.0, 90.0)
    before = view.view.mapSceneToView(view.mapToScene(at.toPoint()))
    zoom_before = view.zoom_level()
    event = QWheelEvent(
        at, QPointF(viewport.mapToGlobal(at.toPoint())), QPoint(0, 0), QPoint(0, 120),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viewport, event)
    after = view.view.mapSceneToView(view.mapToScene(at.toPoint()))
    assert view.zoom_level() > 1.2 * zoom_before  # one wheel notch
    assert (after.x(), after.y()) == pytest.approx((before.x(), before.y()), abs=0.05)


def test_left_drag_pans_and_keys_fit_and_one_to_one(view: ImageView, qtbot) -> None:
    show(view, ramp())
    view.zoom(4.0)
    start = view.view.viewRect().center()
    drag(qtbot, view, Qt.MouseButton.LeftButton, [(x, 120) for x in range(160, 90, -10)])
    moved = view.view.viewRect().center()
    # content dragged 60-70 screen pixels to the left: we now look further right
    assert moved.x() - start.x() == pytest.approx(65 / view.zoom_level(), rel=0.15)
    assert moved.y() == pytest.approx(start.y(), abs=0.5)
    view.one_to_one()
    assert view.zoom_level() == pytest.approx(1.0, rel=0.02)
    view.fit()
    rect = view.view.viewRect()
    assert rect.contains(view.image_rect()) or rect.adjusted(-1, -1, 1, 1).contains(
        view.image_rect()
    )


def test_right_drag_sets_contrast_and_bias(view: ImageView, qtbot) -> None:
    model = show(view, ramp())
    drag(qtbot, view, Qt.MouseButton.RightButton, [(160, 120)] + [(x, 30) for x in (200, 250, 300)])
    s = model.settings
    assert s.bias > 0.8 and s.contrast > 3.0  # far right and near the top


def test_stretch_change_swaps_the_lut_not_the_image(view: ImageView) -> None:
    image = ramp()
    model = show(view, image)
    shown = view.image_item.image
    lut = view.image_item.lut
    model.update(stretch="log", colormap="heat")
    QApplication.processEvents()
    assert view.image_item.image is shown
    np.testing.assert_array_equal(shown, image)
    assert view.image_item.lut is model.lut and not np.array_equal(view.image_item.lut, lut)
    assert view.image_item.levels == pytest.approx(model.levels)


@pytest.mark.parametrize("orientation", ["dms", "detector"])
def test_only_a_screenful_of_pixels_is_rendered(view: ImageView, orientation: str) -> None:
    image = ramp((1200, 1600))
    show(view, image, detector="NRS2")
    view.set_orientation(orientation)
    k, x0, y0, _, _ = view._tile
    assert k == round(view.view.viewRect().width() / view.view.width()) >= 2
    tile = view.image_item.image
    np.testing.assert_array_equal(tile, image[y0::k, x0::k][: tile.shape[0], : tile.shape[1]])
    for i, j in ((0, 0), (7, 3), (tile.shape[0] - 1, tile.shape[1] - 1)):
        # tile pixel (i, j) is drawn where DMS pixel (x0 + k j, y0 + k i) is
        corner = view.image_item.mapToItem(view._backdrop, QPointF(j + 0.01, i + 0.01))
        assert (int(corner.x()), int(corner.y())) == (x0 + k * j, y0 + k * i)
    # zoomed in, the tile is full resolution and covers the visible part
    view.zoom(8.0)
    view.view.translateBy(x=-300.0, y=200.0)
    k, x0, y0, x1, y1 = view._tile
    visible = view.view.viewRect()
    inverse, _ = view.image_item.transform().inverted()  # view -> tile pixels
    assert k == 1
    assert QRectF(0, 0, x1 - x0, y1 - y0).contains(inverse.mapRect(visible))
    assert view.image_item.image.size < image.size / 4
    centre = visible.center()
    dms = view.dms_from_scene(view.view.mapViewToScene(centre))
    back = view.view.mapSceneToView(view.scene_from_dms(dms.x(), dms.y()))
    assert (back.x(), back.y()) == pytest.approx((centre.x(), centre.y()), abs=1e-3)


@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
def test_detector_view_matches_the_engine_orientation(detector: str) -> None:
    image = ramp((5, 7))
    shown = dms_to_detector(image, detector)  # what the detector view must look like
    transform = detector_view_transform(detector, image.shape)
    for y in range(5):
        for x in range(7):
            p = transform.map(QPointF(x + 0.5, y + 0.5))
            line, sample = int(p.y()), int(p.x())  # row-major display: row = y, column = x
            assert shown[line, sample] == image[y, x]


def test_overlays_follow_the_orientation(view: ImageView) -> None:
    import pyqtgraph as pg

    show(view, ramp(), detector="NRS2")
    overlay = pg.ImageItem(np.zeros((40, 60), np.uint8), axisOrder="row-major")
    view.add_overlay(overlay)
    view.set_orientation("detector")
    assert overlay.transform() == view.image_item.transform()
    rect = view.image_rect()
    assert (rect.width(), rect.height()) == (40.0, 60.0)  # lines horizontal: DMS transposed
    view.set_orientation("dms")
    assert overlay.transform().isIdentity()
    view.remove_overlay(overlay)
    assert overlay.scene() is None


def _compare_golden(view: ImageView, name: str) -> None:
    pixels = grab(view)
    path = GOLDEN / name
    if os.environ.get("NSCLEAN_UPDATE_GOLDEN") == "1":
        Image.fromarray(pixels).save(path)
    assert path.is_file(), f"{path} missing: run with NSCLEAN_UPDATE_GOLDEN=1 and look at it"
    expected = np.asarray(Image.open(path).convert("RGB"))
    assert expected.shape == pixels.shape
    diff = np.abs(expected.astype(int) - pixels.astype(int))
    assert diff.mean() < 1.0 and np.mean(diff.max(axis=2) > 40) < 0.01, (
        f"{name}: rendering differs from the golden image (mean diff {diff.mean():.2f})"
    )


def test_golden_dms_gray_linear(view: ImageView) -> None:
    image = ramp()
    image[10:12, 20:40] = np.nan  # NaN shows the backdrop colour
    model = show(view, image, limits="manual", manual_levels=(0.0, 140.0))
    nan_pixel = view.view.mapViewToScene(QPointF(30.5, 11.0))
    assert grab(view)[int(nan_pixel.y()), int(nan_pixel.x())].tolist() == list(model.nan_color)
    _compare_golden(view, "dms_gray_linear.png")


def test_golden_nrs2_detector_heat_sqrt(view: ImageView) -> None:
    show(view, ramp(), detector="NRS2", stretch="sqrt", colormap="heat",
         limits="manual", manual_levels=(0.0, 140.0))
    view.set_orientation("detector")
    QApplication.processEvents()
    _compare_golden(view, "nrs2_detector_heat_sqrt.png")
