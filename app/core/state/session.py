"""Save and reopen a painting session in one file; autosave to a recovery file.

A session file is a zip archive holding ``session.json`` (format version, image sources,
the workspace's settings (:meth:`app.core.state.workspace.Workspace.settings_dict`), view
state, layer metadata) and one member per mask
layer with its bits packed (``numpy.packbits``, deflated by the zip). It is small (a
2048² session is typically a few hundred kB), self-contained and inspectable.

Every write goes through :mod:`app.core.files.atomic`: a failed save leaves the previous file
untouched. :class:`Autosaver` writes the session to a recovery file under the user's
cache folder (``NSCLEAN_GUI_STATE_DIR`` overrides it) every ~30 s while there are
unsaved changes; the next start lists recovery files left by processes that died.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from app.core.errors import InputError
from app.core.files.atomic import atomic_path
from app.core.mask.layers import LayerSnapshot
from app.core.version import __version__

FORMAT_NAME = "nsclean-gui-session"
FORMAT_VERSION = 1
SESSION_SUFFIX = ".nsclean-session"
STATE_DIR_ENV = "NSCLEAN_GUI_STATE_DIR"
_LAYER_MEMBERS = ("light", "dark", "exclude", "unusable")


@dataclass
class Session:
    """Everything needed to continue work: layers, image sources and settings.

    Attributes
    ----------
    layers : LayerSnapshot
        The painted layers (see :meth:`app.core.mask.layers.MaskLayers.snapshot`).
    sources : list of dict
        Image sources; each has at least ``"path"``, plus whatever the GUI needs
        (integration, role, ...). JSON values only.
    settings : dict
        Every setting of the workspace, one table per state
        (:meth:`~app.core.state.workspace.Workspace.settings_dict`; JSON values only).
    view : dict
        What belongs to the layers and sources rather than to a setting: the detector,
        demo data, the layers' colours and visibility.
    stretch, cleaning : dict
        Display stretch and cleaning parameters of files written before ``settings``
        existed (read by :func:`settings_of`; new files leave them empty).
    saved : str or None
        UTC time the file was written (set when read back).
    """

    layers: LayerSnapshot
    sources: list[dict[str, object]] = field(default_factory=list)
    stretch: dict[str, object] = field(default_factory=dict)
    cleaning: dict[str, object] = field(default_factory=dict)
    view: dict[str, object] = field(default_factory=dict)
    saved: str | None = None
    settings: dict[str, object] = field(default_factory=dict)


#: Where files written before ``settings`` kept the paint and view settings (in ``view``).
_OLD_VIEW_KEYS = {"tool": ("paint", "tool"), "layer": ("paint", "layer"),
                  "brush_size": ("paint", "size"), "orientation": ("view", "orientation"),
                  "combine": ("combine", "method")}


def settings_of(session: Session) -> dict[str, object]:
    """The workspace settings of ``session``, also from a file written before they were
    saved as one table (then gathered from ``stretch``, ``cleaning`` and ``view``)."""
    if session.settings:
        return dict(session.settings)
    tables: dict[str, dict[str, object]] = {}
    if session.stretch:
        tables["display"] = dict(session.stretch)
    if session.cleaning:
        tables["cleaning"] = dict(session.cleaning)
    for old, (table, name) in _OLD_VIEW_KEYS.items():
        if old in session.view:
            tables.setdefault(table, {})[name] = session.view[old]
    return dict(tables)


# ---- writing ---------------------------------------------------------------------------


def _sources_for_file(sources: list[dict[str, object]], folder: Path) -> list[dict[str, object]]:
    out = []
    for source in sources:
        entry = dict(source)
        if "path" in entry:
            path = Path(str(entry["path"])).absolute()
            entry["path"] = str(path)
            try:  # also relative to the session, so a moved project folder still opens
                entry["relative_path"] = os.path.relpath(path, folder.absolute())
            except ValueError:  # another drive on Windows
                entry.pop("relative_path", None)
        out.append(entry)
    return out


def _metadata(session: Session, folder: Path) -> str:
    layers = session.layers
    document = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "app_version": __version__,
        "saved": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        "sources": _sources_for_file(session.sources, folder),
        "settings": session.settings,
        "stretch": session.stretch,
        "cleaning": session.cleaning,
        "view": session.view,
        "layers": {
            "shape": list(np.shape(layers.light)),
            "border": int(layers.border),
            "border_sides": [bool(side) for side in layers.border_sides],
            "dark_edited": bool(layers.dark_edited),
            "members": {name: f"{name}.bits" for name in _LAYER_MEMBERS},
        },
    }
    try:
        return json.dumps(document, indent=1)
    except (TypeError, ValueError) as exc:
        raise InputError(f"the session settings cannot be saved: {exc}") from exc


def _session_bytes(session: Session, folder: Path) -> bytes:
    shape = np.shape(session.layers.light)
    for name in _LAYER_MEMBERS:
        if np.shape(getattr(session.layers, name)) != shape:
            raise InputError(f"the session's {name} layer does not match the image shape {shape}")
    text = _metadata(session, folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("session.json", text)
        for name in _LAYER_MEMBERS:
            bits = np.packbits(np.asarray(getattr(session.layers, name), dtype=bool), axis=None)
            archive.writestr(f"{name}.bits", bits.tobytes())
    return buffer.getvalue()


def save_session(path: str | os.PathLike[str], session: Session, *, overwrite: bool = True) -> Path:
    """Write ``session`` to ``path`` atomically (the old file survives any failure).

    Raises
    ------
    InputError
        If the folder is missing or unwritable, or a setting is not JSON-serialisable.
    """
    target = Path(path)
    payload = _session_bytes(session, target.parent)  # build fully before touching disk
    with atomic_path(target, overwrite=overwrite) as tmp:
        tmp.write_bytes(payload)
    return target


# ---- reading ---------------------------------------------------------------------------


def load_session(path: str | os.PathLike[str]) -> Session:
    """Read a session file.

    Raises
    ------
    InputError
        If the file is missing, not a session, damaged, or from a newer format.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such session file")
    try:
        with zipfile.ZipFile(path) as archive:
            document = json.loads(archive.read("session.json").decode("utf-8"))
            if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
                raise InputError(f"{path}: not an nsclean-gui session file")
            if int(document.get("version", 0)) > FORMAT_VERSION:
                raise InputError(
                    f"{path}: written by a newer nsclean-gui (format {document['version']}); "
                    "please update to open it"
                )
            meta = document["layers"]
            shape = (int(meta["shape"][0]), int(meta["shape"][1]))
            arrays = {name: _unpack(path, archive.read(f"{name}.bits"), shape, name)
                      for name in _LAYER_MEMBERS}
    except InputError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, IndexError, OSError,
            EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: damaged or not an nsclean-gui session ({exc})") from exc
    layers = LayerSnapshot(
        dark_edited=bool(meta.get("dark_edited", False)), border=int(meta.get("border", 4)),
        border_sides=tuple(bool(side) for side in meta.get("border_sides", (True, True)))[:2],
        **arrays,
    )
    return Session(
        layers=layers,
        sources=[_resolve_source(s, path.parent) for s in document.get("sources", [])],
        stretch=dict(document.get("stretch", {})),
        cleaning=dict(document.get("cleaning", {})),
        view=dict(document.get("view", {})),
        saved=document.get("saved"),
        settings=dict(document.get("settings", {})),
    )


