"""A stop signal that lands while the temporary file is being created never leaves it behind."""

from __future__ import annotations

import signal
import tempfile

import pytest

from app.core.files import atomic

pytestmark = pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX only")
STOP = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP} if hasattr(signal, "SIGHUP") else set()


class Stopped(Exception):
    """What the test's SIGTERM handler raises (as the CLI's handler raises Terminated)."""


def _raise_stopped(signum, frame):
    raise Stopped


def _write_expecting_stop(tmp_path) -> None:
    """Write through ``atomic_path`` with SIGTERM raising :class:`Stopped`; expect the stop
    and an empty folder (the handler put back afterwards)."""
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        with pytest.raises(Stopped), atomic.atomic_path(tmp_path / "out.fits") as tmp:
            tmp.write_bytes(b"x")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert list(tmp_path.iterdir()) == []


def test_stop_signals_held_only_while_the_file_is_created(tmp_path, monkeypatch):
    masks = []
    real = tempfile.mkstemp

    def spy(*args, **kwargs):
        masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, set()))
        return real(*args, **kwargs)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", spy)
    with atomic.atomic_path(tmp_path / "out.fits") as tmp:
        tmp.write_bytes(b"x")
        inside = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    assert masks[0] >= STOP
    assert not inside & STOP
    assert (tmp_path / "out.fits").read_bytes() == b"x"


def test_sigterm_right_after_the_file_exists_leaves_nothing(tmp_path, monkeypatch):
    real = tempfile.mkstemp

    def signalled(*args, **kwargs):
        made = real(*args, **kwargs)
        signal.raise_signal(signal.SIGTERM)  # the file exists; its name is not returned yet
        return made

    monkeypatch.setattr(atomic.tempfile, "mkstemp", signalled)
    _write_expecting_stop(tmp_path)


def test_sigterm_taken_by_another_thread_leaves_nothing(tmp_path, monkeypatch):
    """With the engine's threads running, the kernel hands a process-directed SIGTERM to
    a thread that does not block it, and Python still runs the handler in the main
    thread at its next instruction: masking the main thread alone left the file behind
    (the flaky ``j2 SIGTERM`` hostile case)."""
    import os
    import threading
    import time

    stop_thread = threading.Event()
    receiver = threading.Thread(target=stop_thread.wait)  # signals unblocked there
    receiver.start()
    real = tempfile.mkstemp

    def signalled(*args, **kwargs):
        made = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)  # the main thread blocks it: the other takes it
        time.sleep(0.05)  # let it arrive; then Python runs the handler on the main thread
        return made

    monkeypatch.setattr(atomic.tempfile, "mkstemp", signalled)
    before = signal.getsignal(signal.SIGTERM)
    try:
        _write_expecting_stop(tmp_path)
    finally:
        stop_thread.set()
        receiver.join()
    assert signal.getsignal(signal.SIGTERM) is before
