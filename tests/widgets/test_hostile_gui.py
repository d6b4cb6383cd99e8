"""The hostile corpus through the window's menus (File ▸ Open, Mask ▸ Import mask, File ▸
Open session, crash recovery): one dialog naming the file, no exception escaping a slot,
no hang, the mask unchanged by a refusal, and the window working afterwards."""

from __future__ import annotations

import sys

import pytest

from tests.hostile.gui import gui_cases, recovery_offer

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="FIFOs, sockets, /dev"),
    pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)"),
]


def test_every_hostile_file_is_refused_by_the_window_with_one_dialog(
        qtbot, window, tmp_path, monkeypatch) -> None:
    from pytestqt.exceptions import TimeoutError as QtTimeout

    state = tmp_path / "state"
    monkeypatch.setenv("NSCLEAN_GUI_STATE_DIR", str(state))

    def wait(condition, seconds: float) -> bool:
        try:
            qtbot.waitUntil(condition, timeout=int(seconds * 1000))
        except QtTimeout:
            return False
        return True

    results = gui_cases(window, tmp_path, wait, recovery_offer(window, state))
    assert len(results) >= 100
    assert [f"{case}: {problems}" for case, problems in results.items() if problems] == []
