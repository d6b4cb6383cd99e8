"""Exceptions that carry a message meant for the user, not a traceback."""

from __future__ import annotations


class NSCleanError(Exception):
    """Base class for errors whose message is shown to the user as is."""


class InputError(NSCleanError):
    """A file or array given by the user cannot be used (wrong format, shape, content)."""


class MaskError(InputError):
    """A background mask cannot be used with the data (shape, type, empty)."""


class MaskShapeError(MaskError):
    """The mask's shape differs from an image's (both shapes kept, to say it once)."""

    def __init__(self, message: str, mask_shape: tuple[int, ...],
                 image_shape: tuple[int, ...]) -> None:
        super().__init__(message)
        self.mask_shape, self.image_shape = tuple(mask_shape), tuple(image_shape)
