"""TaskRunner: results on the GUI thread, progress, errors, stale results dropped, cancel."""

from __future__ import annotations

import threading
import time

import pytest
from PyQt6.QtCore import QThread

from app.core.errors import InputError
from app.widgets.workers import TaskRunner


@pytest.fixture
def runner(qtbot):
    r = TaskRunner()
    yield r
    r.shutdown()


def slow_count(n: int, delay: float, gate: threading.Event | None = None):
    for i in range(n):
        if gate is not None:
            gate.wait(5)
        time.sleep(delay)
        yield (i + 1) / n, f"step {i + 1}"
    return n


def test_result_and_progress_arrive_on_the_gui_thread(qtbot, runner) -> None:
    seen: list[object] = []
    gui = QThread.currentThread()
    runner.submit(
        "job", slow_count, 3, 0.0,
        on_progress=lambda f, m: seen.append((f, m, QThread.currentThread() is gui)),
        on_done=lambda r: seen.append(("done", r, QThread.currentThread() is gui)),
    )
    qtbot.waitUntil(lambda: not runner.is_busy(), timeout=5000)
    assert seen[-1] == ("done", 3, True)
    assert [s[0] for s in seen[:-1]] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert all(s[2] for s in seen)


def test_a_newer_request_drops_the_older_result(qtbot, runner) -> None:
    results: list[int] = []
    gate = threading.Event()
    runner.submit("combine", slow_count, 5, 0.01, gate, on_done=results.append)
    runner.submit("combine", slow_count, 2, 0.0, on_done=results.append)
    gate.set()
    qtbot.waitUntil(lambda: not runner.is_busy(), timeout=5000)
    assert results == [2]


def test_other_keys_are_independent_and_busy_is_signalled(qtbot, runner) -> None:
    results: list[int] = []
    with qtbot.waitSignal(runner.busyChanged, timeout=5000) as started:
        runner.submit("a", slow_count, 2, 0.01, on_done=results.append)
        runner.submit("b", lambda: 7, on_done=results.append)
    assert started.args == [True]
    with qtbot.waitSignal(runner.busyChanged, timeout=5000) as ended:
        pass
    assert ended.args == [False]
    assert sorted(results) == [2, 7]


def test_errors_reach_the_error_callback(qtbot, runner) -> None:
    errors: list[BaseException] = []

    def fail():
        yield 0.0, "about to fail"
        raise InputError("bad.fits: not a FITS file")

    runner.submit("load", fail, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert isinstance(errors[0], InputError) and "bad.fits" in str(errors[0])


def test_cancel_stops_a_generator_between_steps(qtbot, runner) -> None:
    steps: list[float] = []
    done: list[int] = []
    runner.submit("slow", slow_count, 200, 0.005, on_progress=lambda f, m: steps.append(f),
                  on_done=done.append)
    qtbot.waitUntil(lambda: bool(steps), timeout=5000)
    runner.cancel("slow")
    assert runner.wait(5000)
    qtbot.waitUntil(lambda: not runner.is_busy(), timeout=5000)
    assert not done and len(steps) < 200
