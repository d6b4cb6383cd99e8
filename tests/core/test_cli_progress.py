"""The progress bar of ``nsclean clean`` on a terminal."""

from __future__ import annotations

import io

from app.cli.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_message_after_close_leaves_no_bar_behind():
    stream = Terminal()
    progress = Progress(2, stream=stream)
    progress.advance("a")
    progress.message("nsclean: error: b: broken")
    progress.advance("b", "FAILED")
    progress.close()
    progress.message("nsclean: 1 of 2 files failed")  # the summary comes after the bar
    text = stream.getvalue()
    assert "] 2/2 files" in text
    assert text.split("\n")[-2] == "nsclean: 1 of 2 files failed"  # no bar drawn after it
    assert text.endswith("\n") and text.count("\n") == 3
