"""The main window: loading through workers, refusals, combining, stretches, readout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import QEvent, QMimeData, QPointF, Qt, QUrl
from PyQt6.QtGui import QDropEvent, QMouseEvent
from PyQt6.QtWidgets import QApplication

from app.core.files.stack import combine
from app.core.orientation import dms_to_detector
from app.widgets.readout import format_readout

TIMEOUT = 20000

# Qt's offscreen platform warns that it cannot do window-manager things (size hints of
# dock windows, raise()); harmless here.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)")


def wait_for_image(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.stack.image is not None and not window.runner.is_busy(),
                    timeout=TIMEOUT)


def test_opening_files_combines_them_and_lists_them(qtbot, window, write_rate) -> None:
    paths = [write_rate("a_rate.fits", seed=1), write_rate("b_rateints.fits", nints=3, seed=2)]
    window.open_files(paths)
    wait_for_image(qtbot, window)
    table = window.files.table
    assert table.rowCount() == 2
    assert [table.item(1, c).text() for c in range(5)] == [
        "b_rateints.fits", "NRS1", "NRS_IFU", "60×40", "3"
    ]
    expected = combine(window.stack.products, "mean")
    np.testing.assert_array_equal(window.view.image, expected)
    assert "NRS1" in window.status.text() and "4 integration" in window.status.text()
    assert window.recent_files()[0] == str(paths[0].resolve())
    assert window.recent_menu.actions()[0].text() == str(paths[0].resolve())


def test_recent_menu_lists_only_files_that_exist(qtbot, window, write_rate) -> None:
    paths = [write_rate("a_rate.fits", seed=1), write_rate("b_rate.fits", seed=2)]
    window.open_files(paths)
    wait_for_image(qtbot, window)
    paths[0].unlink()
    window.recent_menu.aboutToShow.emit()  # what opening the menu does
    assert [a.text() for a in window.recent_menu.actions()] == [str(paths[1].resolve())]
    assert str(paths[0].resolve()) in window.recent_files()  # back if the disk returns
    paths[1].unlink()
    window.recent_menu.aboutToShow.emit()
    assert not window.recent_menu.actions() and not window.recent_menu.isEnabled()


def test_recent_menu_comes_back_when_its_files_do(qtbot, window, write_rate) -> None:
    """A greyed-out Open Recent cannot be opened: opening File must refresh it."""
    path = write_rate("a_rate.fits", seed=1)
    window.open_files([path])
    wait_for_image(qtbot, window)
    moved = path.with_name("moved.fits")
    path.rename(moved)  # the disk is unmounted
    window.recent_menu.aboutToShow.emit()
    assert not window.recent_menu.isEnabled()
    moved.rename(path)  # ... and mounted again
    file_menu = window.menuBar().actions()[0].menu()
    file_menu.aboutToShow.emit()  # what opening File does
    assert window.recent_menu.isEnabled()
    assert [a.text() for a in window.recent_menu.actions()] == [str(path.resolve())]


def test_switching_combination_recombines(qtbot, window, make_product) -> None:
    products = [make_product("a.fits", nints=3, seed=1), make_product("b.fits", seed=2)]
    window.stack.set_products(products)
    wait_for_image(qtbot, window)
    window.combine_actions["median"].trigger()
    qtbot.waitUntil(lambda: window.stack.image is not None and window.stack.method == "median",
                    timeout=TIMEOUT)
    wait_for_image(qtbot, window)
    np.testing.assert_array_equal(window.view.image, combine(products, "median"))
    assert "median" in window.status.text()


def test_only_the_newest_combination_is_shown(qtbot, window, make_product) -> None:
    products = [make_product("a.fits", nints=4, seed=1)]
    window.stack.set_products(products)
    for method in ("median", "clipped", "mean", "median"):  # faster than any worker
        window.stack.set_method(method)
    wait_for_image(qtbot, window)
    np.testing.assert_array_equal(window.view.image, combine(products, "median"))


def test_mixing_nrs1_and_nrs2_is_refused_and_the_loaded_file_kept(
    qtbot, window, write_rate, messages
) -> None:
    window.open_files([write_rate("nrs1_rate.fits")])
    wait_for_image(qtbot, window)
    shown = window.view.image
    window.open_files([write_rate("nrs2_rate.fits", detector="NRS2")], replace=False)
    qtbot.waitUntil(lambda: bool(messages), timeout=TIMEOUT)
    _title, text = messages[0]
    assert "nrs2_rate.fits" in text and "NRS2" in text and "NRS1" in text
    assert "kept" in text
    assert [p.path.name for p in window.stack.products] == ["nrs1_rate.fits"]
    assert window.view.image is shown


def test_bad_files_are_named_in_a_dialog_and_nothing_is_lost(
    qtbot, window, write_rate, tmp_path: Path, messages
) -> None:
    window.open_files([write_rate("good_rate.fits")])
    wait_for_image(qtbot, window)
    junk = tmp_path / "junk_rate.fits"
    junk.write_bytes(b"SIMPLE  = nonsense")
    wrong = write_rate("small_rate.fits", shape=(10, 10))
    window.open_files([junk, wrong, tmp_path / "gone.fits"], replace=False)
    qtbot.waitUntil(lambda: bool(messages), timeout=TIMEOUT)
    text = messages[0][1]
    for name in ("junk_rate.fits", "small_rate.fits", "gone.fits"):
        assert name in text
    assert "shape" in text
    assert [p.path.name for p in window.stack.products] == ["good_rate.fits"]
    assert window.stack.image is not None and window.isVisible()


def test_stretch_switching_changes_the_lut_not_the_image(qtbot, window, make_product) -> None:
    window.stack.set_products([make_product()])
    wait_for_image(qtbot, window)
    image = window.view.image_item.image
    before = image.copy()
    lut = window.view.image_item.lut
    panel = window.stretch_panel
    panel.stretch.setCurrentIndex(panel.stretch.findData("asinh"))
    assert window.display.settings.stretch == "asinh"
    assert window.stretch_actions["asinh"].isChecked()
    assert window.view.image_item.image is image
    np.testing.assert_array_equal(image, before)
    assert not np.array_equal(window.view.image_item.lut, lut)
    levels = window.view.image_item.levels
    panel.limits.setCurrentIndex(panel.limits.findData("minmax"))
    assert tuple(window.view.image_item.levels) == pytest.approx(
        (np.nanmin(before), np.nanmax(before))
    )
    assert tuple(window.view.image_item.levels) != tuple(levels)
    window.invert_action.trigger()
    assert panel.invert.isChecked() and window.view.image_item.image is image


def test_histogram_drag_sets_manual_levels(qtbot, window, make_product) -> None:
    window.stack.set_products([make_product()])
    wait_for_image(qtbot, window)
    region = window.stretch_panel.histogram.region
    region.setRegion((0.1, 0.5))  # what dragging the lines does
    assert window.display.settings.limits == "manual"
    assert window.display.levels == pytest.approx((0.1, 0.5))
    assert window.stretch_panel.low.text() == "0.1"
    window.display.update(limits="zscale")
    assert region.getRegion() == pytest.approx(window.display.levels)


@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
def test_readout_maps_dms_to_detector_line_and_sample(detector: str) -> None:
    image = np.arange(12 * 20, dtype=np.float32).reshape(12, 20)
    det = dms_to_detector(image, detector)
    x, y = 13, 4
    text = format_readout(image, x + 0.3, y + 0.7, detector, lambda i, j: f"layers@{i},{j}")
    line = int(text.split("line")[1].split()[0])
    sample = int(text.split("sample")[1].split()[0])
    assert det[line, sample] == image[y, x]  # the detector pixel really is this DMS pixel
    # DS9 image coordinates: 1-based, x along NAXIS1
    assert f"DS9 x   {x + 1}  y    {y + 1}" in text and f"value {image[y, x]:.5g}" in text
    assert text.endswith(f"layers@{x},{y}")
    assert format_readout(image, -0.5, 3.0, detector) == ""


def test_readout_follows_the_pointer(qtbot, window, make_product) -> None:
    window.stack.set_products([make_product(detector="NRS2")])
    wait_for_image(qtbot, window)
    window.readout.set_layer_provider(lambda x, y: "dark" if x == 10 else "")
    viewport = window.view.viewport()
    for orientation in (False, True):
        window.detector_action.setChecked(orientation)
        window.detector_action.triggered.emit(orientation)
        qtbot.wait(20)  # let the view apply its new range; pyqtgraph rate-limits moves
        pos = QPointF(window.view.mapFromScene(window.view.scene_from_dms(10.5, 20.5)))
        QApplication.sendEvent(viewport, QMouseEvent(
            QEvent.Type.MouseMove, pos, QPointF(viewport.mapToGlobal(pos.toPoint())),
            Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
        ))
        text = window.readout.text()
        assert "DS9 x   11  y   21" in text, text
        assert "NRS2 line   49  sample   20 (from 0)" in text and text.endswith("dark")
    assert window.view.orientation == "detector"


def test_orientation_toggle_transposes_the_view(qtbot, window, make_product) -> None:
    window.stack.set_products([make_product(shape=(40, 60))])
    wait_for_image(qtbot, window)
    rect = window.view.image_rect()
    assert (rect.width(), rect.height()) == (60, 40)
    window.detector_action.trigger()
    rect = window.view.image_rect()
    assert window.view.orientation == "detector" and (rect.width(), rect.height()) == (40, 60)
    window.detector_action.trigger()
    assert window.view.orientation == "dms"


def test_drop_and_header_viewer(qtbot, window, write_rate) -> None:
    path = write_rate("dropped_rate.fits", detector="NRS2")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    wait_for_image(qtbot, window)
    assert window.stack.detector == "NRS2"
    window.show_header(0)
    viewer = window.header_viewer
    assert "DETECTOR= 'NRS2" in viewer.text.toPlainText()
    viewer.filter.setText("exp_type")
    assert viewer.text.toPlainText().startswith("EXP_TYPE= 'NRS_IFU")
    viewer.close()


def test_removing_every_file_clears_the_view(qtbot, window, make_product) -> None:
    window.stack.set_products([make_product()])
    wait_for_image(qtbot, window)
    window.files.table.selectRow(0)
    window.files.remove_button.click()
    assert not window.stack.products and window.view.image is None
    assert window.status.text() == "Nothing loaded"


@pytest.mark.slow
def test_demo_opens_simulated_data(qtbot, window) -> None:
    window.open_demo()
    qtbot.waitUntil(lambda: window.stack.image is not None, timeout=60000)
    assert window.stack.detector in ("NRS1", "NRS2")
    assert window.view.image.shape == (2048, 2048)


def test_the_window_reopens_as_it_was_left(qtbot, window, settings) -> None:
    from app.main_window import MainWindow

    window.resize(760, 560)  # inside the offscreen platform's 800×600 screen
    window.coverage.dock.close()  # the user closed a dock
    qtbot.wait(20)
    left = (window.width(), window.height())  # what the platform made of the resize
    assert window.close()
    again = MainWindow(settings=settings)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitExposed(again)
    try:
        assert (again.width(), again.height()) == left != (1400, 900)
        assert not again.coverage.dock.isVisible() and again.files_dock.isVisible()
    finally:
        again.runner.shutdown()


def test_the_first_window_fits_a_small_screen(qtbot, settings, monkeypatch) -> None:
    from PyQt6.QtCore import QRect

    from app.main_window import MainWindow

    class SmallScreen:
        def availableGeometry(self) -> QRect:
            return QRect(0, 0, 1280, 720)  # a laptop

    monkeypatch.setattr(MainWindow, "screen", lambda self: SmallScreen())
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    try:
        assert win.width() <= 1216 and win.height() <= 684
    finally:
        win.runner.shutdown()
