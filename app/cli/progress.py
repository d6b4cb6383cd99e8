"""A dependency-free progress display for batch commands (stderr)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Show ``done/total`` on one redrawn line on a terminal, one line per item otherwise.

    Parameters
    ----------
    total : int
        Number of items.
    label : str
        What is counted ("files").
    stream : file, optional
        Where to write (stderr by default).
    """

    def __init__(self, total: int, label: str = "files", stream: TextIO | None = None) -> None:
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.done = 0
        self.start = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.closed = False

    def message(self, text: str) -> None:
        """Print a line above the bar (a warning or an error about one item)."""
        if self.tty and not self.closed:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self._draw()

    def advance(self, item: str, status: str = "ok", target: str | None = None) -> None:
        """Count one finished item: ``[i/n] item -> target`` when it became ``target``,
        else ``[i/n] item: status``."""
        self.done += 1
        if self.tty:
            self._draw()
        else:
            outcome = f" -> {target}" if target is not None else f": {status}"
            self.stream.write(f"[{self.done}/{self.total}] {item}{outcome}\n")
        self.stream.flush()

    def _draw(self) -> None:
        if not self.tty or self.closed:  # after close, a message must not redraw the bar
            return
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        elapsed = time.perf_counter() - self.start
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {self.label} {elapsed:5.1f}s")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self.tty and not self.closed:
            self.stream.write("\n")
            self.stream.flush()
        self.closed = True
