"""Session files and crash recovery: the File menu's session actions and the autosave.

File ▸ Save session / Save session as / Open session write and read one
``.nsclean-session`` file (:mod:`app.core.state.session`): the image sources, the painted
layers and every setting of the window's :class:`~app.core.state.workspace.Workspace`
(display, cleaning parameters, threshold settings, paint tool, view, combination), so a
new setting of a state is saved and restored without code here. A QTimer calls
:meth:`~app.core.state.session.Autosaver.tick` every few seconds; it writes a recovery file at
most every 30 s while there are unsaved edits. The next start offers recovery files left
by processes that died; a clean exit deletes its own.

Failures never lose work: a failed save leaves the old file and the layers as they were
and says why; a session that cannot be read changes nothing.

Unsaved work counts mask edits and changes of the cleaning and threshold settings
(:attr:`~app.core.state.workspace.Workspace.revision`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path

from PyQt6.QtCore import QObject, QSettings, QTimer
from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QFileDialog, QMessageBox, QWidget

from app.core.errors import NSCleanError
from app.core.mask.layers import LAYERS, MaskLayers
from app.core.state.session import (
    SESSION_SUFFIX,
    Autosaver,
    Session,
    discard_recovery,
    find_recoveries,
    load_session,
    save_session,
    settings_of,
)
from app.core.state.workspace import Workspace
from app.widgets.paint_tool import PaintTool
from app.widgets.port import MessagePort
from app.widgets.workers import TaskRunner

SESSION_FILTER = f"nsclean-gui sessions (*{SESSION_SUFFIX});;All files (*)"
TICK_MS = 5_000
#: QSettings key of the folder the session dialogs start in.
SESSION_DIRECTORY = "lastSessionDirectory"
AUTOSAVE_SECONDS = 30.0
STYLE_NAMES = (*LAYERS, "unusable")


class SessionActions(QObject):
    """Save, open, autosave and recover the work held by ``workspace``.

    Parameters
    ----------
    workspace
        Every model and setting a session saves (layers, sources, settings states).
    paint_tool
        Finishes a stroke before a save or an opened session; busy while painting.
    runner
        The task runner (a session whose images are all missing stops a load).
    port
        Dialogs for problems, the status bar for news.
    settings
        The folder the session dialogs start in.
    parent
        Parent of the dialogs.
    open_images
        Load these image files in place of the loaded ones (a session's sources).
    open_demo
        Load the simulated demo data, without its starting mask (a demo session).
    is_demo
        True while the images shown are the demo data (saved as such, not as paths).
    close_images
        Close every image and forget the demo: the layers of an opened session whose
        images are all missing must not be shown under the old image.
    loaded_input
        The loaded image file a path names, or None: a session never replaces an input.
    set_modified
        Shows whether there is unsaved work (the window title's "*").
    autosave_seconds
        Least time between two recovery files.
    """

    def __init__(self, workspace: Workspace, paint_tool: PaintTool, runner: TaskRunner,
                 port: MessagePort, settings: QSettings, parent: QWidget, *,
                 open_images: Callable[[Sequence[Path]], None],
                 open_demo: Callable[[], None], is_demo: Callable[[], bool],
                 close_images: Callable[[], None],
                 loaded_input: Callable[[Path], Path | None],
                 set_modified: Callable[[bool], None],
                 autosave_seconds: float = AUTOSAVE_SECONDS) -> None:
        super().__init__(parent)
        self.workspace, self.stack, self.masks = workspace, workspace.stack, workspace.masks
        self.paint_tool, self.runner, self.port, self.settings = paint_tool, runner, port, settings
        self._parent = parent  # of the dialogs
        self.open_images, self.open_demo, self.is_demo = open_images, open_demo, is_demo
        self.close_images, self.loaded_input = close_images, loaded_input
        self.set_modified = set_modified
        self.path: Path | None = None
        self._unsaved_marks = 0  # bumped when recovered work must count as unsaved
        self.autosaver = Autosaver(self.build_session, self._revision, interval=autosave_seconds)
        self._session_revision = self._revision()  # what the session file (if any) holds
        # sources of an opened session whose images are all missing: saved again as they
        # were, until images are loaded
        self._unloaded_sources: list[dict[str, object]] = []
        self.stack.changed.connect(self._on_stack_changed)
        # the title's "*" follows every edit, undo and setting
        self.masks.changed.connect(lambda _box: self.show_modified())
        self.masks.replaced.connect(lambda _layers: self.show_modified())
        self.workspace.changed.connect(lambda _name, _fields: self.show_modified())
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.autosave)
        self.timer.start()

    def _on_stack_changed(self, what: frozenset[str]) -> None:
        if "products" in what and self.stack.products:
            self._unloaded_sources = []

    def _revision(self) -> int:
        return self.masks.edits + self.workspace.revision + self._unsaved_marks

    @property
    def dirty(self) -> bool:
        """True when there are mask edits or settings not saved in a session file (a
        recovery file does not count: it is for crashes, not for quitting)."""
        return self._revision() != self._session_revision

    # --- building and applying -------------------------------------------------------
    def build_session(self) -> Session:
        """The current work as a :class:`Session` (layers copied)."""
        layers = self.masks.layers
        if layers is None:
            raise NSCleanError("there is no mask to save: open an image first")
        demo = self.is_demo()
        view = {
            "session_path": str(self.path) if self.path is not None else "",
            "detector": self.masks.detector,
            "demo": demo,
            "styles": {name: {"visible": layers.styles[name].visible,
                              "opacity": layers.styles[name].opacity} for name in STYLE_NAMES},
        }
        sources = [] if demo else [
            {"path": str(p.path)} for p in self.stack.products
        ] or [dict(s) for s in self._unloaded_sources]
        return Session(layers=layers.snapshot(), sources=sources, view=view,
                       settings=self.workspace.settings_dict())

    def apply_session(self, session: Session) -> list[str]:
        """Adopt ``session``: layers at once, images reloaded in the background.

        Returns notes for the user (missing files, settings that could not be restored).
        """
        notes: list[str] = []
        view = session.view
        layers = MaskLayers.from_snapshot(session.layers)
        for name, style in dict(view.get("styles", {})).items():
            if name in STYLE_NAMES and isinstance(style, dict):
                layers.set_style(name, visible=style.get("visible"), opacity=style.get("opacity"))
        self.paint_tool.finish()
        paths = [] if view.get("demo") else [
            Path(str(s["path"])) for s in session.sources if "path" in s]
        found = [p for p in paths if p.is_file()]
        if not view.get("demo") and not found:
            # the image on screen belongs to other layers: showing it under these (or
            # saving it as their source) would pair a mask with the wrong image; closed
            # first, as closing the images also detaches their layers
            self.close_images()
            self._unloaded_sources = [dict(s) for s in session.sources]
        self.masks.set_layers(layers, view.get("detector"))  # type: ignore[arg-type]
        notes += self.workspace.apply_settings(settings_of(session))
        if view.get("demo"):
            self.open_demo()
        else:
            missing = [str(p) for p in paths if not p.is_file()]
            if missing:
                notes.append(
                    "These image files were not found, so they are not shown (the mask "
                    "layers are loaded; open the images again to see them):\n"
                    + "\n".join(missing)
                )
            if found:
                self.open_images(found)
        return notes

    # --- file actions ----------------------------------------------------------------
    def save(self, path: str | Path | None = None) -> bool:
        """Save to ``path``, else the current session file, else ask; True when saved."""
        target = Path(path) if path is not None else self.path
        if target is None:
            return self.save_as()
        return self._save_to(target)

    def _folder(self) -> Path:
        """Where the session dialogs start: the last session folder, else the images'."""
        settings = self.settings
        return Path(settings.value(SESSION_DIRECTORY, "", type=str)
                    or settings.value("lastDirectory", "", type=str) or ".")

    def proposed_path(self) -> Path:
        """The name Save session as offers: the session's own, else the first image's."""
        if self.path is not None:
            return self.path
        products = self.stack.products
        stem = ("demo" if self.is_demo() or not products
                else products[0].path.name.split(".")[0])
        return self._folder() / f"{stem}{SESSION_SUFFIX}"

    def save_as(self) -> bool:
        """Ask for a file name (one proposed) and save there."""
        path, _ = QFileDialog.getSaveFileName(self._parent, "Save session",
                                              str(self.proposed_path()), SESSION_FILTER)
        if not path:
            return False
        if not path.endswith(SESSION_SUFFIX):
            path += SESSION_SUFFIX
        return self._save_to(Path(path))

    def _save_to(self, target: Path) -> bool:
        if self.loaded_input(target) is not None:
            self.port.show_message(
                "Session not saved", f"{target}: this is a loaded image file; a session "
                "never replaces an input.\n\nYour work is still open and nothing was lost.")
            return False
        self.paint_tool.finish()
        try:
            written = save_session(target, self.build_session())
        except NSCleanError as exc:
            self.port.show_message(
                "Session not saved", f"{exc}\n\nYour work is still open and nothing was lost."
            )
            return False
        self.path = written
        self.settings.setValue(SESSION_DIRECTORY, str(written.parent))
        self.mark_clean()
        self.port.show_status(f"Saved session {written}", 6000)
        return True

    def open(self, path: str | Path | None = None) -> bool:
        """Open a session file (dialog when ``path`` is None); True when opened."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self._parent, "Open session", str(self._folder()), SESSION_FILTER
            )
            if not path:
                return False
            self.settings.setValue(SESSION_DIRECTORY, str(Path(path).parent))
        try:
            session = load_session(path)
        except NSCleanError as exc:
            self.port.show_message("Session not opened", f"{exc}\n\nNothing was changed.")
            return False
        notes = self.apply_session(session)
        self.path = Path(path)
        self.mark_clean()
        if notes:
            self.port.show_message("Session opened with notes", "\n\n".join(notes))
        return True

    # --- autosave and recovery -------------------------------------------------------
    def mark_clean(self) -> None:
        """The current mask needs no saving (saved, opened, or the demo's starting mask)."""
        self._session_revision = self._revision()
        with contextlib.suppress(NSCleanError):
            self.autosaver.saved()
        self.show_modified()

    def show_modified(self) -> None:
        """The title's unsaved-changes mark ("*"), from :attr:`dirty`."""
        self.set_modified(self.masks.layers is not None and self.dirty)

    def autosave(self) -> Path | None:
        """Timer slot: write the recovery file when due (never mid-stroke)."""
        if self.masks.layers is None or self.paint_tool.busy:
            return None
        return self.autosaver.tick()

    def offer_recovery(self) -> bool:
        """At start: offer work left by a process that died; True if it was recovered."""
        found = find_recoveries()
        if not found:
            return False
        answer = self.ask_recovery(found[0], len(found))
        if answer == "later":
            return False
        recovered = False
        if answer == "recover":
            try:
                session = load_session(found[0])
            except NSCleanError as exc:
                self.port.show_message("Recovery failed", str(exc))
                return False
            notes = self.apply_session(session)
            self._unsaved_marks += 1  # recovered work is unsaved until the user saves it
            self.path = self._recovered_path(session)
            self.autosaver.tick(force=True)  # now it is safe in this process's recovery file
            self.show_modified()
            self.port.show_status(
                f"Recovered. Save session (Ctrl+S) writes {self.path}" if self.path else
                "Recovered. This work was never saved in a session: Save session (Ctrl+S) "
                "asks for a file name", 15000)
            if notes:
                self.port.show_message("Recovered with notes", "\n\n".join(notes))
            recovered = True
        for path in found:
            with contextlib.suppress(NSCleanError):
                discard_recovery(path)
        return recovered

    @staticmethod
    def _recovered_path(session: Session) -> Path | None:
        """The session file the recovered work came from, if it can still be written."""
        name = str(session.view.get("session_path", "") or "")
        path = Path(name) if name else None
        return path if path is not None and path.parent.is_dir() else None

    def ask_recovery(self, newest: Path, count: int) -> str:
        """``"recover"``, ``"discard"`` or ``"later"`` (a dialog; tests replace it)."""
        box = QMessageBox(self._parent)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Recover unsaved mask work?")
        more = f" ({count - 1} older one(s) too)" if count > 1 else ""
        box.setText(
            "nsclean-gui did not exit cleanly last time. Recover the mask work that was "
            f"autosaved?\n\n{newest}{more}"
        )
        recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        clicked = box.clickedButton()
        return "recover" if clicked is recover else "discard" if clicked is discard else "later"

    def confirm_close(self) -> bool:
        """Before the window closes: offer to save unsaved edits; False keeps it open."""
        if self.dirty:
            choice = self.ask_save()
            if choice == "cancel" or (choice == "save" and not self.save()):
                return False
        self.timer.stop()
        with contextlib.suppress(NSCleanError):
            self.autosaver.close()
        return True

    def ask_save(self) -> str:
        """``"save"``, ``"discard"`` or ``"cancel"`` (a dialog; tests replace it)."""
        if QGuiApplication.platformName() in ("offscreen", "minimal"):
            return "discard"  # no one to ask (tests, scripted screenshots)
        answer = QMessageBox.question(
            self._parent, "Unsaved work",
            "The mask or the cleaning and threshold settings have changes that are not saved "
            "in a session. Save them?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
        )
        return {QMessageBox.StandardButton.Save: "save",
                QMessageBox.StandardButton.Discard: "discard"}.get(answer, "cancel")
