"""Run the core's progress-reporting generators (``iter_*``) to their end."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

ResultT = TypeVar("ResultT")


def run_to_end(steps: Generator[Any, None, ResultT],
               on_step: Callable[[Any], None] | None = None) -> ResultT:
    """Exhaust ``steps`` and return the value it returns.

    Parameters
    ----------
    steps : generator
        An ``iter_*`` generator that yields progress and returns its result.
    on_step : callable, optional
        Called with each yielded value (progress reports are dropped without it).

    Returns
    -------
    object
        The generator's return value.
    """
    while True:
        try:
            step = next(steps)
        except StopIteration as stop:
            return stop.value
        if on_step is not None:
            on_step(step)
