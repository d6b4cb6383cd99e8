"""Session files, recovery files and the autosaver: nothing painted is ever lost."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from app.core.errors import InputError
from app.core.mask.layers import MaskLayers
from app.core.state import session as S

SHAPE = (300, 280)


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    folder = tmp_path / "state"
    monkeypatch.setenv(S.STATE_DIR_ENV, str(folder))
    return folder


def painted_layers() -> MaskLayers:
    unusable = np.zeros(SHAPE, bool)
    unusable[10:12, 100:150] = True
    layers = MaskLayers(SHAPE, unusable=unusable)
    layers.line("light", (50, 10), (60, 270), 4)
    layers.rectangle("exclude", (200, 200), (210, 215))
    layers.rectangle("dark", (100, 20), (140, 60), value=False)
    return layers


def make_session(tmp_path: Path) -> S.Session:
    return S.Session(
        painted_layers().snapshot(),
        sources=[{"path": str(tmp_path / "data" / "x_rate.fits"), "integration": 2}],
        stretch={"name": "zscale", "contrast": 0.25},
        cleaning={"method": "fft", "fc": 1 / 256, "buff": True},
        view={"zoom": 2.0},
    )


def test_session_round_trip(tmp_path):
    original = make_session(tmp_path)
    path = S.save_session(tmp_path / "work.nsclean-session", original)
    back = S.load_session(path)
    for name in ("light", "dark", "exclude", "unusable"):
        assert np.array_equal(getattr(back.layers, name), getattr(original.layers, name))
    assert back.layers.dark_edited and back.layers.border == 4
    assert back.stretch == original.stretch and back.cleaning == original.cleaning
    assert back.view == original.view
    assert back.sources[0]["path"] == original.sources[0]["path"]
    assert back.sources[0]["integration"] == 2
    assert back.saved
    restored = MaskLayers.from_snapshot(back.layers)
    assert np.array_equal(restored.background(), painted_layers().background())


def test_moved_project_folder_finds_sources_relative_to_the_session(tmp_path):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "x_rate.fits").write_bytes(b"")
    session = make_session(project)
    S.save_session(project / "s.nsclean-session", session)
    moved = tmp_path / "moved"
    project.rename(moved)
    back = S.load_session(moved / "s.nsclean-session")
    assert Path(back.sources[0]["path"]) == (moved / "data" / "x_rate.fits").resolve()


def test_a_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = S.save_session(tmp_path / "s.nsclean-session", make_session(tmp_path))
    before = path.read_bytes()

    def disk_full(self, data):
        with open(self, "wb") as handle:
            handle.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    with pytest.raises(InputError, match="No space left"):
        S.save_session(path, make_session(tmp_path))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    S.load_session(path)


def test_settings_that_are_not_json_are_refused_before_writing(tmp_path):
    path = S.save_session(tmp_path / "s.nsclean-session", make_session(tmp_path))
    before = path.read_bytes()
    bad = make_session(tmp_path)
    bad.stretch = {"levels": np.array([1.0, 2.0])}
    with pytest.raises(InputError, match="cannot be saved"):
        S.save_session(path, bad)
    assert path.read_bytes() == before


def test_unwritable_folder_is_explained(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        S.save_session(tmp_path / "nope" / "s.nsclean-session", make_session(tmp_path))


def rewrite(path: Path, change) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    change(members)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())


def _edit_json(members, **changes):
    document = json.loads(members["session.json"])
    document.update(changes)
    members["session.json"] = json.dumps(document).encode()


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:300]), "damaged"),
        (lambda p: p.write_bytes(b"hello"), "damaged"),
        (lambda p: rewrite(p, lambda m: m.pop("session.json")), "damaged"),
        (lambda p: rewrite(p, lambda m: m.pop("dark.bits")), "damaged"),
        (lambda p: rewrite(p, lambda m: m.update({"light.bits": b"123"})), "light layer"),
        (lambda p: rewrite(p, lambda m: m.update({"session.json": b"{not json"})), "damaged"),
        (lambda p: rewrite(p, lambda m: _edit_json(m, format="other")), "not an nsclean"),
        (lambda p: rewrite(p, lambda m: _edit_json(m, version=99)), "newer nsclean-gui"),
    ],
)
def test_damaged_sessions_give_a_clear_error(tmp_path, damage, words):
    path = S.save_session(tmp_path / "s.nsclean-session", make_session(tmp_path))
    damage(path)
    with pytest.raises(InputError, match=words) as info:
        S.load_session(path)
    assert str(path) in str(info.value)


def test_missing_session_file(tmp_path):
    with pytest.raises(InputError, match="no such session file"):
        S.load_session(tmp_path / "none.nsclean-session")


def test_state_dir_override_and_default(monkeypatch, state_dir):
    assert S.state_dir() == state_dir
    monkeypatch.delenv(S.STATE_DIR_ENV)
    assert S.state_dir().name == "nsclean-gui"


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_recovery_files_of_dead_processes_are_offered(tmp_path, state_dir):
    session = make_session(tmp_path)
    own = S.write_recovery(session)
    assert own.parent == state_dir
    assert S.find_recoveries() == []  # our own file: this process is alive
    orphan = S.recovery_path(dead_pid())
    S.save_session(orphan, session)
    assert S.find_recoveries() == [orphan]
    back = S.load_session(orphan)
    assert np.array_equal(back.layers.light, session.layers.light)
    S.discard_recovery(orphan)
    S.discard_recovery()
    S.discard_recovery()  # already gone: fine
    assert list(state_dir.iterdir()) == []


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_autosaver_writes_only_when_due_and_dirty(tmp_path):
    layers = painted_layers()
    clock = FakeClock()
    saver = S.Autosaver(
        lambda: S.Session(layers.snapshot()), lambda: layers.revision, clock=clock
    )
    clock.now += 60
    assert saver.tick(force=True) is None  # nothing new: nothing written
    assert not S.recovery_path().exists()
    layers.rectangle("light", (150, 150), (160, 160))
    assert saver.dirty
    path = saver.tick()  # idle for longer than the interval: written at once
    assert path == S.recovery_path()
    layers.rectangle("light", (150, 170), (160, 180))
    clock.now += 10
    assert saver.tick() is None  # 10 s after the last write: not due yet
    clock.now += 25
    path = saver.tick()
    assert path == S.recovery_path() and not saver.dirty
    assert np.array_equal(S.load_session(path).layers.light, layers.layer("light"))
    layers.rectangle("light", (170, 150), (180, 160))
    assert saver.tick(force=True) == path
    saver.saved()
    assert not path.exists() and not saver.dirty
    layers.undo()
    clock.now += 31
    assert saver.tick() == path
    saver.close()
    assert not path.exists()


def test_autosave_failure_is_reported_not_raised(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(S.STATE_DIR_ENV, str(blocker / "state"))
    layers = painted_layers()
    clock = FakeClock()
    saver = S.Autosaver(lambda: S.Session(layers.snapshot()), lambda: layers.revision,
                        clock=clock)
    layers.rectangle("light", (150, 150), (160, 160))
    clock.now += 31
    assert saver.tick() is None
    assert "recovery folder" in saver.last_error
    assert saver.dirty  # retried on the next tick


def test_session_keeps_the_border_sides_of_a_subarray(tmp_path):
    from app.core.mask.layers import MaskLayers

    layers = MaskLayers((32, 64), border_sides=(False, True))
    session = S.Session(layers.snapshot(), sources=[], stretch={}, cleaning={}, view={})
    back = S.load_session(S.save_session(tmp_path / "sub.nsclean-session", session))
    assert back.layers.border_sides == (False, True)
    assert np.array_equal(MaskLayers.from_snapshot(back.layers).background(),
                          layers.background())
