"""The offscreen main-window harness shared by the GUI latency benchmarks.

:class:`WindowBench` opens :class:`app.main_window.MainWindow` (with throw-away
settings, so the user's are neither read nor changed), runs a heartbeat timer to measure
how long the event loop stalls, and waits for conditions the way a real event loop does.
Import it after ``app.core.perf.tune_allocator()`` and after the repository root is on
``sys.path``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QEventLoop, QSettings, QTimer

HEARTBEAT_MS = 5


class WindowBench:
    """A shown main window, its application and a 5 ms event-loop heartbeat.

    Parameters
    ----------
    settings_name : str
        File name of the temporary ``QSettings`` (in ``$TMPDIR`` or ``/tmp``).
    timeout_message : callable
        Returns the text of the ``TimeoutError`` raised when :meth:`wait` gives up (for
        example the status line of the dock under test).

    Attributes
    ----------
    app : QApplication
        The application (created here, after ``configure_pyqtgraph()``).
    window : MainWindow
        The shown window, 1600×1000.
    beats : list of float
        ``time.perf_counter()`` of every heartbeat so far.
    """

    def __init__(self, settings_name: str, timeout_message: Callable[[], str]) -> None:
        from PyQt6.QtWidgets import QApplication

        from app.main import configure_pyqtgraph

        configure_pyqtgraph()
        self.app = QApplication(sys.argv[:1])
        from app.main_window import MainWindow

        path = Path(os.environ.get("TMPDIR", "/tmp")) / settings_name
        self.window = MainWindow(settings=QSettings(str(path), QSettings.Format.IniFormat))
        self.window.resize(1600, 1000)
        self.window.show()
        self._timeout_message = timeout_message
        self.beats: list[float] = []
        self._heart = QTimer()
        self._heart.setInterval(HEARTBEAT_MS)
        self._heart.timeout.connect(lambda: self.beats.append(time.perf_counter()))
        self._heart.start()

    def wait(self, condition: Callable[[], bool], timeout: float = 120.0) -> None:
        """Process events until ``condition()`` is true.

        Parameters
        ----------
        condition : callable
            Checked after every batch of events.
        timeout : float, optional
            Seconds before a ``TimeoutError`` (with the ``timeout_message`` text).
        """
        end = time.perf_counter() + timeout
        while not condition():  # sleep until events arrive, as a real event loop does
            self.app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
            if time.perf_counter() > end:
                raise TimeoutError(self._timeout_message())

    def idle(self, timers: Iterable[QTimer]) -> None:
        """Wait until no background task runs and none of ``timers`` is pending.

        Parameters
        ----------
        timers : iterable of QTimer
            Debounce timers whose pending requests count as work still to do.
        """
        timers = list(timers)
        self.wait(lambda: not self.window.runner.is_busy()
                  and not any(t.isActive() for t in timers))

    def mark(self) -> tuple[int, float]:
        """The heartbeat count and the time now: where a stall measurement starts.

        Returns
        -------
        tuple of (int, float)
            ``len(beats)`` and ``time.perf_counter()``, for :meth:`stall_since`.
        """
        return len(self.beats), time.perf_counter()

    def stall_since(self, first_beat: int, start: float) -> float:
        """Longest event-loop stall from ``start`` until now, in seconds.

        Parameters
        ----------
        first_beat : int
            Index of the first heartbeat at or after ``start`` (``len(beats)`` then).
        start : float
            ``time.perf_counter()`` at the start.

        Returns
        -------
        float
            The longest gap between consecutive beats (``start`` and now included as
            ends) minus the heartbeat period.
        """
        stamps = [start, *self.beats[first_beat:], time.perf_counter()]
        return float(max(np.diff(stamps))) - HEARTBEAT_MS / 1e3

    def close(self) -> None:
        """Stop the heartbeat and the workers, and close the window."""
        self._heart.stop()
        self.window.runner.shutdown()
        self.window.close()
