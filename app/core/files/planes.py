"""One background mask for all integrations, or one mask plane per integration.

The pipeline's ``clean_flicker_noise`` step writes a 3-D mask (a ``CubeModel``, one plane
per integration) when run with ``single_mask=False``. Such a mask applies plane ``i`` to
integration ``i`` of a ``rateints`` or ``ramp`` file; a 2-D mask applies to all of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.core.errors import MaskError


def check_mask_planes(path: Path, mask: np.ndarray, nints: int,
                      shape: tuple[int, int]) -> None:
    """Raise :class:`MaskError` unless ``mask`` fits a file of ``nints`` × ``shape``.

    Parameters
    ----------
    path : Path
        The data file (named in the message).
    mask : ndarray of bool
        2-D ``(ny, nx)`` or 3-D ``(nplanes, ny, nx)``.
    nints : int
        Integrations in the file.
    shape : tuple of int
        ``(ny, nx)`` of one integration.
    """
    if mask.ndim not in (2, 3):
        raise MaskError(f"{path}: the mask is {mask.ndim}-D; it must be 2-D, or 3-D with "
                        "one plane per integration")
    if tuple(mask.shape[-2:]) != tuple(shape):
        raise MaskError(f"{path}: mask shape {tuple(mask.shape[-2:])} does not match the image "
                        f"shape {tuple(shape)}")
    if mask.ndim == 3 and mask.shape[0] != nints:
        raise MaskError(f"{path}: the mask has {mask.shape[0]} plane(s) but the file has "
                        f"{nints} integration(s); pass --mask-plane N to use one plane for all")


def mask_plane(mask: np.ndarray, integration: int) -> np.ndarray:
    """The 2-D mask of ``integration`` (the mask itself when it is 2-D)."""
    return mask[integration] if mask.ndim == 3 else mask
