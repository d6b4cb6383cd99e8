"""Timing and reporting helpers shared by the benchmark scripts (no Qt, no app imports).

The scripts run as ``python bench/bench_x.py``, so this directory is on ``sys.path`` and
they import it as ``benchlib``. Importing it allocates nothing: the scripts still call
``app.core.perf.tune_allocator()`` before any NumPy-heavy work.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence


def run_times(func: Callable[[], object], repeat: int, *, warm_up: bool = True) -> list[float]:
    """Wall time of each of ``repeat`` calls of ``func``.

    Parameters
    ----------
    func : callable
        Called without arguments; its result is ignored.
    repeat : int
        Number of timed calls.
    warm_up : bool, optional
        Call ``func`` once, untimed, first (caches, lazy imports, first-touch pages).

    Returns
    -------
    list of float
        Seconds per call, in call order.
    """
    if warm_up:
        func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return times


def median_time(func: Callable[[], object], repeat: int, *, warm_up: bool = True) -> float:
    """Median wall time of ``func`` over ``repeat`` calls, in seconds.

    Parameters
    ----------
    func : callable
        Called without arguments.
    repeat : int
        Number of timed calls.
    warm_up : bool, optional
        Call ``func`` once, untimed, first.

    Returns
    -------
    float
        The median in seconds.
    """
    return statistics.median(run_times(func, repeat, warm_up=warm_up))


def median_ms(samples: Sequence[float]) -> float:
    """Median of times given in seconds, in milliseconds.

    Parameters
    ----------
    samples : sequence of float
        Times in seconds (at least one).

    Returns
    -------
    float
        The median in milliseconds.
    """
    return 1e3 * statistics.median(samples)


def verdict(value_ms: float, target_ms: float) -> str:
    """Text comparing a time with its target, e.g. ``"target ≤ 100 ms  ok"``.

    Parameters
    ----------
    value_ms, target_ms : float
        The measured time and its upper limit, in milliseconds.

    Returns
    -------
    str
        ``ok`` when ``value_ms <= target_ms``, else ``MISSED``.
    """
    return f"target ≤ {target_ms:.0f} ms  {'ok' if value_ms <= target_ms else 'MISSED'}"


def load_average() -> str:
    """The machine's ``uptime`` line (load averages), to print beside timings.

    Returns
    -------
    str
        The output of ``uptime``, or ``"uptime unavailable"``.
    """
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime unavailable"


def add_scene_options(parser: argparse.ArgumentParser, scenes: Sequence[str],
                      defaults: Sequence[str] = ("ifu", "mos", "fs")) -> None:
    """Add ``--seeds`` (default 0 1 2) and ``--scenes`` to a quality benchmark's parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The script's parser.
    scenes : sequence of str
        The scenes ``--scenes`` accepts.
    defaults : sequence of str, optional
        The scenes run when ``--scenes`` is not given.
    """
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--scenes", nargs="+", default=list(defaults), choices=list(scenes))
