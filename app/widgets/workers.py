"""Run long work off the GUI thread: progress, cancel, and only the newest result counts.

A task is a plain function, or a generator function that yields progress
``(fraction, message)`` and returns its result (like :func:`app.core.files.stack.iter_load`).
Tasks are submitted under a *key* ("load", "combine", "preview", …). Submitting again
under the same key cancels the previous task at its next yield, and whatever it still
delivers is dropped: each submission gets a request id and only the latest id of a key
reaches the callbacks. Callbacks always run on the GUI thread.

We use our own small QRunnable rather than superqt's thread_worker because the latter
swaps the global ``warnings`` state from the worker thread, which races with the GUI
thread (and with pytest's warning capture).
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PyQt6.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal


class _Signals(QObject):
    progress = pyqtSignal(int, float, str)
    done = pyqtSignal(int, object)
    failed = pyqtSignal(int, object)
    ended = pyqtSignal(int)


class _Job(QRunnable):
    def __init__(
        self, rid: int, func: Callable[..., Any], args: tuple, signals: _Signals,
        cancel: threading.Event,
    ) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._rid, self._func, self._args = rid, func, args
        self._signals, self._cancel = signals, cancel

    def run(self) -> None:
        try:
            result = self._func(*self._args)
            if inspect.isgenerator(result):
                result = self._drive(result)
            if not self._cancel.is_set():
                self._signals.done.emit(self._rid, result)
        except Exception as exc:  # delivered to the GUI thread, never lost in the thread
            if not self._cancel.is_set():
                self._signals.failed.emit(self._rid, exc)
        finally:
            self._signals.ended.emit(self._rid)

    def _drive(self, gen: Any) -> Any:
        while True:
            if self._cancel.is_set():
                gen.close()
                return None
            try:
                fraction, message = next(gen)
            except StopIteration as stop:
                return stop.value
            self._signals.progress.emit(self._rid, float(fraction), str(message))


@dataclass
class _Request:
    key: str
    on_done: Callable[[Any], None] | None
    on_error: Callable[[BaseException], None] | None
    on_progress: Callable[[float, str], None] | None
    cancel: threading.Event


class TaskRunner(QObject):
    """Runs tasks in a private thread pool and routes results back to the GUI thread.

    Signals
    -------
    busyChanged(bool)
        True when the first task starts, False when the last one ends.
    progress(str, float, str)
        ``(key, fraction, message)`` of the newest task of each key.
    """

    busyChanged = pyqtSignal(bool)
    progress = pyqtSignal(str, float, str)

    def __init__(self, parent: QObject | None = None, max_threads: int = 2) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._signals = _Signals(self)
        self._signals.progress.connect(self._on_progress)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)
        self._signals.ended.connect(self._on_ended)
        self._requests: dict[int, _Request] = {}
        self._latest: dict[str, int] = {}
        self._next_id = 0

    def submit(
        self,
        key: str,
        func: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[float, str], None] | None = None,
    ) -> int:
        """Run ``func(*args)`` in a worker thread; returns the request id.

        The previous task of the same ``key`` is cancelled and its results dropped.
        """
        self.cancel(key)
        self._next_id += 1
        rid = self._next_id
        request = _Request(key, on_done, on_error, on_progress, threading.Event())
        self._requests[rid] = request
        self._latest[key] = rid
        if len(self._requests) == 1:
            self.busyChanged.emit(True)
        self._pool.start(_Job(rid, func, args, self._signals, request.cancel))
        return rid

    def cancel(self, key: str | None = None) -> None:
        """Ask the task of ``key`` (every task when None) to stop; its results are dropped."""
        for request in self._requests.values():
            if key is None or request.key == key:
                request.cancel.set()
        if key is None:
            self._latest.clear()
        else:
            self._latest.pop(key, None)

    def is_busy(self, key: str | None = None) -> bool:
        """Whether a task (of ``key``) is still running."""
        return any(key is None or r.key == key for r in self._requests.values())

    def wait(self, msecs: int = 30000) -> bool:
        """Block until every task has finished (for shutdown and tests)."""
        return self._pool.waitForDone(msecs)

    def shutdown(self) -> None:
        """Cancel everything and wait for the threads to finish."""
        self.cancel()
        self.wait()

    def _current(self, rid: int) -> _Request | None:
        request = self._requests.get(rid)
        if request is None or self._latest.get(request.key) != rid:
            return None
        return request

    def _on_progress(self, rid: int, fraction: float, message: str) -> None:
        request = self._current(rid)
        if request is not None:
            self.progress.emit(request.key, fraction, message)
            if request.on_progress:
                request.on_progress(fraction, message)

    def _on_done(self, rid: int, result: object) -> None:
        request = self._current(rid)
        if request is not None and request.on_done:
            request.on_done(result)

    def _on_failed(self, rid: int, exc: object) -> None:
        request = self._current(rid)
        if request is None:
            return
        if request.on_error is None:  # never lose an error: report it like an uncaught one
            error = exc if isinstance(exc, BaseException) else RuntimeError(str(exc))
            sys.excepthook(type(error), error, error.__traceback__)
            return
        request.on_error(exc)  # type: ignore[arg-type]

    def _on_ended(self, rid: int) -> None:
        request = self._requests.pop(rid, None)
        if request is not None and self._latest.get(request.key) == rid:
            del self._latest[request.key]
        if request is not None and not self._requests:
            self.busyChanged.emit(False)
