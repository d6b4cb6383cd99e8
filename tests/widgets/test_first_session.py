"""What a first session runs into (issue 16), driven as a user does: menu actions, keys,
mouse events on the views."""

from __future__ import annotations

import pytest
from PyQt6.QtCore import QPoint, Qt

from app.core.simulation.simulate import simulate_exposure, write_simulation
from tests.widgets.test_file_menu import menu_action

TIMEOUT = 20000
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)")


def wait_for_image(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.stack.image is not None and not window.runner.is_busy(),
                    timeout=TIMEOUT)


def hdu_names(viewer) -> list[str]:
    return [viewer.hdu.itemText(i).split(" ", 1)[1] for i in range(viewer.hdu.count())]


def choose_hdu(viewer, name: str) -> str:
    viewer.hdu.setCurrentIndex(hdu_names(viewer).index(name))
    return viewer.text.toPlainText()


def test_header_viewer_shows_every_hdu_in_full(qtbot, window, tmp_path) -> None:
    sim = simulate_exposure("mos", "NRS2", nints=1, seed=3, shape=(64, 96))
    path = write_simulation(sim, tmp_path / "sim_rate.fits")
    window.open_files([path])
    wait_for_image(qtbot, window)
    menu_action(window, "File", "Header…").trigger()
    viewer = window.header_viewer
    assert hdu_names(viewer) == ["PRIMARY", "SCI", "ERR", "DQ", "TRUTH_SCENE", "TRUTH_NOISE",
                                 "TRUTH_CR", "TRUTH_MASK"]
    primary = choose_hdu(viewer, "PRIMARY")
    assert primary.startswith("SIMPLE  =                    T") and "NAXIS   =" in primary
    sci = choose_hdu(viewer, "SCI")
    assert sci.startswith("XTENSION= 'IMAGE") and "NAXIS1  =                   96" in sci
    assert "Pixels = 1 are background" in choose_hdu(viewer, "TRUTH_MASK")
    viewer.filter.setText("naxis2")
    assert choose_hdu(viewer, "DQ") == "NAXIS2  =                   64"
    viewer.close()


def test_header_viewer_completes_the_headers_of_the_demo(qtbot, window) -> None:
    from app.core.simulation.simulate import demo_products

    window.stack.set_products(demo_products(nints=1))
    wait_for_image(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)
    viewer = window.header_viewer
    assert viewer.isVisible() and "TRUTH_MASK" in hdu_names(viewer)
    primary = choose_hdu(viewer, "PRIMARY")
    assert "SIMPLE  =" in primary and "BITPIX  =" in primary and "DETECTOR= 'NRS1" in primary
    assert "NAXIS1  =                 2048" in choose_hdu(viewer, "SCI")
    viewer.close()


def test_header_viewer_of_a_product_built_in_memory(qtbot, window, make_product) -> None:
    window.stack.set_products([make_product(shape=(40, 60))])
    wait_for_image(qtbot, window)
    menu_action(window, "File", "Header…").trigger()
    viewer = window.header_viewer
    assert hdu_names(viewer) == ["PRIMARY", "SCI", "DQ"]
    assert "NAXIS1  =                   60" in choose_hdu(viewer, "SCI")
    viewer.close()


def click_check_box(qtbot, box) -> None:
    """A click on the box itself (the widget may be far wider than its box and text)."""
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


def test_side_by_side_starts_with_original_and_cleaned(qtbot, window) -> None:
    views = window.preview.views
    click_check_box(qtbot, views.side_by_side)
    assert views.side_by_side.isChecked() and views.second.isVisible()
    assert (views.first.kind, views.second.kind) == ("original", "cleaned")
    views.second.set_kind("model")  # the user's choice survives switching off and on
    click_check_box(qtbot, views.side_by_side)
    click_check_box(qtbot, views.side_by_side)
    assert (views.first.kind, views.second.kind) == ("original", "model")


