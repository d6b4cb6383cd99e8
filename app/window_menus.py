"""The main window's menu bar: File, Edit and Mask (from :class:`MaskActions`), View, Scale,
Combine.

Kept out of :mod:`app.main_window` so the window only composes parts. The menus store
their actions on the window under the names the rest of the program and the tests use
(``recent_menu``, ``view_menu``, ``detector_action``, ``cmap_actions``, ``invert_action``,
``stretch_actions``, ``limit_actions``, ``combine_actions``).

Keys: F fit, Ctrl+1 zoom 1:1 (as in Photoshop; the number keys choose the mask layer, as
in napari), + / - zoom, D detector orientation, I invert; the Mask menu's keys are listed
in :mod:`app.mask_actions`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from PyQt6.QtCore import QObject
from PyQt6.QtGui import QAction, QActionGroup, QKeySequence
from PyQt6.QtWidgets import QMenu

from app.core.display.stretch import COLORMAPS, LIMITS, STRETCHES
from app.core.files.stack import COMBINE_METHODS

if TYPE_CHECKING:
    from app.main_window import MainWindow


def add_action(
    owner: QObject, menu: QMenu, text: str, slot: Callable[..., Any],
    shortcut: str | list[str] | None = None, checkable: bool = False,
    group: QActionGroup | None = None,
) -> QAction:
    """A menu item calling ``slot`` (with Qt's ``checked`` flag when ``checkable``)."""
    action = QAction(text, owner)
    if shortcut:
        keys = [shortcut] if isinstance(shortcut, str) else shortcut
        action.setShortcuts([QKeySequence(k) for k in keys])
    action.setCheckable(checkable)
    action.triggered.connect(slot)
    if group is not None:
        group.addAction(action)
    menu.addAction(action)
    return action


def choice_menu(
    owner: QObject, menu: QMenu, items: dict[str, str], slot: Callable[[str], Any]
) -> dict[str, QAction]:
    """Exclusive checkable items ``name: label`` calling ``slot(name)``."""
    group = QActionGroup(owner)
    return {
        name: add_action(owner, menu, label, partial(slot, name), checkable=True, group=group)
        for name, label in items.items()
    }


def build_menus(window: MainWindow) -> None:
    """Create the whole menu bar of ``window``."""
    bar = window.menuBar()
    file = bar.addMenu("&File")
    # QAction.triggered passes ``checked`` (False): never let it reach ``replace``
    add_action(window, file, "&Open…", lambda: window.choose_files(replace=True), "Ctrl+O")
    add_action(window, file, "&Add to stack…", lambda: window.choose_files(replace=False),
               "Ctrl+Shift+O")
    window.recent_menu = file.addMenu("Open &Recent")
    window.recent_menu.aboutToShow.connect(window._fill_recent_menu)
    # A disabled submenu never opens, so its own aboutToShow cannot re-enable it once a
    # listed file is back (a disk mounted again): refresh it whenever File opens.
    file.aboutToShow.connect(window._fill_recent_menu)
    add_action(window, file, "Open &demo data", lambda: window.open_demo())
    file.addSeparator()
    add_action(window, file, "Open &session…", lambda: window.sessions.open(), "Ctrl+Alt+O")
    add_action(window, file, "&Save session", lambda: window.sessions.save(), "Ctrl+S")
    add_action(window, file, "Save session &as…", window.sessions.save_as, "Ctrl+Shift+S")
    file.addSeparator()
    add_action(window, file, "&Header…", window.show_header, "Ctrl+H")
    file.addSeparator()
    add_action(window, file, "&Quit", window.close, "Ctrl+Q")
    window._fill_recent_menu()

    window.mask_actions.build(bar)  # Edit (undo/redo) and Mask menus
    view = bar.addMenu("&View")
    window.view_menu = view
    add_action(window, view, "&Fit to window", window.view.fit, "F")
    add_action(window, view, "Zoom &1:1", window.view.one_to_one, "Ctrl+1")
    add_action(window, view, "Zoom &in", partial(window.view.zoom, 2.0), ["+", "="])
    add_action(window, view, "Zoom &out", partial(window.view.zoom, 0.5), "-")
    view.addSeparator()
    window.detector_action = add_action(
        window, view, "&Detector orientation (fast scan horizontal)",
        window._toggle_orientation, "D", checkable=True,
    )
    display = window.display
    cmaps = view.addMenu("&Colour map")
    window.cmap_actions = choice_menu(
        window, cmaps, {c: c for c in COLORMAPS}, lambda name: display.update(colormap=name)
    )
    window.invert_action = add_action(
        window, view, "&Invert colours", lambda on: display.update(invert=bool(on)), "I",
        checkable=True,
    )
    view.addSeparator()
    view.addAction(window.files_dock.toggleViewAction())
    view.addAction(window.display_dock.toggleViewAction())

    scale = bar.addMenu("&Scale")
    window.stretch_actions = choice_menu(
        window, scale, {k: v[0] for k, v in STRETCHES.items()},
        lambda name: display.update(stretch=name),
    )
    scale.addSeparator()
    window.limit_actions = choice_menu(
        window, scale, {k: v for k, v in LIMITS.items() if k != "manual"},
        lambda name: display.update(limits=name),
    )

    combine = bar.addMenu("&Combine")
    window.combine_actions = choice_menu(window, combine, COMBINE_METHODS, window.stack.set_method)
    sync_menus(window)


def sync_menus(window: MainWindow) -> None:
    """Check the items that match the display settings and the combination."""
    s = window.display.settings
    window.cmap_actions[s.colormap].setChecked(True)
    window.stretch_actions[s.stretch].setChecked(True)
    for name, action in window.limit_actions.items():
        action.setChecked(name == s.limits)
    window.invert_action.setChecked(s.invert)
    window.combine_actions[window.stack.method].setChecked(True)
