"""The Mask-menu and session actions work from models, a port and small callables: built
here without a main window, they save, open and refuse as they do in the window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtWidgets import QWidget

from app.core.mask.layers import LAYERS
from app.core.state.workspace import Workspace
from app.mask_actions import MaskActions
from app.session_actions import SessionActions
from app.widgets.image_view import ImageView
from app.widgets.paint_tool import PaintTool
from app.widgets.workers import TaskRunner

SHAPE = (40, 60)


class Port:
    """A :class:`~app.widgets.port.MessagePort` that records what it is told."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []
        self.statuses: list[str] = []

    def show_message(self, title: str, text: str, critical: bool = False) -> None:
        self.messages.append((title, text))

    def show_status(self, text: str, msecs: int = 6000) -> None:
        self.statuses.append(text)


class Parts:
    """A workspace with an image and the objects the actions are built from."""

    def __init__(self, qtbot, settings) -> None:
        self.parent = QWidget()
        qtbot.addWidget(self.parent)
        self.workspace = Workspace()
        self.view = ImageView()
        self.view.setParent(self.parent)  # as in the window: gone with its parent
        self.tool = PaintTool(self.view, self.workspace.masks, self.workspace.paint, self.parent)
        self.runner = TaskRunner(self.parent)
        self.port, self.settings = Port(), settings
        self.calls: list[str] = []
        self.loaded: set[Path] = set()

    def show_image(self) -> None:
        image = np.random.default_rng(1).normal(size=SHAPE).astype(np.float32)
        self.workspace.masks.image_changed(image, "NRS1")

    def sessions(self) -> SessionActions:
        return SessionActions(
            self.workspace, self.tool, self.runner, self.port, self.settings, self.parent,
            open_images=lambda paths: self.calls.append(f"open {len(paths)}"),
            open_demo=lambda: self.calls.append("demo"), is_demo=lambda: False,
            close_images=lambda: self.calls.append("close"),
            loaded_input=lambda p: p if Path(p) in self.loaded else None,
            set_modified=lambda on: self.calls.append(f"modified {on}"))

    def mask_actions(self) -> MaskActions:
        return MaskActions(self.workspace, self.tool, self.view, self.port, self.settings,
                           self.parent, lambda p: p if Path(p) in self.loaded else None)


@pytest.fixture
def parts(qtbot, settings, state_dir):
    made = Parts(qtbot, settings)
    yield made
    made.runner.shutdown()


def test_session_actions_save_and_open_without_a_window(qtbot, settings, parts, tmp_path):
    sessions = parts.sessions()
    parts.show_image()
    layers = parts.workspace.masks.layers
    layers.rectangle("light", (10, 10), (15, 40))
    parts.workspace.cleaning.update(fc=0.03)
    assert sessions.dirty
    target = tmp_path / "work.nsclean-session"
    assert sessions.save(target) and not sessions.dirty
    assert parts.port.statuses[-1].startswith("Saved session")
    parts.loaded.add(target)  # a loaded image file is never written over
    assert not sessions.save(target)
    assert parts.port.messages[-1][0] == "Session not saved"
    sessions.confirm_close()

    other = Parts(qtbot, settings)
    try:
        opened = other.sessions()
        assert opened.open(target)
        # no image was saved with it: the old images are closed, none is opened
        assert [c for c in other.calls if not c.startswith("modified")] == ["close"]
        for name in LAYERS:
            np.testing.assert_array_equal(other.workspace.masks.layers.layer(name),
                                          layers.layer(name), err_msg=name)
        assert other.workspace.settings_dict() == parts.workspace.settings_dict()
        opened.confirm_close()
    finally:
        other.runner.shutdown()


def test_mask_actions_menu_and_export_without_a_window(qtbot, parts, tmp_path):
    from PyQt6.QtWidgets import QMenuBar

    parts.show_image()
    actions = parts.mask_actions()
    bar = QMenuBar(parts.parent)
    actions.build(bar)
    actions.tool_actions["rectangle"].trigger()  # the menu drives the paint state
    assert parts.workspace.paint.value.tool == "rectangle"
    actions.layer_actions["exclude"].trigger()
    assert parts.workspace.paint.value.layer == "exclude"
    written = actions.export_mask("nsclean", tmp_path / "mask.fits")
    assert written is not None and written.is_file()
    assert parts.port.statuses[-1] == f"Wrote {written}"
    parts.loaded.add(written)
    assert actions.export_mask("nsclean", written) is None
    assert parts.port.messages[-1][0] == "Mask not exported"