def test_status_bar_progress_fits_its_messages(qtbot, window, make_product) -> None:
    window.resize(1280, 720)
    window.stack.set_products([make_product(shape=(40, 60))])
    wait_for_image(qtbot, window)
    bar = window.progress
    metrics = bar.fontMetrics()
    for message in ("cleaning the whole frame", "weight_sigma = 16", "fc = 12 cycles/line"):
        window.runner.progress.emit("preview", 0.5, message)
        assert bar.text() == message
        assert metrics.horizontalAdvance(message) < bar.width() - 10
    long = "cleaning a_very_long_file_name_from_the_archive_rateints.fits (12/40)"
    window.runner.progress.emit("save", 0.5, long)
    assert bar.text().endswith("…") and bar.toolTip() == long


def test_shapes_read_naxis1_by_naxis2(qtbot, window, make_product) -> None:
    window.stack.set_products([make_product(shape=(40, 60))])  # 40 rows of 60 pixels
    wait_for_image(qtbot, window)
    assert window.status.text().endswith("· 60×40")
    assert window.files.table.item(0, 3).text() == "60×40"
    assert "DS9" in window.readout.toolTip()


def test_cli_help_says_how_planes_and_integrations_are_counted(capsys) -> None:
    from app.cli import main

    for command in ("clean", "tune"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "counted from 0 as in NumPy (plane 0 is the first" in text
    # tune has both: each help names the other's convention
    assert "--integration counts from 1" in text and "--mask-plane counts from 0" in text


def labelled_ticks(axis) -> list[tuple[float, str]]:
    """(value, label) of the ticks the axis draws now (labels may be empty)."""
    lo, hi = axis.range
    size = axis.width() if axis.orientation in ("top", "bottom") else axis.height()
    out = []
    for spacing, values in axis.tickValues(lo, hi, size):
        out += list(zip(values, axis.tickStrings(values, axis.scale, spacing), strict=True))
    return out


def test_plots_read_at_a_glance(qtbot, window, make_product) -> None:
    preview, plots = window.preview, window.preview.plots
    with qtbot.waitSignal(preview.resultShown, timeout=60000):
        window.stack.set_products([make_product("full_rate.fits", shape=(2048, 2048))])
    qtbot.mouseClick(plots.tabs.tabBar(), Qt.MouseButton.LeftButton,
                     pos=plots.tabs.tabBar().tabRect(1).center())  # "Power spectrum"
    assert plots.tabs.currentWidget() is plots.spectrum
    qtbot.waitUntil(lambda: plots.spectrum_after.xData is not None, timeout=60000)
    qtbot.wait(50)
    for side in ("bottom", "left"):
        axis = plots.spectrum.getAxis(side)
        shown = [(v, text) for v, text in labelled_ticks(axis) if text]
        # labels only at whole decades: they cannot crowd each other
        assert shown and all(abs(v - round(v)) < 1e-6 for v, _t in shown), shown
        assert "(x" not in axis.labelString()
    bottom = [t for _v, t in labelled_ticks(plots.spectrum.getAxis("bottom")) if t]
    assert all(t.endswith("Hz") for t in bottom), bottom
    assert "(DN/s)²/Hz" in plots.spectrum.getAxis("left").labelString()
    # the profile's values as they are: no "(x0.001)" scale in the label
    assert "(x" not in plots.profile.getAxis("left").labelString()
    # the names of the curves in the title, not in a box over the curves
    for plot in (plots.profile, plots.spectrum, plots.coverage):
        assert plot.getPlotItem().legend is None
    title = plots.spectrum.getPlotItem().titleLabel.text
    assert "original" in title and "cleaned" in title


def submenu_action(window, path: list[str]):
    """The QAction at ``path`` of menu titles (ampersands ignored) in the menu bar."""
    actions = window.menuBar().actions()
    for depth, title in enumerate(path):
        for action in actions:
            if action.text().replace("&", "") == title:
                if depth == len(path) - 1:
                    return action
                action.menu().aboutToShow.emit()  # as when the user opens it
                actions = action.menu().actions()
                break
        else:
            raise LookupError(" ▸ ".join(path))
    raise LookupError(" ▸ ".join(path))


REGIONS = ["Mask", "Regions (DS9, CRTF)"]


def test_region_files_import_into_a_layer_and_light_exports_as_ds9(
        qtbot, window, write_rate, tmp_path, monkeypatch, messages) -> None:
    import numpy as np
    from PyQt6.QtWidgets import QFileDialog

    path = write_rate("slit_rate.fits", shape=(40, 60))
    window.open_files([path])
    wait_for_image(qtbot, window)
    layers = window.masks.layers
    layers.apply_mask("light", np.pad(np.ones((2, 2), bool), ((1, 37), (1, 57))), "add", "hand")
    region = tmp_path / "slits.reg"
    region.write_text("# Region file format: DS9 version 4.1\nimage\nbox(30.5,20.5,10,4,0)\n")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(region), ""))
    submenu_action(window, [*REGIONS, "Import regions into Light layer…"]).trigger()
    light = layers.layer("light")
    assert light[18:22, 25:35].all() and light[1:3, 1:3].all()  # added; the hand work kept
    assert np.count_nonzero(light) == 40 + 4
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # one undo step
    assert np.count_nonzero(layers.layer("light")) == 4
    submenu_action(window, [*REGIONS, "Import regions into Exclude layer…"]).trigger()
    assert layers.layer("exclude")[18:22, 25:35].all()
    # the outlines go out as a DS9 file that reads back as the same light layer
    out = tmp_path / "out" / "light.reg"
    out.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    export = submenu_action(window, [*REGIONS,
                                     "Export light outlines as DS9 regions (image coordinates)…"])
    export.trigger()
    text = out.read_text()
    assert "\nimage\n" in text and text.count("polygon(") == 1  # the box was undone
    # pixels 1..2 of NumPy are 2..3 in DS9, their outline at 1.5 and 3.5
    assert "polygon(1.5,1.5,3.5,1.5,3.5,3.5,1.5,3.5)" in text
    from app.core.mask.regionfiles import read_regions

    np.testing.assert_array_equal(read_regions(out, (40, 60)).mask, layers.layer("light"))
    sky = submenu_action(window, [*REGIONS,
                                  "Export light outlines as DS9 regions (sky coordinates)…"])
    assert not sky.isEnabled()  # this file has no celestial WCS
    # a broken file: one message, layers unchanged
    region.write_text("nonsense\n")
    before = layers.layer("light").copy()
    submenu_action(window, [*REGIONS, "Import regions into Light layer…"]).trigger()
    assert messages and "not a DS9 or CRTF region file" in messages[-1][1]
    np.testing.assert_array_equal(layers.layer("light"), before)
    assert window.settings.value("lastRegionDirectory") == str(tmp_path)


def test_the_window_module_leaves_astropy_fits_for_later() -> None:
    """``import app.main_window`` must not pay for astropy.io.fits (~0.5 s of start-up)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", "import sys, app.main_window; print(sorted(m for m in "
         "sys.modules if m.startswith('astropy')))"], capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=str(root), QT_QPA_PLATFORM="offscreen"), check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_files_panel_shows_four_rows(qtbot, window, make_product) -> None:
    window.resize(1280, 720)
    window.stack.set_products([make_product(f"f{i}_rate.fits", seed=i) for i in range(4)])
    wait_for_image(qtbot, window)
    table = window.files.table
    qtbot.wait(50)
    assert table.viewport().height() >= 4 * table.rowHeight(0)


def test_rectangle_selection_says_how_to_draw_it(qtbot, window, make_product) -> None:
    panel = window.threshold.panel
    window.threshold.dock.raise_()
    assert not panel.region_hint.isVisible()
    combo = panel.region
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Down)  # "Inside a rectangle", chosen with the keyboard
    assert panel.region_kind == "rectangle"
    assert panel.region_hint.isVisible() and "handles" in panel.region_hint.text()
