"""Signals, two writers and a full disk against ``nsclean clean`` batches of full frames:
the run stops with its status and one line, leaves no hidden temporary or partial file,
and leaves no worker behind. The rarer cases are marked slow."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.hostile.signals import signal_cases

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
CODE = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("case", ["j1 SIGTERM", "j2 SIGKILL"])
def test_a_stopped_batch_leaves_nothing_behind(tmp_path, case):
    assert signal_cases(tmp_path, CODE, only=(case,)) == {case: []}


@pytest.mark.slow
@pytest.mark.parametrize("case", ["j1 SIGHUP", "j2 SIGTERM", "j2 group SIGTERM",
                                  "j2 group SIGINT", "j2 inherited SIG_IGN",
                                  "leftover of a killed run", "two writers", "full disk"])
def test_signals_races_and_a_full_disk(tmp_path, case):
    result = signal_cases(tmp_path, CODE, only=(case,))
    if result.get(case) == ["skipped"]:
        pytest.skip("cannot mount a small tmpfs here (not root, or no permission)")
    assert result == {case: []}
