"""The small port through which controllers speak to the user: :class:`MessagePort`.

Controllers receive the models they use, the task runner and this port, not the main
window: a dialog for problems, a transient line in the status bar for news. The window
implements it; a test can pass a recorder.
"""

from __future__ import annotations

from typing import Protocol


class MessagePort(Protocol):
    """Where a controller's messages go."""

    def show_message(self, title: str, text: str, critical: bool = False) -> None:
        """A dialog (``critical`` for failures that are bugs)."""

    def show_status(self, text: str, msecs: int = 6000) -> None:
        """A transient line in the status bar."""
