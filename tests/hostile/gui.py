"""The hostile corpus through the window's own menus: File ▸ Open, Mask ▸ Import mask ▸
Replace background, File ▸ Open session, and crash recovery.

:func:`gui_cases` returns the problems of every case by kind: ``"uncaught exception"``
(an exception escaping a Qt slot), ``"hang"`` (the loader still busy, or the action not
returning, after the bound), ``"unclear"`` (not exactly one dialog naming the file),
``"layers changed"`` (a refused import or session changed the mask), ``"offered again"``
(a recovery file that failed is offered at the next start) and ``"window broken"`` (a
good image no longer opens afterwards). Used by ``tests/widgets/test_hostile_gui.py``
and by ``figures.py`` (any checkout of the code).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from tests.hostile.corpus import Case, data_cases, good_product, mask_cases, session_cases

BOUND = 30.0  # seconds an action may take on these small files, on a busy machine


def _action(window, text: str):
    from tests.widgets.test_mask_actions import menu_action

    return menu_action(window, text)


@contextlib.contextmanager
def _captured(messages: list[str], errors: list[BaseException]) -> Iterator[None]:
    """Dialogs recorded instead of shown; exceptions escaping slots recorded."""
    from PyQt6.QtWidgets import QMessageBox

    saved = {name: getattr(QMessageBox, name) for name in ("warning", "critical")}
    hook = sys.excepthook

    def record(_parent, _title, text, *args, **kwargs):
        messages.append(str(text))
        return QMessageBox.StandardButton.Ok

    for name in saved:
        setattr(QMessageBox, name, staticmethod(record))
    sys.excepthook = lambda kind, value, trace: errors.append(value)
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(QMessageBox, name, method)
        sys.excepthook = hook


@contextlib.contextmanager
def _choosing(path: Path) -> Iterator[None]:
    """File dialogs answer ``path``."""
    from PyQt6.QtWidgets import QFileDialog

    saved = {name: getattr(QFileDialog, name) for name in ("getOpenFileName",
                                                           "getOpenFileNames")}
    QFileDialog.getOpenFileName = staticmethod(lambda *a, **k: (str(path), ""))
    QFileDialog.getOpenFileNames = staticmethod(lambda *a, **k: ([str(path)], ""))
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(QFileDialog, name, method)


def _trigger(window, text: str, path: Path, wait: Callable[[Callable[[], bool], float], bool]
             ) -> bool:
    """Trigger a menu action answering ``path``; False if it did not end within the bound
    (a blocked GUI thread is detected by a watchdog, not waited for forever)."""
    done = threading.Event()
    watchdog = threading.Timer(BOUND * 2, lambda: None if done.is_set() else _die(text, path))
    watchdog.start()
    try:
        with _choosing(path):
            _action(window, text).trigger()
        return wait(lambda: not window.runner.is_busy(), BOUND)
    finally:
        done.set()
        watchdog.cancel()


def _die(text: str, path: Path) -> None:
    import faulthandler

    sys.stderr.write(f"HANG: {text} of {path} blocked the GUI thread\n")
    faulthandler.dump_traceback()
    os._exit(3)


def _judge(case: Case, messages: list[str], errors: list[BaseException], finished: bool,
           expect_message: bool) -> list[str]:
    problems = []
    if errors:
        problems.append("uncaught exception")
    if not finished:
        problems.append("hang")
    naming = [m for m in messages if case.path is not None and case.path.name in m]
    if expect_message and (len(messages) != 1 or not naming):
        problems.append("unclear")
    if any("Traceback" in m for m in messages):
        problems.append("traceback")
    # the loader's wording for an exception it did not expect: "(KeyError: 17)"
    if any("internal error" in m or "could not be read (" in m for m in messages):
        problems.append("internal error")
    return problems


def gui_cases(window, folder: Path, wait: Callable[[Callable[[], bool], float], bool],
              offer_recovery: Callable[[Path], list[str]] | None = None
              ) -> dict[str, list[str]]:
    """Run the corpus through ``window``; return the problems of each case."""
    results: dict[str, list[str]] = {}
    good = good_product(folder / "good_rate.fits")
    messages: list[str] = []
    errors: list[BaseException] = []

    def reset() -> None:
        messages.clear()
        errors.clear()

    def open_good() -> bool:
        with _captured([], []):
            finished = _trigger(window, "Open…", good, wait)
        return finished and wait(lambda: window.stack.image is not None
                                 and window.mask_layers is not None
                                 and window.mask_layers.shape == tuple(window.stack.shape),
                                 BOUND)

    # figures of old code: special files block its GUI thread; skip them to see the rest
    skip = os.environ.get("NSCLEAN_HOSTILE_SKIP_SPECIAL") == "1"
    data = [c for c in data_cases(folder / "data") if c.expect == "error" and not c.viewable
            and not (skip and c.category == "special file")]
    with _captured(messages, errors):
        for case in data:  # File ▸ Open
            reset()
            finished = _trigger(window, "Open…", case.path, wait)
            wait(lambda: bool(messages), 2.0)
            results[f"open {case.id}"] = _judge(case, messages, errors, finished, True)
    if not open_good():
        results["open good image after the corpus"] = ["window broken"]
    with _captured(messages, errors):
        for case in mask_cases(folder / "masks"):  # Mask ▸ Import mask ▸ Replace background
            if skip and case.path.name in ("fifo_mask.fits", "zero_mask.fits"):
                continue
            layers = window.mask_layers
            before = np.array(layers.background()) if layers is not None else None
            reset()
            finished = _trigger(window, "Replace background", case.path, wait)
            problems = _judge(case, messages, errors, finished, not case.viewable)
            after = window.mask_layers
            if case.viewable:
                if messages or after.background().sum() != 0:
                    problems.append("unclear")  # imported: an empty background
            elif after is not layers or not np.array_equal(after.background(), before):
                problems.append("layers changed")
            results[f"import {case.id}"] = problems
    window.mask_layers.rectangle("light", (2, 2), (6, 40))
    good_session = folder / "good.nsclean-session"
    window.sessions.save(good_session)
    sessions = session_cases(folder / "sessions", good_session)
    sessions = [c for c in sessions if not (skip and c.path.is_fifo())]
    for case in sessions:  # File ▸ Open session
        if not open_good():
            results[f"session {case.id}"] = ["window broken"]
            continue
        layers = window.mask_layers
        before = np.array(layers.background())
        with _captured(messages, errors):
            reset()
            finished = _trigger(window, "Open session…", case.path, wait)
            problems = _judge(case, messages, errors, finished, case.expect == "error")
            if case.expect == "error" and (window.mask_layers is not layers or not
                                           np.array_equal(layers.background(), before)):
                problems.append("layers changed")
        if not open_good():
            problems.append("window broken")
        results[f"session {case.id}"] = sorted(set(problems))
    if offer_recovery is not None:
        for case in sessions:  # the same files left as recovery files by a dead process
            if case.path.is_fifo():
                continue
            with _captured(messages, errors):
                reset()
                try:  # called as the window does at start (a timer), so nothing catches
                    offered = offer_recovery(case.path)
                except Exception as exc:
                    errors.append(exc)
                    offered = []
                problems = _judge(case, messages, errors, True, False)
            if offered and case.expect == "error":
                problems.append("offered again")
            if not open_good():
                problems.append("window broken")
            results[f"recovery {case.id}"] = sorted(set(problems))
    return results


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def recovery_offer(window, state_dir: Path) -> Callable[[Path], list[str]]:
    """``offer(path)``: leave ``path`` as the recovery file of a dead process, start the
    recovery (answering "Recover"), and return the recovery files offered afterwards."""
    from app.core.state import session as session_module

    def offer(path: Path) -> list[str]:
        state_dir.mkdir(parents=True, exist_ok=True)
        for old in state_dir.iterdir():
            if old.is_file():
                old.unlink()
        left = session_module.recovery_path(dead_pid())
        shutil.copyfile(path, left)
        sessions = window.sessions
        sessions.ask_recovery = lambda newest, count: "recover"
        deadline = time.monotonic() + BOUND
        sessions.offer_recovery()
        while window.runner.is_busy() and time.monotonic() < deadline:
            from PyQt6.QtWidgets import QApplication
            QApplication.processEvents()
            time.sleep(0.01)
        return [str(p) for p in session_module.find_recoveries()]

    return offer
