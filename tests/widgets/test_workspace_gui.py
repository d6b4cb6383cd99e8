"""The whole workspace survives a session and a crash: every field of every state is
changed, saved through the File menu (or the autosave), opened in a new window and the
two workspaces compared."""

from __future__ import annotations

import pytest
from PyQt6.QtWidgets import QFileDialog

from app.core.state.session import recovery_path
from app.core.state.workspace import Workspace
from tests.widgets.conftest import dead_pid
from tests.widgets.test_file_menu import menu_action

TIMEOUT = 20000
SHAPE = (40, 60)
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)")

#: A value other than the default for each field (fields added later get one by type).
NEW_VALUES = {
    "cleaning": {"method": "median", "fc": 1 / 128, "kw": 1 / 1024, "sigrej": 4.5,
                 "weight_sigma": 20.0, "buff": False, "buff_sigma": 2.5,
                 "legacy_kernels": True, "background": "none", "by_channel": True,
                 "fit": "real", "ridge": 5.0, "background_box_size": [16, 16],
                 "subarray_fc": [100.0, 200.0, 40000.0, 41000.0]},
    "threshold": {"sigma": 3.1, "smoothing": "median", "smooth_size": 1.2, "elongation": 8.0,
                  "grow": 5, "bright_grow": 2, "bright_sigma": 7.0, "min_size": 300,
                  "low_sigma": 2.5},
    "paint": {"tool": "polygon", "layer": "exclude", "size": 33.0},
    "view": {"orientation": "detector", "profile_axis": "columns", "plot_tab": "spectrum"},
    "display": {"stretch": "log", "stretch_param": 500.0, "limits": "manual",
                "manual_levels": [0.1, 0.9], "colormap": "viridis", "invert": True,
                "contrast": 1.5, "bias": 0.4},
    "combine": {"method": "median"},
}


def changed_settings() -> dict[str, dict[str, object]]:
    """Every field of every table of :meth:`Workspace.settings_dict`, changed."""
    defaults = Workspace().settings_dict()
    out = {}
    for table, fields in defaults.items():
        out[table] = {}
        for name, default in fields.items():
            value = NEW_VALUES.get(table, {}).get(name)
            if value is None and isinstance(default, bool):
                value = not default
            elif value is None and isinstance(default, (int, float)):
                value = type(default)(default * 2 + 1)
            assert value is not None and value != default, f"no new value for {table}.{name}"
            out[table][name] = value
    return out


def change_everything(window) -> dict[str, dict[str, object]]:
    expected = changed_settings()
    assert not window.workspace.apply_settings(expected)
    assert window.workspace.settings_dict() == expected  # every field really changed
    return expected


@pytest.fixture
def loaded(qtbot, window, write_rate, state_dir):
    window.open_files([write_rate("a_rate.fits", shape=SHAPE)])
    qtbot.waitUntil(lambda: window.mask_layers is not None and not window.runner.is_busy(),
                    timeout=TIMEOUT)
    return window


def new_window(qtbot, settings, **kwargs):
    from app.main_window import MainWindow

    other = MainWindow(settings=settings, **kwargs)
    qtbot.addWidget(other)
    other.show()
    return other


def test_every_setting_survives_a_session(qtbot, loaded, settings, monkeypatch,
                                           tmp_path) -> None:
    expected = change_everything(loaded)
    assert loaded.sessions.dirty  # changed settings are work to save
    assert loaded.detector_action.isChecked() and loaded.view.orientation == "detector"
    path = tmp_path / "all.nsclean-session"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    menu_action(loaded, "File", "Save session as…").trigger()
    assert path.is_file() and not loaded.sessions.dirty

    other = new_window(qtbot, settings)
    try:
        menu_action(other, "File", "Open session…").trigger()
        qtbot.waitUntil(lambda: other.stack.image is not None and not other.runner.is_busy(),
                        timeout=TIMEOUT)
        assert other.workspace.settings_dict() == expected
        # and the widgets show it
        assert other.paint_tool.tool == "polygon" and other.paint_tool.size == 33.0
        assert other.layers_panel.size_spin.value() == 33
        assert other.detector_action.isChecked() and other.view.orientation == "detector"
        assert other.threshold.panel.grow.value() == 5
        assert other.preview.panel.form.method.currentData() == "median"
        assert other.preview.plots.profile_axis == "columns"
        assert other.combine_actions["median"].isChecked()
        assert not other.sessions.dirty
    finally:
        other.runner.shutdown()


def test_every_setting_survives_a_crash(qtbot, loaded, settings, state_dir) -> None:
    expected = change_everything(loaded)  # no mask edit: the settings alone are autosaved
    loaded.sessions.autosaver.interval = 0.0
    written = loaded.sessions.autosave()
    assert written is not None
    written.rename(recovery_path(dead_pid()))
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr("app.session_actions.SessionActions.ask_recovery",
                        lambda self, newest, count: "recover")
    try:
        other = new_window(qtbot, settings, offer_recovery=True)
        qtbot.waitUntil(lambda: other.stack.image is not None and not other.runner.is_busy(),
                        timeout=TIMEOUT)
        assert other.workspace.settings_dict() == expected
        assert other.sessions.dirty  # recovered work stays unsaved until saved
        other.runner.shutdown()
    finally:
        monkeypatch.undo()


def test_a_damaged_table_is_reported_and_the_others_restored(loaded) -> None:
    expected = changed_settings()
    damaged = dict(expected, threshold={"sigma": "high"}, paint={"size": 10_000.0})
    notes = loaded.workspace.apply_settings(damaged)
    assert len(notes) == 2 and "threshold" in notes[0] and "sigma" in notes[0]
    assert "paint" in notes[1]
    got = loaded.workspace.settings_dict()
    assert got["cleaning"] == expected["cleaning"] and got["view"] == expected["view"]
    assert got["threshold"] == Workspace().settings_dict()["threshold"]