def _unpack(path: Path, data: bytes, shape: tuple[int, int], name: str) -> np.ndarray:
    count = shape[0] * shape[1]
    if len(data) != (count + 7) // 8:
        raise InputError(f"{path}: the {name} layer is damaged (wrong size)")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=count)
    return bits.reshape(shape).view(bool)


def _resolve_source(source: dict[str, object], folder: Path) -> dict[str, object]:
    """Prefer the recorded absolute path; fall back to the path relative to the session."""
    entry = dict(source)
    if "path" in entry and not Path(str(entry["path"])).exists() and "relative_path" in entry:
        candidate = folder / str(entry["relative_path"])
        if candidate.exists():
            entry["path"] = str(candidate.resolve())
    return entry


# ---- autosave and recovery -------------------------------------------------------------


def state_dir() -> Path:
    """The folder for recovery files: ``$NSCLEAN_GUI_STATE_DIR`` or the user cache."""
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return Path(override)
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "nsclean-gui"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local")) / "nsclean-gui"
    return Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "nsclean-gui"


def recovery_path(pid: int | None = None) -> Path:
    """The recovery file of process ``pid`` (default: this one)."""
    return state_dir() / f"recovery-{os.getpid() if pid is None else pid}{SESSION_SUFFIX}"


def write_recovery(session: Session) -> Path:
    """Write this process's recovery file (atomically)."""
    folder = state_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{folder}: cannot create the recovery folder ({exc})") from exc
    return save_session(recovery_path(), session)


def discard_recovery(path: Path | None = None) -> None:
    """Delete a recovery file (default: this process's); missing files are fine."""
    target = path or recovery_path()
    try:
        target.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise InputError(f"{target}: cannot delete the recovery file ({exc})") from exc


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill would terminate the process on Windows; assume dead
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_recoveries() -> list[Path]:
    """Recovery files left by processes that are no longer running, newest first."""
    folder = state_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob(f"recovery-*{SESSION_SUFFIX}"):
        pid_text = path.name[len("recovery-") : -len(SESSION_SUFFIX)]
        if pid_text.isdigit() and not _process_alive(int(pid_text)):
            found.append(path)
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


class Autosaver:
    """Write a recovery file at most every ``interval`` seconds while work is unsaved.

    The GUI calls :meth:`tick` from a timer; nothing here needs Qt.

    Parameters
    ----------
    build_session : callable
        Returns the current :class:`Session`.
    revision : callable
        Returns a number that changes whenever there is new work
        (:attr:`app.core.mask.layers.MaskLayers.revision`).
    interval : float
        Seconds between recovery writes.
    clock : callable
        Monotonic time source (tests pass a fake).
    """

    def __init__(
        self,
        build_session: Callable[[], Session],
        revision: Callable[[], int],
        *,
        interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._build = build_session
        self._revision = revision
        self.interval = float(interval)
        self._clock = clock
        self._saved_revision = revision()
        self._last_write = clock()
        self.last_error: str | None = None

    @property
    def dirty(self) -> bool:
        """True when there are changes not in a session file or recovery file."""
        return self._revision() != self._saved_revision

    def tick(self, *, force: bool = False) -> Path | None:
        """Write the recovery file if due; return its path when written.

        A failure is kept in :attr:`last_error` (and retried next tick), never raised,
        so a full disk cannot interrupt painting.
        """
        now = self._clock()
        if not self.dirty or (not force and now - self._last_write < self.interval):
            return None
        revision = self._revision()
        try:
            path = write_recovery(self._build())
        except InputError as exc:
            self.last_error = str(exc)
            return None
        self.last_error = None
        self._saved_revision = revision
        self._last_write = now
        return path

    def saved(self) -> None:
        """The user saved the session: nothing is unsaved, the recovery file can go."""
        self._saved_revision = self._revision()
        discard_recovery()

    def close(self) -> None:
        """Clean exit: remove this process's recovery file."""
        discard_recovery()
