"""Checks on PNG mask pictures that pillow does not make.

Pillow does not verify the CRC of image data (IDAT) chunks, so a picture with a flipped
bit loads as a mask with wrong pixels; it decodes pictures of any declared size up to
its decompression-bomb limit. :func:`check_png` walks the chunks first: every CRC,
the size in IHDR, and the IEND that ends a whole file.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from app.core.errors import MaskError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: A mask picture matches an image of at most 2048 pixels a side; leave room for more.
MAX_PNG_SIDE = 8192
MAX_PNG_BYTES = 256 * 2**20
#: Pillow modes of pictures without colour: they cannot mark background in red.
GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F")


def check_png(path: Path, data: bytes) -> None:
    """Raise :class:`MaskError` unless ``data`` is a whole PNG with correct chunk CRCs and
    a size of at most :data:`MAX_PNG_SIDE` pixels a side."""
    if not data.startswith(PNG_MAGIC):
        raise MaskError(f"{path}: not a PNG file")
    offset, first = len(PNG_MAGIC), True
    while True:
        if offset + 12 > len(data):
            raise MaskError(f"{path}: the PNG file is truncated (no IEND chunk)")
        length = int.from_bytes(data[offset:offset + 4], "big")
        kind = data[offset + 4:offset + 8]
        end = offset + 12 + length
        if end > len(data):
            raise MaskError(f"{path}: the PNG file is truncated (in a {_name(kind)} chunk)")
        crc = int.from_bytes(data[end - 4:end], "big")
        if zlib.crc32(data[offset + 4:end - 4]) != crc:
            raise MaskError(f"{path}: the PNG file is damaged (CRC error in a {_name(kind)} "
                            f"chunk at byte {offset:,})")
        if first:
            if kind != b"IHDR" or length < 8:
                raise MaskError(f"{path}: the PNG file is damaged (no IHDR chunk first)")
            width = int.from_bytes(data[offset + 8:offset + 12], "big")
            height = int.from_bytes(data[offset + 12:offset + 16], "big")
            if not (0 < width <= MAX_PNG_SIDE and 0 < height <= MAX_PNG_SIDE):
                raise MaskError(f"{path}: the PNG is {width}×{height} pixels; a mask picture "
                                f"has 1 to {MAX_PNG_SIDE} pixels a side")
            first = False
        if kind == b"IEND":
            return
        offset = end


def _name(kind: bytes) -> str:
    return kind.decode("ascii", "replace")


def opaque(image) -> np.ndarray | bool:  # image: PIL.Image.Image
    """Where ``image`` is fully opaque (True everywhere when it has no transparency)."""
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        return np.asarray(image.convert("RGBA"))[..., 3] == 255
    return True
