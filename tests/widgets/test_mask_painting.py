"""Painting through the widgets: synthetic mouse and key events against the model called directly.

Every test drives the real window (image view, paint tool, overlay, menus) with Qt events
and compares the layers with a second :class:`MaskLayers` painted by direct calls at the
positions the events map to, so a wrong coordinate offset, a lost event or a missing
undo step fails.
"""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt6.QtGui import QMouseEvent
from PyQt6.QtWidgets import QApplication

from app.core.mask.layers import LAYERS, MaskLayers

TIMEOUT = 20000
L, NONE = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)")


@pytest.fixture
def win(qtbot, window, make_product, monkeypatch, tmp_path):
    """The main window showing a 40×60 NRS1 image, zoomed so pixels are large."""
    monkeypatch.setenv("NSCLEAN_GUI_STATE_DIR", str(tmp_path / "state"))
    window.stack.set_products([make_product(shape=(40, 60))])
    qtbot.waitUntil(lambda: window.mask_layers is not None and not window.runner.is_busy(),
                    timeout=TIMEOUT)
    window.activateWindow()
    window.view.setFocus()
    QApplication.processEvents()
    assert window.paint_tool.tool == "pan"  # opening an image never paints by accident
    window.paint_tool.set_tool("brush")
    return window


def reference(win) -> MaskLayers:
    """A fresh model with the same unusable pixels, painted by direct calls."""
    layers = win.mask_layers
    return MaskLayers(layers.shape, unusable=np.asarray(layers.unusable),
                      border_sides=layers.border_sides)


def assert_same(win, ref: MaskLayers) -> None:
    for name in LAYERS:
        np.testing.assert_array_equal(win.mask_layers.layer(name), ref.layer(name), err_msg=name)
    np.testing.assert_array_equal(win.mask_layers.background(), ref.background())


def screen(win, x: float, y: float) -> QPoint:
    """Viewport pixel over DMS position (x, y) (pixel i spans [i, i+1))."""
    return win.view.mapFromScene(win.view.scene_from_dms(x, y))


def model_point(win, p: QPoint) -> tuple[float, float]:
    """Where the model is hit for viewport pixel ``p``: (row, column), centres at integers."""
    dms = win.view.dms_from_scene(win.view.mapToScene(p))
    return dms.y() - 0.5, dms.x() - 0.5


def send(win, kind, p: QPoint, button=L, held=L, modifiers=Qt.KeyboardModifier.NoModifier):
    viewport = win.view.viewport()
    pos = QPointF(p)
    event = QMouseEvent(kind, pos, QPointF(viewport.mapToGlobal(p)), button, held, modifiers)
    QApplication.sendEvent(viewport, event)


