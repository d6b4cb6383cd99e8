"""Ctrl-C during ``nsclean clean -j 2``: stop at once, one line, no file started after it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from app.cli import clean_workers
from app.core.mask.formats import write_nsclean_fits
from tests.core.products_factory import banded_frame, write_product

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def test_a_worker_starts_no_file_once_interrupted(tmp_path, monkeypatch):
    monkeypatch.setattr(clean_workers, "_WORKER", {"interrupted": True})
    target = tmp_path / "out.fits"
    assert clean_workers._clean_in_pool(tmp_path / "in.fits", target) == ("cancelled", [])
    assert not target.exists()


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_parallel_cleaning(tmp_path):
    mask = np.ones((2048, 2048), bool)
    mask[900:1000] = False
    mask_file = write_nsclean_fits(tmp_path / "mask.fits", mask)
    files = [write_product(tmp_path / f"f{i}_rate.fits", banded_frame(i)) for i in range(8)]
    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "app.cli", "clean", *map(str, files), "--mask",
               str(mask_file), "-o", str(out), "-j", "2"]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    # its own group with Ctrl-C's default effect, as in a terminal, even when this test
    # runs with SIGINT ignored (a background job): that would be inherited
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 60
    while not list(out.glob("*_nsclean.fits")) and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the parent and its workers
    at_interrupt = set(out.iterdir())
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.splitlines()[-1] == "nsclean: interrupted" and "Traceback" not in err, err
    written = set(out.iterdir())
    assert not [p for p in written if p.name.startswith(".")], written  # no temporary file
    # at most a file that was being renamed at that instant; no new file started
    assert len(written - at_interrupt) <= 1, sorted(p.name for p in written)


class _FakePool:
    def __init__(self):
        self._processes = {4242: type("P", (), {"pid": 4242})()}
        self.shut = False

    def shutdown(self, wait=True, cancel_futures=False):
        self.shut = True


@pytest.mark.parametrize("platform, forwarded", [("linux", [4242]), ("win32", [])])
def test_stopping_the_pool_interrupts_workers_only_where_kill_sends_a_signal(
        monkeypatch, platform, forwarded):
    """On Windows os.kill(pid, SIGINT) is TerminateProcess: the worker would die mid-write
    and leave its temporary file, so the parent leaves the console's Ctrl-C to them."""
    import threading

    killed = []
    monkeypatch.setattr(clean_workers.os, "kill", lambda pid, sig: killed.append(pid))
    monkeypatch.setattr(clean_workers.sys, "platform", platform)
    pool, stop = _FakePool(), threading.Event()
    clean_workers.stop_pool(pool, [], stop)
    assert killed == forwarded and stop.is_set() and pool.shut
