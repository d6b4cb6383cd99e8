"""Places the docks of the main window's controllers and remembers the layout.

The right-hand docks (Display, Cleaning, Threshold, Coverage) share one tab group under
the Files list, each inside a scroll area: stacked, their minimum heights added up to
more than a 1000-pixel screen; tabbed and scrollable, the window's minimum height is
that of the tallest fixed part (see tests/widgets/test_analysis_docks.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtCore import QByteArray, Qt, QTimer
from PyQt6.QtWidgets import QDockWidget, QFrame, QScrollArea

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


def place_analysis(window: MainWindow) -> None:
    """Place the Threshold and Coverage docks and the Auto-tune controls, and tab the
    right-hand docks (call once, after :func:`place_preview`)."""
    for dock in (window.threshold.dock, window.coverage.dock):
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    form = window.preview.panel.form  # Auto-tune sits under the cleaning form
    panel_layout = window.preview.panel.layout()
    panel_layout.insertWidget(panel_layout.indexOf(form) + 1, window.tune.controls)
    for dock in (window.threshold.dock, window.coverage.dock):
        window.view_menu.addAction(dock.toggleViewAction())
    tab_right_docks(window, [window.display_dock, window.preview.dock,
                             window.threshold.dock, window.coverage.dock])


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
