"""Adds the Threshold, Coverage and Auto-tune parts to the main window and lays out docks.

The right-hand docks (Display, Cleaning, Threshold, Coverage) share one tab group under
the Files list, each inside a scroll area: stacked, their minimum heights added up to
more than a 1000-pixel screen; tabbed and scrollable, the window's minimum height is
that of the tallest fixed part (see tests/widgets/test_analysis_docks.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtCore import QByteArray, Qt, QTimer
from PyQt6.QtWidgets import QDockWidget, QFrame, QScrollArea

from app.coverage_controller import CoverageController
from app.threshold_controller import ThresholdController
from app.tune_controller import TuneController

if TYPE_CHECKING:
    from app.main_window import MainWindow


def place_preview(window: MainWindow) -> None:
    """Place the preview's docks: Cleaning on the right, the preview images and plots side
    by side at the bottom (a third of the height, after the window's first layout pass)."""
    preview = window.preview
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, preview.dock)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, preview.views_dock)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, preview.plots_dock)
    window.splitDockWidget(preview.views_dock, preview.plots_dock, Qt.Orientation.Horizontal)
    QTimer.singleShot(0, lambda: window.resizeDocks(
        [preview.views_dock], [window.height() // 3], Qt.Orientation.Vertical))
    for dock in (preview.dock, preview.views_dock, preview.plots_dock):
        window.view_menu.addAction(dock.toggleViewAction())


def install_analysis(window: MainWindow) -> None:
    """Create ``window.threshold``, ``window.coverage`` and ``window.tune`` and arrange
    the docks (call once, after the preview controller exists)."""
    ws = window.workspace
    window.threshold = ThresholdController(  # type: ignore[attr-defined]
        ws.stack, ws.masks, ws.threshold, ws.undo, window.view, window.runner, window,
        window.paint_tool.finish, window)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea,
                         window.threshold.dock)  # type: ignore[attr-defined]
    window.coverage = CoverageController(  # type: ignore[attr-defined]
        ws.stack, ws.masks, ws.cleaning, window.preview.current_mask, window.view, window.runner,
        window)
    window.coverage.dock = window._dock(  # type: ignore[attr-defined]
        "Coverage", window.coverage.panel, Qt.DockWidgetArea.RightDockWidgetArea)
    window.tune = TuneController(  # type: ignore[attr-defined]
        ws.stack, ws.cleaning, ws.undo, window.preview.current_mask, window.runner, window,
        window)
    form = window.preview.panel.form  # Auto-tune sits under the cleaning form
    panel_layout = window.preview.panel.layout()
    panel_layout.insertWidget(panel_layout.indexOf(form) + 1,
                              window.tune.controls)  # type: ignore[attr-defined]
    for dock in (window.threshold.dock, window.coverage.dock):  # type: ignore[attr-defined]
        window.view_menu.addAction(dock.toggleViewAction())
    tab_right_docks(window, [window.display_dock, window.preview.dock,
                             window.threshold.dock, window.coverage.dock])  # type: ignore[attr-defined]


def scrollable(dock: QDockWidget) -> None:
    """Put the dock's widget into a frameless scroll area (its minimum height drops)."""
    widget = dock.widget()
    if widget is None or isinstance(widget, QScrollArea):
        return
    area = QScrollArea()
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidgetResizable(True)
    area.setWidget(widget)
    # as wide as the controls need (plus a scroll bar): only the height scrolls
    bar = area.verticalScrollBar().sizeHint().width()
    area.setMinimumWidth(widget.minimumSizeHint().width() + bar)
    dock.setWidget(area)


def tab_right_docks(window: MainWindow, docks: list[QDockWidget]) -> None:
    """Tabify ``docks`` into one group (the first one shown), each scrollable."""
    for dock in docks:
        scrollable(dock)
    for dock in docks[1:]:
        window.tabifyDockWidget(docks[0], dock)
    docks[0].raise_()


#: Bump when the docks change, so that an older saved layout is not restored over them.
LAYOUT_VERSION = 1
#: The window's first size; smaller screens (laptops) get 95 % of what they offer.
DEFAULT_SIZE = (1400, 900)


def restore_layout(window: MainWindow) -> None:
    """Size and place the window and its docks as the user left them, or fit the default
    size to the screen on the first start."""
    geometry = window.settings.value("window/geometry")
    if not (isinstance(geometry, QByteArray) and window.restoreGeometry(geometry)):
        screen = window.screen()
        width, height = DEFAULT_SIZE
        if screen is not None:
            available = screen.availableGeometry()
            width = min(width, int(0.95 * available.width()))
            height = min(height, int(0.95 * available.height()))
        window.resize(width, height)
    state = window.settings.value("window/state")
    if isinstance(state, QByteArray):
        window.restoreState(state, LAYOUT_VERSION)


def save_layout(window: MainWindow) -> None:
    """Remember the window's geometry and dock layout for the next start."""
    window.settings.setValue("window/geometry", window.saveGeometry())
    window.settings.setValue("window/state", window.saveState(LAYOUT_VERSION))
