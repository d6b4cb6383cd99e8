"""Rasterise painting tools into small footprints: brush, segment, rectangle, polygon, fill, band.

Every function here is pure geometry: it returns the bounding box a tool touches and a
boolean footprint of that box's shape (or ``None`` when the whole box is covered). Nothing
allocates or scans a full frame except flood fill, which may be bounded by ``limit``.

Coordinates are ``(y, x)`` = (row, column) in the mask's own (DMS) orientation, with the
centre of pixel ``(i, j)`` at ``(i, j)``. A view whose pixel ``i`` spans ``[i, i + 1)``
(pyqtgraph's convention) subtracts 0.5 before calling in.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np

#: Slack when comparing squared distances, so pixels exactly on the brush edge count.
_EDGE_TOLERANCE = 1e-9


class Box(NamedTuple):
    """A half-open pixel rectangle ``[y0, y1) × [x0, x1)``."""

    y0: int
    y1: int
    x0: int
    x1: int

    @classmethod
    def full(cls, shape: tuple[int, int]) -> Box:
        """The box covering an array of ``shape``."""
        return cls(0, int(shape[0]), 0, int(shape[1]))

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, columns)`` slices for indexing a 2-D array."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the box (zero or negative sizes become 0)."""
        return max(self.y1 - self.y0, 0), max(self.x1 - self.x0, 0)

    @property
    def empty(self) -> bool:
        """True when the box holds no pixel."""
        return self.y1 <= self.y0 or self.x1 <= self.x0

    def union(self, other: Box | None) -> Box:
        """The smallest box holding both (``other`` may be None or empty)."""
        if other is None or other.empty:
            return self
        if self.empty:
            return other
        return Box(
            min(self.y0, other.y0), max(self.y1, other.y1),
            min(self.x0, other.x0), max(self.x1, other.x1),
        )

    def clip(self, shape: tuple[int, int]) -> Box:
        """This box cut to the array of ``shape``."""
        ny, nx = shape
        return Box(
            min(max(self.y0, 0), ny), min(max(self.y1, 0), ny),
            min(max(self.x0, 0), nx), min(max(self.x1, 0), nx),
        )


#: A touched region: its box and a footprint of the box's shape (None = the whole box).
Footprint = tuple[Box, "np.ndarray | None"]


def union_boxes(boxes: Sequence[Box | None]) -> Box | None:
    """Union of several boxes (None and empty boxes ignored); None if nothing remains."""
    out: Box | None = None
    for box in boxes:
        if box is not None and not box.empty:
            out = box if out is None else out.union(box)
    return out


def capsule(
    p0: tuple[float, float], p1: tuple[float, float], radius: float, shape: tuple[int, int]
) -> Footprint | None:
    """Pixels whose centre lies within ``radius`` of the segment ``p0``–``p1``.

    A round brush dab is the segment of zero length. The pixel nearest each end point is
    always included, so even a tiny brush leaves a mark.

    Parameters
    ----------
    p0, p1 : tuple of float
        End points ``(y, x)``.
    radius : float
        Brush radius in pixels (values below 0.5 act as 0.5).
    shape : tuple of int
        Shape of the mask painted on.

    Returns
    -------
    (Box, ndarray) or None
        The clipped bounding box and the footprint inside it; None if nothing of the
        capsule falls on the mask.
    """
    (ay, ax), (by, bx) = (float(p0[0]), float(p0[1])), (float(p1[0]), float(p1[1]))
    r = max(float(radius), 0.5)
    box = Box(
        math.floor(min(ay, by) - r), math.floor(max(ay, by) + r) + 1,
        math.floor(min(ax, bx) - r), math.floor(max(ax, bx) + r) + 1,
    ).clip(shape)
    if box.empty:
        return None
    wy = np.arange(box.y0, box.y1, dtype=np.float64)[:, None] - ay
    wx = np.arange(box.x0, box.x1, dtype=np.float64)[None, :] - ax
    dy, dx = by - ay, bx - ax
    length2 = dy * dy + dx * dx
    if length2 > 0.0:
        # Project each pixel centre onto the segment, clamped to its ends.
        t = np.clip((wy * dy + wx * dx) / length2, 0.0, 1.0)
        dist2 = (wy - t * dy) ** 2 + (wx - t * dx) ** 2
    else:
        dist2 = wy * wy + wx * wx
    footprint = dist2 <= r * r + _EDGE_TOLERANCE
    for py, px in ((ay, ax), (by, bx)):
        iy, ix = math.floor(py + 0.5), math.floor(px + 0.5)
        if box.y0 <= iy < box.y1 and box.x0 <= ix < box.x1:
            footprint[iy - box.y0, ix - box.x0] = True
    return box, footprint


def capsule_pieces(
    p0: tuple[float, float],
    p1: tuple[float, float],
    radius: float,
    shape: tuple[int, int],
) -> Iterator[Footprint]:
    """Footprints of the segment ``p0``–``p1`` cut into short pieces.

    A fast mouse can jump across the frame between two events; one capsule would then
    have a frame-sized box. Pieces of length ≤ 4·radius keep every box small, and their
    union is exactly the capsule of the whole segment.
    """
    (ay, ax), (by, bx) = p0, p1
    length = math.hypot(by - ay, bx - ax)
    step = max(4.0 * max(float(radius), 0.5), 8.0)
    count = max(1, math.ceil(length / step))
    for k in range(count):
        t0, t1 = k / count, (k + 1) / count
        q0 = (ay + t0 * (by - ay), ax + t0 * (bx - ax))
        q1 = (ay + t1 * (by - ay), ax + t1 * (bx - ax))
        if k == 0:
            q0 = (ay, ax)  # keep the exact end points (their nearest pixels are forced on)
        if k == count - 1:
            q1 = (by, bx)
        piece = capsule(q0, q1, radius, shape)
        if piece is not None:
            yield piece


