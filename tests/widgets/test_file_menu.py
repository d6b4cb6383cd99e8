"""The File menu and the file list as a user drives them: the menu's QActions are triggered,
never the methods behind them (``QAction.triggered`` passes ``checked``, which once
turned Open into Add)."""

from __future__ import annotations

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QFileDialog

TIMEOUT = 20000
SHAPE = (40, 60)
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)")


def menu_action(window, menu_title: str, text: str):
    """The QAction called ``text`` (ampersands ignored) in the menu bar's ``menu_title``."""
    for top in window.menuBar().actions():
        if top.text().replace("&", "") == menu_title:
            for action in top.menu().actions():
                if action.text().replace("&", "") == text:
                    return action
    raise LookupError(f"{menu_title} ▸ {text}")


def idle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: not window.runner.is_busy("load")
                    and not window.runner.is_busy("combine"), timeout=TIMEOUT)


def names(window) -> list[str]:
    return [p.path.name for p in window.stack.products]


def choose(monkeypatch, *paths) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileNames",
                        lambda *a, **k: ([str(p) for p in paths], ""))


def test_open_replaces_the_loaded_files(qtbot, window, write_rate, monkeypatch, messages) -> None:
    ifu = write_rate("ifu_rate.fits", shape=SHAPE)
    nrs2 = write_rate("nrs2_rate.fits", shape=SHAPE, detector="NRS2")
    fixed = write_rate("fs_rate.fits", shape=SHAPE, seed=5)
    choose(monkeypatch, ifu)
    menu_action(window, "File", "Open…").trigger()
    idle(qtbot, window)
    assert names(window) == ["ifu_rate.fits"]
    choose(monkeypatch, nrs2)  # another detector: Open replaces, nothing is refused
    menu_action(window, "File", "Open…").trigger()
    idle(qtbot, window)
    assert names(window) == ["nrs2_rate.fits"] and window.stack.detector == "NRS2"
    choose(monkeypatch, fixed)  # same detector: replaced, not averaged with the other
    menu_action(window, "File", "Open…").trigger()
    idle(qtbot, window)
    assert names(window) == ["fs_rate.fits"]
    assert not messages


def test_add_to_stack_adds_and_never_twice(qtbot, window, write_rate, monkeypatch,
                                          messages) -> None:
    a = write_rate("a_rate.fits", shape=SHAPE)
    b = write_rate("b_rate.fits", shape=SHAPE, seed=1)
    choose(monkeypatch, a)
    menu_action(window, "File", "Open…").trigger()
    idle(qtbot, window)
    choose(monkeypatch, b)
    menu_action(window, "File", "Add to stack…").trigger()
    idle(qtbot, window)
    assert names(window) == ["a_rate.fits", "b_rate.fits"]
    choose(monkeypatch, a)  # already loaded: it would count twice in the mean
    menu_action(window, "File", "Add to stack…").trigger()
    idle(qtbot, window)
    assert names(window) == ["a_rate.fits", "b_rate.fits"]
    assert messages and "already loaded" in messages[-1][1]


def test_open_recent_replaces(qtbot, window, write_rate, monkeypatch, messages) -> None:
    a = write_rate("a_rate.fits", shape=SHAPE)
    b = write_rate("b_rate.fits", shape=SHAPE, seed=1)
    choose(monkeypatch, a, b)
    menu_action(window, "File", "Open…").trigger()
    idle(qtbot, window)
    assert names(window) == ["a_rate.fits", "b_rate.fits"]
    window.recent_menu.aboutToShow.emit()  # what opening the submenu does
    recent = {action.text(): action for action in window.recent_menu.actions()}
    recent[str(a.resolve())].trigger()
    idle(qtbot, window)
    assert names(window) == ["a_rate.fits"]  # replaced: a is loaded once, b is gone
    assert not messages


def test_removing_every_file_clears_overlay_counts_preview_and_plots(
        qtbot, window, write_rate, monkeypatch) -> None:
    choose(monkeypatch, write_rate("a_rate.fits", shape=SHAPE))
    with qtbot.waitSignal(window.preview.resultShown, timeout=TIMEOUT):
        menu_action(window, "File", "Open…").trigger()
    window.mask_layers.rectangle("light", (10, 10), (15, 40))
    window.preview.plots_dock.show()
    window.preview.plots_dock.raise_()
    qtbot.waitUntil(lambda: window.preview.plots.profile_after.xData is not None,
                    timeout=TIMEOUT)
    assert "Background (fitted)" in window.layers_panel.readout.text()
    assert window.overlay.layers is not None

    window.files.table.selectRow(0)
    window.files.table.setFocus()
    qtbot.keyClick(window.files.table, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: not window.stack.products, timeout=TIMEOUT)
    qtbot.wait(100)  # let anything still queued arrive
    assert window.overlay.layers is None and window.mask_layers is None
    assert "Background (fitted)" not in window.layers_panel.readout.text()
    assert window.preview.result is None
    assert all(pane.view.image is None for pane in window.preview.views.panes)
    plots = window.preview.plots
    assert plots.profile_before.xData is None and plots.profile_after.xData is None
    assert plots.coverage_curve.xData is None
    assert window.coverage.coverage is None
