"""Smoothing that ignores unusable pixels: what thresholds and background fits look through.

Every filter here treats pixels outside the usable set (NaN, DO_NOT_USE, reference
border) as absent rather than as zeros, so gaps neither darken nor brighten their
neighbourhood: Gaussian and box filters by normalised convolution, the median by
substituting the background level 0 (the input is a residual whose background is 0).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from app.core.errors import InputError

#: Smoothing kinds: name -> label for menus.
SMOOTHING = {"gaussian": "Gaussian", "median": "Median", "none": "None"}


def smooth_residual(residual: np.ndarray, usable: np.ndarray, kind: str, size: float,
                    elongation: float) -> np.ndarray:
    """The residual smoothed as ``kind``; NaN where no usable pixel is near.

    ``gaussian``: normalised Gaussian with σ = (size, size·elongation). ``median``: median
    of a (2r+1)×(2r·elongation+1) box, r = ceil(size), unusable pixels counted as the
    background level 0 (slower: seconds on a full frame). ``none``: the residual itself.
    """
    if kind == "gaussian":
        return normalized_smooth(residual, usable, (size, size * elongation))
    if kind == "median":
        reach = max(int(np.ceil(size)), 1)
        box = (2 * reach + 1, 2 * int(np.ceil(reach * elongation)) + 1)
        out = ndimage.median_filter(np.where(usable, residual, np.float32(0)), size=box)
    elif kind == "none":
        out = residual.copy()
    else:
        raise InputError(f"unknown smoothing {kind!r}")
    out = out.astype(np.float32, copy=False)
    out[~usable] = np.nan
    return out


def normalized_smooth(values: np.ndarray, valid: np.ndarray, sigma: tuple[float, float],
                      weight: np.ndarray | None = None) -> np.ndarray:
    """Gaussian smoothing over ``valid`` pixels only (normalised convolution).

    ``K∗(v·w) / K∗w``: gaps (NaN, bad pixels) neither pull the mean towards zero nor
    leak values. Pass ``weight = K∗w`` when smoothing several images with one mask.
    NaN where fewer than 5 % of the kernel's weight is valid.
    """
    if weight is None:
        weight = gaussian2d(valid.astype(np.float32), sigma)
    smooth = gaussian2d(np.where(valid, values, np.float32(0)), sigma)
    out = np.full(values.shape, np.nan, dtype=np.float32)
    np.divide(smooth, weight, out=out, where=weight > 0.05)
    return out


def gaussian2d(image: np.ndarray, sigma: tuple[float, float]) -> np.ndarray:
    """Separable Gaussian (σ rows, σ columns) truncated at 3σ, zeros beyond the edges
    (see :func:`box2d`); σ = 0 skips that axis."""
    out = np.asarray(image, dtype=np.float32)
    if sigma[1] > 0:
        out = ndimage.gaussian_filter1d(out, sigma[1], axis=1, truncate=3.0, mode="constant")
    if sigma[0] > 0:
        out = ndimage.gaussian_filter1d(out, sigma[0], axis=0, truncate=3.0, mode="constant")
    return out


def box2d(image: np.ndarray, box: tuple[int, int]) -> np.ndarray:
    """Running mean over a (rows, columns) box, both odd, with zeros beyond the edges.

    Zeros, not repeated edge pixels, so that a normalised convolution (divided by the
    same filter of the valid-pixel mask) weights every pixel once. Along rows scipy's
    ``uniform_filter1d``; across rows a sum of shifted slices, which is several times
    faster than filtering along the strided axis.
    """
    out = ndimage.uniform_filter1d(np.asarray(image, dtype=np.float32), box[1], axis=1,
                                   mode="constant")
    reach = box[0] // 2
    if reach:
        pad = np.zeros((reach, out.shape[1]), dtype=out.dtype)
        padded = np.concatenate([pad, out, pad])
        total = padded[: out.shape[0]].copy()
        for k in range(1, 2 * reach + 1):
            total += padded[k : k + out.shape[0]]
        out = total / np.float32(box[0])
    return out