def rectangle(
    p0: tuple[float, float], p1: tuple[float, float], shape: tuple[int, int]
) -> Footprint | None:
    """The pixels of the rectangle with opposite corners ``p0`` and ``p1`` (inclusive).

    Corners are rounded to the nearest pixel, so a click-drag covers both end pixels.
    """
    ys = sorted((math.floor(p0[0] + 0.5), math.floor(p1[0] + 0.5)))
    xs = sorted((math.floor(p0[1] + 0.5), math.floor(p1[1] + 0.5)))
    box = Box(ys[0], ys[1] + 1, xs[0], xs[1] + 1).clip(shape)
    return None if box.empty else (box, None)


def band(start: float, stop: float, axis: int, shape: tuple[int, int]) -> Footprint | None:
    """Whole rows (``axis=0``) or whole columns (``axis=1``) from ``start`` to ``stop``.

    Both ends are rounded to the nearest pixel and included. Spectral traces run along
    rows and detector stripes along columns, so one drag marks them completely.
    """
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 (rows) or 1 (columns), not {axis!r}")
    lo, hi = sorted((math.floor(start + 0.5), math.floor(stop + 0.5)))
    ny, nx = shape
    box = Box(lo, hi + 1, 0, nx) if axis == 0 else Box(0, ny, lo, hi + 1)
    box = box.clip(shape)
    return None if box.empty else (box, None)


def polygon(vertices: Sequence[tuple[float, float]], shape: tuple[int, int]) -> Footprint | None:
    """Pixels whose centre is inside the closed polygon (even-odd rule); also the lasso.

    A centre exactly on an edge counts as inside on the top/left edges and outside on
    the bottom/right ones, so a polygon with integer corners ``(0, 0)``–``(h, w)`` covers
    exactly ``h × w`` pixels and adjacent polygons never share a pixel.

    Parameters
    ----------
    vertices : sequence of (y, x)
        At least three points; the polygon is closed automatically.
    shape : tuple of int
        Shape of the mask.
    """
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 2)
    if len(v) < 3 or not np.all(np.isfinite(v)):
        return None
    ya, xa = v[:, 0], v[:, 1]
    yb, xb = np.roll(ya, -1), np.roll(xa, -1)
    box = Box(
        math.ceil(ya.min()), math.ceil(ya.max()), math.ceil(xa.min()), math.ceil(xa.max())
    ).clip(shape)
    if box.empty:
        return None
    rows = np.arange(box.y0, box.y1, dtype=np.float64)[:, None]
    # Scanline: edge k crosses row y when y lies in its half-open span [low, high).
    crosses = (np.minimum(ya, yb) <= rows) & (rows < np.maximum(ya, yb))
    row_idx, edge_idx = np.nonzero(crosses)
    e_ya, e_xa = ya[edge_idx], xa[edge_idx]
    x_cross = e_xa + (rows[row_idx, 0] - e_ya) * (xb[edge_idx] - e_xa) / (yb[edge_idx] - e_ya)
    height, width = box.shape
    first_inside = np.clip(np.ceil(x_cross).astype(np.int64) - box.x0, 0, width)
    toggles = np.zeros((height, width + 1), dtype=np.int32)
    np.add.at(toggles, (row_idx, first_inside), 1)
    footprint = (np.cumsum(toggles[:, :width], axis=1) & 1).astype(bool)
    return box, footprint


def flood_region(
    array: np.ndarray,
    seed: tuple[float, float],
    *,
    connectivity: int = 4,
    limit: Box | None = None,
) -> Footprint | None:
    """The connected region of pixels equal to the seed pixel (the flood-fill area).

    Parameters
    ----------
    array : ndarray
        2-D layer (any dtype) whose equal-valued regions are filled.
    seed : tuple of float
        ``(y, x)`` of the clicked pixel (rounded to the nearest).
    connectivity : {4, 8}
        Neighbourhood: 4 keeps fills from leaking through diagonal gaps in an outline.
    limit : Box, optional
        Search only inside this box (for example the visible part of the image).

    Returns
    -------
    (Box, ndarray) or None
        The region's tight bounding box and footprint; None if the seed is outside.
    """
    from scipy import ndimage  # deferred: scipy is slow to import and only fills need it

    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, not {connectivity!r}")
    area = (limit or Box.full(array.shape)).clip(array.shape)
    sy, sx = math.floor(seed[0] + 0.5), math.floor(seed[1] + 0.5)
    if area.empty or not (area.y0 <= sy < area.y1 and area.x0 <= sx < area.x1):
        return None
    sub = array[area.slices]
    same = sub == sub[sy - area.y0, sx - area.x0]
    structure = ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    labels, _count = ndimage.label(same, structure=structure)
    region = labels == labels[sy - area.y0, sx - area.x0]
    rows = np.flatnonzero(region.any(axis=1))
    cols = np.flatnonzero(region.any(axis=0))
    tight = Box(int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
    box = Box(area.y0 + tight.y0, area.y0 + tight.y1, area.x0 + tight.x0, area.x0 + tight.x1)
    return box, region[tight.slices]
