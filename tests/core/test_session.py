"""Session files, recovery files and the autosaver: nothing painted is ever lost."""

from __future__ import annotations

import io
import json
import os
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


def _doc(**changes):
    return lambda path: rewrite(path, lambda m: _edit_json(m, **changes))


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:300]), "damaged"),
        (lambda p: p.write_bytes(b"hello"), "damaged"),
        (lambda p: rewrite(p, lambda m: m.pop("session.json")), "damaged"),
        (lambda p: rewrite(p, lambda m: m.pop("dark.bits")), "damaged"),
        (lambda p: rewrite(p, lambda m: m.update({"light.bits": b"123"})), "light layer"),
        (lambda p: rewrite(p, lambda m: m.update({"session.json": b"{not json"})), "damaged"),
        (_doc(format="other"), "not an nsclean"),
        (_doc(version=99), "newer nsclean-gui"),
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


def _flag_member(members_bytes: bytes, name: bytes, offset: int, value: bytes) -> bytes:
    """Patch a field of the local and central headers of one member (raw zip bytes)."""
    data = bytearray(members_bytes)
    for signature, field_offset in ((b"PK\x03\x04", offset), (b"PK\x01\x02", offset + 2)):
        start = 0
        while (at := data.find(signature, start)) >= 0:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + len(name)] == name:
                data[at + field_offset:at + field_offset + len(value)] = value
            start = at + 4
    return bytes(data)


def _bomb(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    text = members["session.json"].decode()
    # 300 MB of spaces deflate to ~300 kB: a valid JSON document, if it were read whole
    members["session.json"] = (text[:-1] + " " * (300 * 2**20) + "}").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())


def _layers_json(members, **changes):
    document = json.loads(members["session.json"])
    document["layers"].update(changes)
    members["session.json"] = json.dumps(document).encode()


def _lay(**changes):
    return lambda path: rewrite(path, lambda m: _layers_json(m, **changes))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(_doc(version="1"), id="version-text"),
        pytest.param(_doc(version=1e400), id="version-inf"),
        pytest.param(_doc(layers=[1, 2]), id="layers-list"),
        pytest.param(_lay(shape=[0, 0]), id="shape-0"),
        pytest.param(_lay(shape=[10**9, 10**9]), id="shape-huge"),
        pytest.param(_lay(shape=["a", 2]), id="shape-text"),
        pytest.param(_lay(shape=7), id="shape-int"),
        pytest.param(_lay(border=-3), id="border-neg"),
        pytest.param(_lay(border=10**30), id="border-huge"),
        pytest.param(_lay(border_sides=5), id="sides-int"),
        pytest.param(_doc(sources=5), id="sources-int"),
        pytest.param(_doc(sources=[{"path": 5}]), id="source-path-int"),
        pytest.param(_doc(view=[1]), id="view-list"),
        pytest.param(_doc(stretch="x"), id="stretch-text"),
        pytest.param(lambda p: rewrite(p, lambda m: m.update(
            {"session.json": b"[" * 100000 + b"]" * 100000})), id="deep-json"),
        pytest.param(lambda p: rewrite(p, lambda m: m.update({"session.json": b"\xff\xfe"})),
                     id="not-utf8"),
        pytest.param(lambda p: p.write_bytes(_flag_member(p.read_bytes(), b"session.json", 6,
                                                          b"\x01\x00")), id="encrypted"),
        pytest.param(lambda p: p.write_bytes(_flag_member(p.read_bytes(), b"session.json", 8,
                                                          b"\x63\x00")), id="compression-99"),
        pytest.param(lambda p: p.write_bytes(_flag_member(p.read_bytes(), b"light.bits", 14,
                                                          b"\x00\x00\x00\x00")), id="crc"),
        pytest.param(_bomb, id="zip-bomb"),
    ],
)
def test_hostile_sessions_are_refused_with_one_clear_error(tmp_path, damage):
    path = S.save_session(tmp_path / "s.nsclean-session", make_session(tmp_path))
    damage(path)
    with pytest.raises(InputError) as info:
        S.load_session(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_view_settings_of_the_wrong_type_are_dropped_with_a_note(tmp_path):
    path = S.save_session(tmp_path / "s.nsclean-session", make_session(tmp_path))
    rewrite(path, lambda m: _edit_json(m, view={"detector": ["NRS1"], "brush_size": "big",
                                                "styles": {"light": {"opacity": None}},
                                                "tool": "brush"}))
    back = S.load_session(path)
    assert back.view == {"detector": None, "tool": "brush"}
    assert "detector" in back.notes[0] and "brush_size" in back.notes[0]


def test_a_fifo_is_not_read_as_a_session(tmp_path):
    fifo = tmp_path / "x.nsclean-session"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        S.load_session(fifo)


def test_recovery_leftovers_of_dead_processes_are_removed(tmp_path, state_dir):
    from app.core.files import atomic

    state_dir.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    prefix = atomic.temporary_prefix()
    leftover = state_dir / f"{prefix.replace(str(os.getpid()), dead)}abcd.nsclean-session"
    mine = state_dir / f"{prefix}efgh.nsclean-session"
    other = state_dir / ".recovery-1.txt"
    for path in (leftover, mine, other):
        path.write_bytes(b"half")
    S.find_recoveries()
    assert not leftover.exists() and mine.exists() and other.exists()


def test_an_unloadable_recovery_file_is_set_aside(tmp_path, state_dir):
    state_dir.mkdir()
    path = state_dir / f"recovery-999999999{S.SESSION_SUFFIX}"
    path.write_bytes(b"junk")
    assert S.find_recoveries() == [path]
    kept = S.set_aside(path)
    assert kept is not None and kept.read_bytes() == b"junk" and S.find_recoveries() == []
