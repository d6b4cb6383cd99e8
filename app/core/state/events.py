"""The one event mechanism of the models: :class:`Event` (connect, disconnect, emit, blocked).

Every model of the application (:class:`~app.core.files.stack.ImageStack`,
:class:`~app.core.display.stretch.DisplayModel`, :class:`~app.core.mask.layers.MaskLayers`,
:class:`~app.core.mask.model.MaskModel` and the settings states of
:mod:`app.core.state.states`) reports its changes through attributes of this type, so a
widget binds to any of them the same way and nothing here needs Qt. Callbacks run at
once, in the order they were connected, in the thread that changed the model (the GUI
thread: workers hand results back through the task runner before they touch a model).

A widget that writes a model it also listens to does not need a loop guard: the states
emit only when a value really changed, and :meth:`Event.blocked` silences an event for
the few places that rewrite a model in several steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

Callback = Callable[..., Any]


class Event:
    """Callbacks called with the arguments of each :meth:`emit`.

    Examples
    --------
    >>> changed = Event()
    >>> seen = []
    >>> changed.connect(seen.append)  # doctest: +ELLIPSIS
    <built-in method append ...>
    >>> changed.emit("fc")
    >>> with changed.blocked():
    ...     changed.emit("kw")
    >>> seen
    ['fc']
    """

    __slots__ = ("_blocked", "_callbacks")

    def __init__(self) -> None:
        self._callbacks: list[Callback] = []
        self._blocked = 0

    def connect(self, callback: Callback) -> Callback:
        """Call ``callback(*args)`` on every emit; returns it (usable as a decorator)."""
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callback) -> None:
        """Stop calling ``callback`` (one connection of it; absent callbacks are fine)."""
        with suppress(ValueError):
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        """Call the callbacks (unless blocked); one connected during the emit waits for
        the next one."""
        if self._blocked:
            return
        for callback in list(self._callbacks):
            callback(*args)

    @contextmanager
    def blocked(self) -> Iterator[None]:
        """Emit nothing inside the ``with`` block (nested blocks are fine)."""
        self._blocked += 1
        try:
            yield
        finally:
            self._blocked -= 1

    def __len__(self) -> int:
        return len(self._callbacks)
