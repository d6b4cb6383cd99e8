"""The paint-tool table drives the Mask menu, its keys, the dock's buttons and the hints."""

from __future__ import annotations

import pytest
from PyQt6.QtCore import Qt

from app.core.state.states import PAINT_TOOLS
from app.widgets.paint_tools import TOOL_TABLE

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)")


def test_the_saved_tool_names_are_the_table() -> None:
    assert tuple(TOOL_TABLE) == PAINT_TOOLS


def test_every_tool_key_chooses_it_and_shows_its_hint(qtbot, window, make_product) -> None:
    window.stack.set_products([make_product()])
    qtbot.waitUntil(lambda: window.mask_layers is not None, timeout=20000)
    for name, spec in TOOL_TABLE.items():
        action = window.mask_actions.tool_actions[name]
        assert action.shortcut().toString() == spec.key
        assert window.layers_panel.tool_buttons[name].text().startswith(spec.button)
        window.view.setFocus()
        qtbot.keyClick(window.view, getattr(Qt.Key, f"Key_{spec.key}"))
        assert window.paint_tool.tool == name and action.isChecked()
        assert window.layers_panel.hint.text() == spec.hint
