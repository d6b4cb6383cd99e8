"""Sessions in the window: save/open round trip, failed saves, autosave, crash recovery, close."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtWidgets import QFileDialog

from app.core.mask.layers import LAYERS, MaskLayers
from app.core.state.session import Session, load_session, recovery_path, save_session
from tests.widgets.conftest import dead_pid

TIMEOUT = 20000
SHAPE = (40, 60)
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)")


@pytest.fixture
def win(qtbot, window, write_rate, state_dir):
    window.open_files([write_rate("a_rate.fits", shape=SHAPE)])
    qtbot.waitUntil(lambda: window.mask_layers is not None and not window.runner.is_busy(),
                    timeout=TIMEOUT)
    return window


def paint(layers: MaskLayers) -> None:
    layers.rectangle("light", (10, 10), (15, 40))
    layers.polygon("exclude", [(25.0, 5.0), (35.0, 5.0), (30.0, 50.0)])
    layers.begin_stroke("dark", 3.0, value=False)
    layers.stroke_to(20.0, 45.0)
    layers.end_stroke()


def copies(layers: MaskLayers) -> dict[str, np.ndarray]:
    return {name: np.array(layers.layer(name)) for name in LAYERS}


def assert_layers(layers: MaskLayers, expected: dict[str, np.ndarray]) -> None:
    for name in LAYERS:
        np.testing.assert_array_equal(layers.layer(name), expected[name], err_msg=name)


@contextlib.contextmanager
def recovering_window(qtbot, settings, ask=None):
    """A new window that recovers the crashed work it is offered (``ask`` answers the
    offer, "recover" by default), loaded and idle."""
    from app.main_window import MainWindow

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr("app.session_actions.SessionActions.ask_recovery",
                        ask or (lambda self, newest, count: "recover"))
    try:
        win = MainWindow(settings=settings, offer_recovery=True)
        qtbot.addWidget(win)
        win.show()
        qtbot.waitUntil(lambda: win.stack.image is not None and not win.runner.is_busy(),
                        timeout=TIMEOUT)
        yield win
        win.runner.shutdown()
    finally:
        monkeypatch.undo()


def test_save_and_open_round_trip_through_the_menu(qtbot, win, monkeypatch, tmp_path) -> None:
    paint(win.mask_layers)
    win.display.update(stretch="log", colormap="viridis")
    win.paint_tool.set_size(33)
    saved = copies(win.mask_layers)
    background = np.array(win.mask_layers.background())
    path = tmp_path / "work.nsclean-session"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    win.sessions.save_as()
    assert path.is_file() and not win.sessions.dirty
    session = load_session(path)
    assert session.sources[0]["path"].endswith("a_rate.fits")
    assert session.settings["display"]["stretch"] == "log"

    win.mask_layers.clear("light")  # later edits, then reopen the saved work
    win.display.update(stretch="linear", colormap="gray")
    win.sessions.open()
    qtbot.waitUntil(lambda: win.stack.image is not None and not win.runner.is_busy(),
                    timeout=TIMEOUT)
    assert_layers(win.mask_layers, saved)
    np.testing.assert_array_equal(win.mask_layers.background(), background)
    assert win.display.settings.stretch == "log" and win.display.settings.colormap == "viridis"
    assert win.paint_tool.size == 33
    assert win.overlay.layers is win.mask_layers
    assert not win.sessions.dirty


def test_failed_save_keeps_everything(win, tmp_path, messages) -> None:
    paint(win.mask_layers)
    before = copies(win.mask_layers)
    target = tmp_path / "no-such-folder" / "work.nsclean-session"
    assert not win.sessions.save(target)
    assert messages and "no-such-folder" in messages[0][1]
    assert not target.exists()
    assert_layers(win.mask_layers, before)
    assert win.sessions.dirty  # still unsaved: the recovery file keeps being written


def test_damaged_session_is_refused_and_nothing_changes(win, tmp_path, messages) -> None:
    paint(win.mask_layers)
    before, layers = copies(win.mask_layers), win.mask_layers
    path = tmp_path / "broken.nsclean-session"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    assert not win.sessions.open(path)
    assert messages and "broken.nsclean-session" in messages[0][1]
    assert win.mask_layers is layers
    assert_layers(layers, before)


def test_autosave_writes_a_recovery_file(win, state_dir) -> None:
    win.sessions.autosaver.interval = 0.0
    assert win.sessions.autosave() is None  # nothing painted yet: nothing to save
    paint(win.mask_layers)
    written = win.sessions.autosave()
    assert written == recovery_path() and written.parent == state_dir
    assert_layers(MaskLayers.from_snapshot(load_session(written).layers), copies(win.mask_layers))
    assert win.sessions.timer.isActive() and win.sessions.timer.interval() <= 30_000


def test_recovery_is_offered_at_start_after_a_crash(qtbot, settings, write_rate, state_dir) -> None:

    layers = MaskLayers(SHAPE)
    paint(layers)
    image = write_rate("crashed_rate.fits", shape=SHAPE)
    crashed = recovery_path(dead_pid())
    state_dir.mkdir(parents=True)
    save_session(crashed, Session(layers=layers.snapshot(), sources=[{"path": str(image)}],
                                  view={"detector": "NRS1"}))
    asked = []

    def ask(self, newest, count):
        asked.append((newest, count))
        return "recover"

    with recovering_window(qtbot, settings, ask) as win:
        assert asked == [(crashed, 1)]
        assert_layers(win.mask_layers, copies(layers))
        assert not crashed.exists()  # taken over: this process's recovery file holds it now
        assert recovery_path().exists() and win.sessions.dirty
        assert win.stack.products[0].path.name == "crashed_rate.fits"
        win.runner.shutdown()
        win.close()
        assert not recovery_path().exists()  # clean exit (offscreen: nothing to ask)


def test_live_processes_are_not_offered(qtbot, settings, state_dir) -> None:
    from app.main_window import MainWindow

    layers = MaskLayers(SHAPE)
    state_dir.mkdir(parents=True)
    save_session(recovery_path(), Session(layers=layers.snapshot()))  # this very process
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    assert not win.sessions.offer_recovery()
    win.runner.shutdown()


def test_closing_with_unsaved_work_asks(qtbot, win, monkeypatch) -> None:
    paint(win.mask_layers)
    answers = iter(["cancel", "discard"])
    monkeypatch.setattr(type(win.sessions), "ask_save", lambda self: next(answers))
    win.sessions.autosaver.interval = 0.0
    win.sessions.autosave()
    assert recovery_path().exists()
    assert not win.close()  # cancelled: the window stays, the work too
    assert win.isVisible() and recovery_path().exists()
    assert win.close()  # discarded: the recovery file goes too
    assert not recovery_path().exists()


def test_a_session_is_never_saved_over_a_loaded_image(win, messages) -> None:
    image = win.stack.products[0].path
    before = image.read_bytes()
    paint(win.mask_layers)
    assert not win.sessions.save(image)
    assert image.read_bytes() == before
    assert messages and "loaded image" in messages[0][1] and win.sessions.dirty


def test_a_session_whose_images_are_gone_does_not_keep_another_image(
    qtbot, win, write_rate, tmp_path, messages
) -> None:
    other = write_rate("b_rate.fits", shape=(30, 50))  # moved away later
    win.open_files([other])
    qtbot.waitUntil(lambda: win.stack.shape == (30, 50) and not win.runner.is_busy(),
                    timeout=TIMEOUT)
    win.mask_layers.rectangle("light", (3, 3), (8, 20))
    expected = copies(win.mask_layers)
    session = tmp_path / "b.nsclean-session"
    assert win.sessions.save(session)
    win.open_files([tmp_path / "a_rate.fits"])  # the user goes on with another image
    qtbot.waitUntil(lambda: win.stack.shape == SHAPE and not win.runner.is_busy(),
                    timeout=TIMEOUT)
    other.unlink()
    assert win.sessions.open(session)
    qtbot.waitUntil(lambda: not win.runner.is_busy(), timeout=TIMEOUT)
    assert messages and "b_rate.fits" in messages[0][1]
    assert_layers(win.mask_layers, expected)
    assert not win.stack.products and win.view.image is None  # not a_rate under b's mask
    assert win.sessions.save(session)  # saved again: still names the missing image
    assert [s["path"] for s in load_session(session).sources] == [str(other)]


def edit_cleaning(window) -> object:
    """Change the cleaning settings the way a user does (the form's widgets; the real
    fit and its prior come from Auto-tune, which sets them through the form)."""
    from dataclasses import replace

    form = window.preview.panel.form
    form.spins["fc"].setValue(12.0)
    form.spins["weight_sigma"].setValue(20.0)
    form.spins["sigrej"].setValue(4.5)
    form.buff.setChecked(False)
    tuned = replace(form.params(), fit="real", ridge=5.0)
    form.set_params(tuned)
    return tuned


def test_the_cleaning_settings_survive_a_session(qtbot, win, settings, monkeypatch,
                                                  tmp_path) -> None:
    from app.core.clean import CleanParams
    from app.main_window import MainWindow
    from tests.widgets.test_file_menu import menu_action

    tuned = edit_cleaning(win)
    assert tuned != CleanParams() and not tuned.buff
    path = tmp_path / "tuned.nsclean-session"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    menu_action(win, "File", "Save session as…").trigger()
    assert load_session(path).settings["cleaning"]["fc"] == tuned.fc
    other = MainWindow(settings=settings)
    qtbot.addWidget(other)
    try:
        menu_action(other, "File", "Open session…").trigger()
        qtbot.waitUntil(lambda: other.stack.image is not None, timeout=TIMEOUT)
        assert other.preview.params == tuned
    finally:
        other.runner.shutdown()


def test_the_cleaning_settings_survive_a_crash(qtbot, win, settings, state_dir) -> None:

    tuned = edit_cleaning(win)
    paint(win.mask_layers)
    win.sessions.autosaver.interval = 0.0
    written = win.sessions.autosave()
    crashed = recovery_path(dead_pid())
    written.rename(crashed)
    with recovering_window(qtbot, settings) as other:
        assert other.preview.params == tuned


def file_action(window, text: str):
    for top in window.menuBar().actions():
        if top.text().replace("&", "") == "File":
            for action in top.menu().actions():
                if action.text().replace("&", "") == text:
                    return action
    raise LookupError(text)


def test_title_marks_unsaved_work_and_save_as_proposes_a_name(
        qtbot, win, monkeypatch, tmp_path) -> None:
    from PyQt6.QtCore import Qt

    assert not win.isWindowModified() and "[*]" in win.windowTitle()
    paint(win.mask_layers)
    assert win.isWindowModified()  # shown as "a_rate.fits* — nsclean-gui"
    offered = []
    folder = tmp_path / "sessions"
    folder.mkdir()

    def save_dialog(_parent, _title, start, _filter):
        offered.append(start)
        return str(folder / "mine.nsclean-session"), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    qtbot.keyClick(win, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert Path(offered[0]).name == "a_rate.nsclean-session"  # named after the image
    assert not win.isWindowModified()
    win.preview.panel.form.spins["sigrej"].setValue(4.0)  # a setting counts too
    assert win.isWindowModified()
    # the session dialogs start in the session folder from now on
    opened = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda _p, _t, start, _f: (opened.append(start), ("", ""))[1])
    file_action(win, "Open session…").trigger()
    assert opened == [str(folder)]


def test_save_cleaned_remembers_its_folder(qtbot, win, monkeypatch, tmp_path) -> None:
    from PyQt6.QtCore import Qt

    out = tmp_path / "cleaned"
    out.mkdir()
    starts = []

    def save_dialog(_parent, _title, start, _filter):
        starts.append(start)
        return str(out / Path(start).name), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    for _ in range(2):
        with qtbot.waitSignal(win.preview.saveFinished, timeout=TIMEOUT):
            qtbot.mouseClick(win.preview.panel.save_button, Qt.MouseButton.LeftButton)
    assert Path(starts[0]).parent != out and Path(starts[1]).parent == out


def test_after_crash_recovery_ctrl_s_saves_to_the_session_file(
        qtbot, settings, write_rate, state_dir, tmp_path) -> None:
    from PyQt6.QtCore import Qt


    layers = MaskLayers(SHAPE)
    paint(layers)
    image = write_rate("crashed_rate.fits", shape=SHAPE)
    session_file = tmp_path / "work.nsclean-session"
    state_dir.mkdir(parents=True)
    save_session(recovery_path(dead_pid()), Session(
        layers=layers.snapshot(), sources=[{"path": str(image)}],
        view={"detector": "NRS1", "session_path": str(session_file)}))
    with recovering_window(qtbot, settings) as win:
        assert win.isWindowModified() and str(session_file) in win.statusBar().currentMessage()
        qtbot.keyClick(win, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # no dialog
        assert session_file.exists() and not win.isWindowModified()
        assert_layers(MaskLayers.from_snapshot(load_session(session_file).layers),
                      copies(layers))
