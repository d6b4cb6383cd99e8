"""Exceptions that carry a message meant for the user, not a traceback."""

from __future__ import annotations


class NSCleanError(Exception):
    """Base class for errors whose message is shown to the user as is."""


class InputError(NSCleanError):
    """A file or array given by the user cannot be used (wrong format, shape, content)."""


class MaskError(InputError):
    """A background mask cannot be used with the data (shape, type, empty)."""