def drag(win, points: list[QPoint], button=L, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    send(win, QEvent.Type.MouseButtonPress, points[0], button, button, modifiers)
    for p in points[1:]:
        send(win, QEvent.Type.MouseMove, p, NONE, button, modifiers)
    send(win, QEvent.Type.MouseButtonRelease, points[-1], button, NONE, modifiers)


def click(win, p: QPoint, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    drag(win, [p], L, modifiers)


def key(qtbot, win, k, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(win.view, k, modifiers)


def test_brush_stroke_paints_exactly_what_the_model_paints(win) -> None:
    win.paint_tool.set_size(5)
    points = [screen(win, x, y) for x, y in ((10.3, 12.6), (14.0, 15.2), (25.7, 15.9), (30, 30))]
    drag(win, points)
    ref = reference(win)
    ref.begin_stroke("light", 2.5)
    for p in points:
        ref.stroke_to(*model_point(win, p))
    ref.end_stroke()
    assert_same(win, ref)
    assert win.mask_layers.layer("light").any()
    assert len(win.mask_layers.history) == 1  # one undo item per stroke


def test_overlay_shows_the_layers_after_partial_updates(win) -> None:
    before = win.overlay.partial_updates
    drag(win, [screen(win, 20.5, 20.5), screen(win, 40.5, 22.5)])
    assert win.overlay.partial_updates > before
    np.testing.assert_array_equal(win.overlay.label_image, win.mask_layers.labels())


def test_one_mask_changed_signal_per_stroke(win, qtbot) -> None:
    seen = []
    win.maskChanged.connect(seen.append)
    drag(win, [screen(win, x, 20.5) for x in (10.5, 15.5, 20.5, 25.5, 30.5)])
    assert len(seen) == 1
    box = seen[0]
    assert np.array_equal(
        win.mask_layers.layer("light")[box.slices].sum(), win.mask_layers.layer("light").sum()
    )


def test_shift_drag_paints_a_straight_line(win) -> None:
    win.paint_tool.set_size(3)
    a, wiggle, b = screen(win, 8.5, 8.5), screen(win, 30.5, 35.5), screen(win, 50.5, 20.5)
    drag(win, [a, wiggle, b], modifiers=Qt.KeyboardModifier.ShiftModifier)
    ref = reference(win)
    ref.line("light", model_point(win, a), model_point(win, b), 1.5)
    assert_same(win, ref)


def test_shift_click_joins_the_end_of_the_previous_stroke(win) -> None:
    win.paint_tool.set_size(3)
    a, b, c = screen(win, 10.5, 10.5), screen(win, 20.5, 10.5), screen(win, 20.5, 30.5)
    drag(win, [a, b])
    click(win, c, Qt.KeyboardModifier.ShiftModifier)
    ref = reference(win)
    ref.line("light", model_point(win, a), model_point(win, b), 1.5)
    ref.line("light", model_point(win, b), model_point(win, c), 1.5)
    assert_same(win, ref)
    assert len(win.mask_layers.history) == 2


def test_rectangle_and_eraser_with_ctrl(qtbot, win) -> None:
    key(qtbot, win, Qt.Key.Key_R)
    assert win.paint_tool.tool == "rectangle"
    a, b = screen(win, 12.2, 30.7), screen(win, 40.6, 9.1)
    drag(win, [a, screen(win, 20, 20), b])
    c, d = screen(win, 20.5, 15.5), screen(win, 25.5, 20.5)
    drag(win, [c, d], modifiers=Qt.KeyboardModifier.ControlModifier)
    ref = reference(win)
    ref.rectangle("light", model_point(win, a), model_point(win, b))
    ref.rectangle("light", model_point(win, c), model_point(win, d), value=False)
    assert_same(win, ref)


def test_fill_fills_the_clicked_region(qtbot, win) -> None:
    ring = [(10.0, 10.0), (10.0, 30.0), (25.0, 30.0), (25.0, 10.0)]
    win.mask_layers.polygon("exclude", ring)
    win.mask_layers.polygon("exclude", [(12.0, 12.0), (12.0, 28.0), (23.0, 28.0), (23.0, 12.0)],
                            value=False)
    key(qtbot, win, Qt.Key.Key_3)
    key(qtbot, win, Qt.Key.Key_G)
    assert (win.paint_tool.tool, win.paint_tool.layer) == ("fill", "exclude")
    inside = screen(win, 20.5, 17.5)
    click(win, inside)
    ref = reference(win)
    ref.polygon("exclude", ring)
    ref.polygon("exclude", [(12.0, 12.0), (12.0, 28.0), (23.0, 28.0), (23.0, 12.0)], value=False)
    ref.fill("exclude", *model_point(win, inside))
    assert_same(win, ref)
    assert win.mask_layers.layer("exclude")[11:25, 11:30].all()  # ring and inside
    assert not win.mask_layers.layer("exclude")[30:, :].any()


def test_polygon_clicks_and_enter(qtbot, win) -> None:
    key(qtbot, win, Qt.Key.Key_P)
    corners = [screen(win, x, y) for x, y in ((5.5, 5.5), (40.5, 8.5), (30.5, 33.5))]
    for p in corners:
        click(win, p)
    assert win.paint_tool.busy
    key(qtbot, win, Qt.Key.Key_Return)
    ref = reference(win)
    ref.polygon("light", [model_point(win, p) for p in corners])
    assert_same(win, ref)
    assert not win.paint_tool.busy


def test_lasso_drag_closes_on_release(qtbot, win) -> None:
    key(qtbot, win, Qt.Key.Key_P)
    path = [screen(win, 10 + 10 * np.cos(t), 20 + 10 * np.sin(t))
            for t in np.linspace(0, 2 * np.pi, 24)]
    drag(win, path)
    painted = win.mask_layers.layer("light")
    assert painted[20, 10] and painted[20, 15] and not painted[20, 25]
    assert len(win.mask_layers.history) == 1


def test_band_marks_whole_rows_or_columns(qtbot, win) -> None:
    key(qtbot, win, Qt.Key.Key_L)
    drag(win, [screen(win, 30.5, 12.5), screen(win, 32.5, 17.5)])  # mostly vertical: rows
    drag(win, [screen(win, 50.5, 30.5), screen(win, 53.5, 30.5)])  # horizontal: columns
    expected = np.zeros((40, 60), bool)
    expected[12:18, :] = True
    expected[:, 50:54] = True
    np.testing.assert_array_equal(win.mask_layers.layer("light"), expected)


def test_undo_redo_shortcuts(qtbot, win) -> None:
    drag(win, [screen(win, 10.5, 10.5), screen(win, 20.5, 10.5)])
    first = np.array(win.mask_layers.layer("light"))
    drag(win, [screen(win, 10.5, 30.5), screen(win, 20.5, 30.5)])
    both = np.array(win.mask_layers.layer("light"))
    key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(win.mask_layers.layer("light"), first)
    key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not win.mask_layers.layer("light").any()
    shift_ctrl = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    key(qtbot, win, Qt.Key.Key_Z, shift_ctrl)
    key(qtbot, win, Qt.Key.Key_Z, shift_ctrl)
    np.testing.assert_array_equal(win.mask_layers.layer("light"), both)
    np.testing.assert_array_equal(win.overlay.label_image, win.mask_layers.labels())


def test_visibility_key_hides_the_active_layer_in_the_overlay(qtbot, win) -> None:
    drag(win, [screen(win, 20.5, 20.5)])
    win.view.grab()  # render once so the overlay holds a QImage
    code = int(win.overlay.label_image[20, 20])
    assert win.overlay.qimage.color(code) >> 24 > 0  # alpha of the light colour
    key(qtbot, win, Qt.Key.Key_V)
    assert not win.mask_layers.styles["light"].visible
    assert not win.layers_panel.visible["light"].isChecked()
    win.view.grab()
    assert win.overlay.qimage.color(code) >> 24 == 0
    win.layers_panel.visible["light"].setChecked(True)
    assert win.mask_layers.styles["light"].visible


def test_layer_and_size_keys(qtbot, win) -> None:
    key(qtbot, win, Qt.Key.Key_2)
    assert win.paint_tool.layer == "dark" and win.layers_panel.radios["dark"].isChecked()
    key(qtbot, win, Qt.Key.Key_1)
    assert win.paint_tool.layer == "light"
    size = win.paint_tool.size
    key(qtbot, win, Qt.Key.Key_BracketRight)
    assert win.paint_tool.size > size
    assert win.layers_panel.size_spin.value() == round(win.paint_tool.size)
    key(qtbot, win, Qt.Key.Key_BracketLeft)
    key(qtbot, win, Qt.Key.Key_BracketLeft)
    assert win.paint_tool.size < size
    key(qtbot, win, Qt.Key.Key_E)
    assert win.paint_tool.tool == "eraser"


def test_painting_dark_directly_and_erasing(qtbot, win) -> None:
    key(qtbot, win, Qt.Key.Key_2)
    key(qtbot, win, Qt.Key.Key_E)
    win.paint_tool.set_size(4)
    points = [screen(win, 20.5, 20.5), screen(win, 30.5, 20.5)]
    drag(win, points)
    ref = reference(win)
    ref.begin_stroke("dark", 2.0, value=False)
    for p in points:
        ref.stroke_to(*model_point(win, p))
    ref.end_stroke()
    assert_same(win, ref)
    assert win.mask_layers.dark_edited and not win.mask_layers.background()[20, 25]


def test_pan_tool_space_and_middle_button_pan_without_painting(qtbot, win) -> None:
    def slow_drag(button=L) -> None:
        # pyqtgraph drops mouse moves closer than its rate limit: space them out
        points = [screen(win, 20, 20), screen(win, 30, 25), screen(win, 40, 30)]
        send(win, QEvent.Type.MouseButtonPress, points[0], button, button)
        for p in points[1:]:
            qtbot.wait(20)
            send(win, QEvent.Type.MouseMove, p, NONE, button)
        send(win, QEvent.Type.MouseButtonRelease, points[-1], button, NONE)

    for how in ("middle", "space", "pan tool"):
        before = win.view.view.viewRange()
        if how == "middle":
            slow_drag(Qt.MouseButton.MiddleButton)
        elif how == "space":
            qtbot.keyPress(win.view, Qt.Key.Key_Space)
            slow_drag()
            qtbot.keyRelease(win.view, Qt.Key.Key_Space)
        else:
            key(qtbot, win, Qt.Key.Key_H)
            slow_drag()
        assert win.view.view.viewRange() != before, how
    assert not win.mask_layers.layer("light").any() and len(win.mask_layers.history) == 0
    key(qtbot, win, Qt.Key.Key_B)  # painting again after all that
    drag(win, [screen(win, 20.5, 20.5)])
    assert win.mask_layers.layer("light").any()


def test_readout_names_the_layers_under_the_cursor(win) -> None:
    win.mask_layers.rectangle("light", (10, 10), (12, 12))
    assert "light" in win._layers_under(11, 11)
    assert "background" in win._layers_under(30, 30)
    assert "unusable" in win._layers_under(3, 2)  # the NaN pixel
    # a 40×60 image spans the detector along neither axis: no reference border (the
    # border's own readout is tested on the model, tests/core/test_mask_layers.py)
    assert "border" not in win._layers_under(0, 0)


def test_new_layers_mid_stroke_end_the_stroke_cleanly(win, make_product, qtbot) -> None:
    old = win.mask_layers
    send(win, QEvent.Type.MouseButtonPress, screen(win, 10.5, 10.5))
    send(win, QEvent.Type.MouseMove, screen(win, 20.5, 10.5), NONE, L)
    assert win.paint_tool.busy
    win.stack.set_products([make_product(shape=(30, 30))])  # another image shape arrives
    qtbot.waitUntil(lambda: win.mask_layers is not old and not win.runner.is_busy(),
                    timeout=TIMEOUT)
    assert not win.paint_tool.busy
    assert len(old.history) == 1 and old.history.can_undo  # the stroke is one closed item
    send(win, QEvent.Type.MouseButtonRelease, screen(win, 20.5, 10.5), L, NONE)
    drag(win, [screen(win, 5.5, 5.5), screen(win, 12.5, 8.5)])  # painting goes on
    assert win.mask_layers.layer("light").any() and len(win.mask_layers.history) == 1


def test_previews_show_what_will_be_painted(qtbot, win) -> None:
    preview = win.paint_tool.preview
    win.paint_tool.set_size(8)
    send(win, QEvent.Type.MouseMove, screen(win, 20.5, 20.5), NONE, NONE)
    assert preview.cursor.isVisible() and preview.cursor.rect().width() == 8
    key(qtbot, win, Qt.Key.Key_R)
    assert not preview.cursor.isVisible()
    send(win, QEvent.Type.MouseButtonPress, screen(win, 10.5, 12.5))
    send(win, QEvent.Type.MouseMove, screen(win, 20.5, 15.5), NONE, L)
    shown = preview.shape.path().boundingRect()
    assert preview.shape.isVisible()
    assert (shown.left(), shown.top(), shown.right(), shown.bottom()) == (10, 12, 21, 16)
    send(win, QEvent.Type.MouseButtonRelease, screen(win, 20.5, 15.5), L, NONE)
    assert not preview.shape.isVisible()
    assert win.mask_layers.layer("light")[12:16, 10:21].all()
    assert win.mask_layers.layer("light").sum() == 4 * 11  # exactly the previewed pixels


def test_turning_the_view_mid_stroke_ends_the_stroke_where_it_was(qtbot, win) -> None:
    # the cursor stays put but the image turns under it: no line to its new image position
    win.paint_tool.set_size(3)
    a, b = screen(win, 10.5, 10.5), screen(win, 20.5, 12.5)
    ref = reference(win)
    ref.begin_stroke("light", 1.5)
    for p in (a, b):
        ref.stroke_to(*model_point(win, p))
    ref.end_stroke()
    send(win, QEvent.Type.MouseButtonPress, a, L, L)
    send(win, QEvent.Type.MouseMove, b, NONE, L)
    win.detector_action.trigger()  # D while the button is held
    QApplication.processEvents()
    send(win, QEvent.Type.MouseMove, b + QPoint(3, 0), NONE, L)
    send(win, QEvent.Type.MouseButtonRelease, b + QPoint(3, 0), L, NONE)
    assert_same(win, ref)
    assert len(win.mask_layers.history) == 1 and not win.paint_tool.busy
    win.detector_action.trigger()


def test_readout_names_the_new_layer_without_a_mouse_move(qtbot, win) -> None:
    """A click with the brush, then undo with the pointer still: the readout follows."""
    p = screen(win, 30.5, 20.5)
    send(win, QEvent.Type.MouseMove, p, NONE, NONE)  # the pointer arrives
    before = win.readout.text()
    assert "DS9 x   31  y   21" in before and "light" not in before
    click(win, p)  # paint: press and release, no move afterwards
    assert win.readout.text().endswith("light"), win.readout.text()
    qtbot.keyClick(win.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.readout.text() == before
