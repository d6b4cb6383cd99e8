"""How mask layers are checked and drawn: label bits, layer styles and the overlay colours.

The overlay is a small label image (one bit per layer, see :data:`LABEL_LIGHT` ...)
indexed into a 16-entry RGBA table; composing the table from the styles here keeps a
style change to one table swap, whatever the image size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from app.core.errors import MaskError

#: Bits of the label image returned by :meth:`MaskLayers.labels`.
LABEL_LIGHT, LABEL_BACKGROUND, LABEL_EXCLUDE, LABEL_NEVER = 1, 2, 4, 8
#: Drawing order of the overlay, bottom first: name in the styles → label bit.
OVERLAY_ORDER = (
    ("unusable", LABEL_NEVER), ("dark", LABEL_BACKGROUND),
    ("light", LABEL_LIGHT), ("exclude", LABEL_EXCLUDE),
)


@dataclass(frozen=True)
class LayerStyle:
    """How one layer is drawn: RGB colour, opacity in [0, 1], visibility."""

    color: tuple[int, int, int]
    opacity: float
    visible: bool = True


DEFAULT_STYLES = {
    "light": LayerStyle((40, 110, 255), 0.45),
    "dark": LayerStyle((255, 30, 30), 0.35),
    "exclude": LayerStyle((255, 200, 0), 0.55),
    "unusable": LayerStyle((120, 120, 120), 0.5),
}


def check_mask_array(mask: object, shape: tuple[int, int], what: str = "mask") -> np.ndarray:
    """Return ``mask`` as a boolean array of ``shape``; raise :class:`MaskError` otherwise.

    Accepts booleans and integer or float arrays holding only 0 and 1.
    """
    array = np.asarray(mask)
    if array.ndim != 2 or array.shape != tuple(shape):
        raise MaskError(
            f"the {what} has shape {array.shape}, but the image is {shape[0]}×{shape[1]}"
        )
    if array.dtype == bool:
        return array
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise MaskError(f"the {what} has type {array.dtype}; expected booleans or 0/1 numbers")
    ones = array == 1
    odd = ~ones & (array != 0)
    if odd.any():
        example = array[odd][0]
        raise MaskError(
            f"the {what} holds values other than 0 and 1 (for example {example}); "
            "is it an image rather than a mask?"
        )
    return ones


def composite_lut(styles: Mapping[str, LayerStyle]) -> np.ndarray:
    """RGBA colour table (16×4 uint8) indexed by label codes, composited bottom-up.

    Parameters
    ----------
    styles : mapping
        Style of each overlay name in :data:`OVERLAY_ORDER` (``"unusable"``, ``"dark"``,
        ``"light"``, ``"exclude"``).

    Returns
    -------
    ndarray
        Read-only ``(16, 4)`` uint8 table with straight (not premultiplied) alpha.
    """
    lut = np.zeros((16, 4), dtype=np.uint8)
    for code in range(16):
        rgb, alpha = np.zeros(3), 0.0
        for name, bit in OVERLAY_ORDER:
            style = styles[name]
            if code & bit and style.visible and style.opacity > 0:
                a = float(style.opacity)
                new_alpha = a + alpha * (1 - a)
                rgb = (np.asarray(style.color) * a + rgb * alpha * (1 - a)) / new_alpha
                alpha = new_alpha
        lut[code, :3] = np.round(rgb)
        lut[code, 3] = round(alpha * 255)
    lut.flags.writeable = False
    return lut
