"""Keep one computed result up to date with inputs that keep changing: :class:`LiveTask`.

The live preview, the threshold overlay, the line coverage and Auto-tune all follow the
same pattern: a change asks for a recompute; a quiet time lets a burst of changes cost one
computation; the newest request wins (an older one is cancelled, or, for work that should
not be thrown away, waited for and followed by the newest inputs); the result comes back
tagged with the inputs it was computed from, so the receiver can tell whether it still
describes what is on screen; a failure becomes one description (:func:`describe_error`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from PyQt6.QtCore import QObject, QTimer

from app.core.errors import NSCleanError
from app.widgets.workers import TaskRunner


def describe_error(exc: BaseException) -> str:
    """The one wording of a failed task: our own errors say what to do, anything else is
    named by its type (a bug to report)."""
    return str(exc) if isinstance(exc, NSCleanError) else f"{type(exc).__name__}: {exc}"


class LiveTask(QObject):
    """A recompute of ``job(*inputs())`` under one runner key, scheduled by :meth:`request`.

    Parameters
    ----------
    runner : TaskRunner
        Where the job runs (a new submission under ``key`` cancels the older one).
    key : str
        The runner key.
    job : callable
        Function or generator function (progress) of the inputs.
    inputs : callable
        The current inputs as a tuple, or None when there is nothing to compute (the
        request is dropped).
    on_result : callable
        ``on_result(inputs, result)``: the result and the inputs it was computed from.
    on_error : callable
        ``on_error(inputs, text)``, the text from :func:`describe_error`.
    idle_ms : int
        Delay of a request when nothing runs (0: the next turn of the event loop, so the
        signals of one user action count once).
    busy_ms : int or None
        While a request runs: restart a quiet time of this many ms, then send the newest
        inputs (the running job is cancelled); None waits for the running job and then
        sends the newest inputs (nothing computed is thrown away).
    on_progress : callable, optional
        ``on_progress(fraction, message)``.
    """

    def __init__(
        self, runner: TaskRunner, key: str, job: Callable[..., Any],
        inputs: Callable[[], tuple[Any, ...] | None],
        on_result: Callable[[tuple[Any, ...], Any], None],
        on_error: Callable[[tuple[Any, ...], str], None], *, idle_ms: int = 0,
        busy_ms: int | None = 0, on_progress: Callable[[float, str], None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner, self.key, self.job = runner, key, job
        self._inputs, self._on_result, self._on_error = inputs, on_result, on_error
        self._on_progress = on_progress
        self.idle_ms, self.busy_ms = idle_ms, busy_ms
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.submit)
        self._running = False  # a request of ours is in the runner
        self.pending = False  # (busy_ms None) inputs changed while it runs
        #: The exception behind the last ``on_error`` (its type decides how loud to be).
        self.last_error: BaseException | None = None

    @property
    def running(self) -> bool:
        """Whether a job runs under the key (ours, or another submitted under it)."""
        return self._running or self.runner.is_busy(self.key)

    def request(self) -> None:
        """Recompute soon (see ``idle_ms`` / ``busy_ms``)."""
        if self.running and self.busy_ms is None:
            self.pending = True
        elif self.running:
            self.timer.start(self.busy_ms)
        elif self.idle_ms or not self.timer.isActive():
            self.timer.start(self.idle_ms)

    def submit(self) -> bool:
        """Send the current inputs now; False when there is nothing to compute."""
        self.timer.stop()
        self.pending = False
        inputs = self._inputs()
        if inputs is None:
            return False
        self._running = True
        self.runner.submit(self.key, self.job, *inputs,
                           on_done=partial(self._done, inputs),
                           on_error=partial(self._failed, inputs),
                           on_progress=self._on_progress)
        return True

    def cancel(self) -> None:
        """Stop the running request and forget the scheduled one (no callback comes)."""
        self.timer.stop()
        self.runner.cancel(self.key)
        self._running = self.pending = False

    @property
    def busy(self) -> bool:
        """Whether a request runs or is scheduled."""
        return self.running or self.timer.isActive()

    def _done(self, inputs: tuple[Any, ...], result: Any) -> None:
        self._running = False
        self._on_result(inputs, result)
        self._follow_up()

    def _failed(self, inputs: tuple[Any, ...], exc: BaseException) -> None:
        self._running = False
        self.last_error = exc
        self._on_error(inputs, describe_error(exc))
        self._follow_up()

    def _follow_up(self) -> None:
        # the runner still counts the finished job as busy during its callback
        if self.pending:
            self.pending = False
            self.timer.start(self.idle_ms)
