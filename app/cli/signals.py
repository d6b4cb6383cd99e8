"""Signals that stop ``nsclean``: SIGTERM and SIGHUP end a run the way Ctrl-C does.

``timeout``, ``kill`` and batch schedulers send SIGTERM (a closed terminal sends SIGHUP);
by default they kill Python outright, which leaves the hidden temporary output of the
file being written. Here they raise :class:`Terminated` (a ``KeyboardInterrupt``), so
the same clean-up runs as for Ctrl-C and the exit status is 128 + the signal number.
A disposition inherited as ignored (``nohup``: SIGHUP; a background job: SIGINT) is
respected, in the command and in its worker processes.

Worker processes of ``-j N`` also watch their parent: if it dies without stopping
them (SIGKILL), they remove their temporary output and exit instead of idling forever
while holding the parent's stdout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

#: The signals that stop a run, where the platform has them.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))
_TERMINATE = tuple(s for s in STOP_SIGNALS if s != signal.SIGINT)


class Terminated(KeyboardInterrupt):
    """Raised by SIGTERM or SIGHUP: stop, clean up, exit with ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


def _terminate(signum: int, frame: object) -> None:
    # once is enough: a second signal must not cut short the clean-up of the first
    for other in _TERMINATE:
        if signal.getsignal(other) is _terminate:
            signal.signal(other, signal.SIG_IGN)
    raise Terminated(signum)


@contextlib.contextmanager
def terminate_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated` (unless inherited
    as ignored); the previous handlers are restored after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in _TERMINATE}
    for signum, handler in previous.items():
        if handler is signal.SIG_DFL:
            signal.signal(signum, _terminate)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def ignored_signals() -> tuple[int, ...]:
    """The stop signals this process ignores (to be ignored by its workers too)."""
    return tuple(s for s in STOP_SIGNALS if signal.getsignal(s) is signal.SIG_IGN)


def install_worker_handlers(handler: Callable[[int, object], None],
                            ignored: tuple[int, ...]) -> None:
    """In a worker: ``handler`` for the stop signals, except those its parent ignores."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN if signum in ignored else handler)


def detach_stdout() -> None:
    """A worker writes nothing on stdout: release the parent's, so that
    ``nsclean ... | tail`` ends when the parent does."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)


def watch_parent(interrupt: Callable[[], None], busy: Callable[[], bool],
                 period: float = 0.5, grace: float = 60.0) -> threading.Thread:
    """Start a thread that, once this process's parent has died, calls ``interrupt``
    (which stops the file being written), waits up to ``grace`` seconds while ``busy``,
    then ends the process."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(period)
        interrupt()
        deadline = time.monotonic() + grace
        while busy() and time.monotonic() < deadline:
            time.sleep(0.05)
        os._exit(1)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread
