"""Rasterisers of the painting tools, checked against slow, obvious references."""

from __future__ import annotations

import math
from collections import deque
from fractions import Fraction

import numpy as np
import pytest

from app.core.mask import paint
from app.core.mask.paint import Box


def paint_into(shape, footprint) -> np.ndarray:
    out = np.zeros(shape, dtype=bool)
    if footprint is not None:
        box, mask = footprint
        out[box.slices] = True if mask is None else mask
    return out


def slow_capsule(shape, p0, p1, radius) -> np.ndarray:
    """Pixel centres within ``radius`` of the segment, in exact rational arithmetic."""
    ay, ax = (Fraction(v) for v in p0)
    by, bx = (Fraction(v) for v in p1)
    r2 = Fraction(radius) ** 2
    dy, dx = by - ay, bx - ax
    length2 = dy * dy + dx * dx
    out = np.zeros(shape, dtype=bool)
    for y in range(shape[0]):
        for x in range(shape[1]):
            wy, wx = y - ay, x - ax
            t = Fraction(0) if length2 == 0 else min(max((wy * dy + wx * dx) / length2, 0), 1)
            out[y, x] = (wy - t * dy) ** 2 + (wx - t * dx) ** 2 <= r2
    return out


def test_stroke_paints_exactly_the_pixels_within_radius_of_the_segment():
    shape = (120, 80)
    got = paint_into(shape, paint.capsule((10, 10), (100, 50), 5, shape))
    expected = slow_capsule(shape, (10, 10), (100, 50), 5)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_capsule_with_fractional_end_points(seed):
    rng = np.random.default_rng(seed)
    shape = (40, 50)
    p0 = tuple(rng.uniform(-5, 45, 2))
    p1 = tuple(rng.uniform(-5, 45, 2))
    radius = float(rng.uniform(1.0, 6.0))
    got = paint_into(shape, paint.capsule(p0, p1, radius, shape))
    assert np.array_equal(got, slow_capsule(shape, p0, p1, radius))


def test_round_dab_covers_the_lattice_points_of_the_disk():
    # Gauss circle problem: 81 lattice points within radius 5 of a lattice point.
    got = paint_into((30, 30), paint.capsule((15, 15), (15, 15), 5, (30, 30)))
    assert got.sum() == 81
    box, _ = paint.capsule((15, 15), (15, 15), 5, (30, 30))
    assert box == Box(10, 21, 10, 21)


def test_tiny_brush_still_marks_the_nearest_pixel():
    got = paint_into((10, 10), paint.capsule((3.5, 4.5), (3.5, 4.5), 0.1, (10, 10)))
    assert got.sum() >= 1 and got[4, 5]


def test_capsule_off_the_image_is_none():
    assert paint.capsule((-50, -50), (-40, -45), 3, (20, 20)) is None


def test_long_segment_pieces_have_small_boxes_and_union_to_the_capsule():
    shape = (2048, 2048)
    p0, p1, radius = (10.0, 20.0), (2000.0, 1900.0), 3.0
    pieces = list(paint.capsule_pieces(p0, p1, radius, shape))
    assert len(pieces) > 10
    assert max(b.shape[0] * b.shape[1] for b, _ in pieces) < 40 * 40
    union = np.zeros(shape, dtype=bool)
    for box, mask in pieces:
        union[box.slices] |= mask
    whole = paint_into(shape, paint.capsule(p0, p1, radius, shape))
    assert np.array_equal(union, whole)


def slow_inside(polygon_yx, y, x) -> bool:
    """Even-odd rule by counting edge crossings of a ray from (y, x) towards +x."""
    inside = False
    n = len(polygon_yx)
    for i in range(n):
        (y1, x1), (y2, x2) = polygon_yx[i], polygon_yx[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < x_at:
                inside = not inside
    return inside


@pytest.mark.parametrize(
    "vertices",
    [
        [(2.3, 3.1), (30.7, 8.2), (25.4, 40.6), (6.6, 33.3)],  # convex quadrilateral
        [(5.2, 5.3), (35.1, 20.4), (5.6, 36.2), (20.3, 20.7)],  # concave arrowhead
        [(20.1, 2.2), (37.3, 35.4), (2.6, 12.7), (37.2, 12.6), (2.4, 35.3)],  # star: even-odd
        [(-10.5, -8.3), (50.2, 10.1), (12.2, 60.7)],  # partly off the image
    ],
)
def test_polygon_matches_ray_casting(vertices):
    shape = (40, 42)
    got = paint_into(shape, paint.polygon(vertices, shape))
    expected = np.array(
        [[slow_inside(vertices, y, x) for x in range(shape[1])] for y in range(shape[0])]
    )
    assert got.any()
    assert np.array_equal(got, expected)


def test_polygon_with_integer_corners_covers_its_area_exactly():
    got = paint_into((30, 30), paint.polygon([(5, 4), (5, 14), (12, 14), (12, 4)], (30, 30)))
    assert got.sum() == 7 * 10
    assert got[5:12, 4:14].all()


def test_degenerate_polygon_paints_nothing():
    assert paint.polygon([(1, 1), (5, 5)], (10, 10)) is None


def test_rectangle_includes_both_corners_in_any_drag_direction():
    box, mask = paint.rectangle((8.2, 9.6), (3.4, 2.1), (20, 20))
    assert mask is None
    assert box == Box(3, 9, 2, 11)
    assert paint.rectangle((-5, -5), (3, 2), (20, 20))[0] == Box(0, 4, 0, 3)


def test_band_spans_whole_rows_or_columns():
    assert paint.band(7.6, 3.2, 0, (20, 30))[0] == Box(3, 9, 0, 30)
    assert paint.band(4, 4, 1, (20, 30))[0] == Box(0, 20, 4, 5)
    with pytest.raises(ValueError):
        paint.band(0, 1, 2, (20, 30))


def slow_flood(array, seed, connectivity):
    steps = [(1, 0), (-1, 0), (0, 1), (0, -1)]
    if connectivity == 8:
        steps += [(1, 1), (1, -1), (-1, 1), (-1, -1)]
    out = np.zeros(array.shape, dtype=bool)
    value = array[seed]
    queue = deque([seed])
    out[seed] = True
    while queue:
        y, x = queue.popleft()
        for dy, dx in steps:
            v, u = y + dy, x + dx
            inside = 0 <= v < array.shape[0] and 0 <= u < array.shape[1]
            if inside and not out[v, u] and array[v, u] == value:
                out[v, u] = True
                queue.append((v, u))
    return out


@pytest.mark.parametrize("connectivity", [4, 8])
def test_flood_fill_matches_breadth_first_search(connectivity):
    rng = np.random.default_rng(5)
    layer = rng.random((40, 50)) < 0.45
    seed = (20, 25)
    got = paint_into(layer.shape, paint.flood_region(layer, seed, connectivity=connectivity))
    assert np.array_equal(got, slow_flood(layer, seed, connectivity))


def test_flood_fill_inside_an_outline_and_the_diagonal_leak():
    layer = np.zeros((30, 30), dtype=bool)
    yy, xx = np.mgrid[:30, :30]
    ring = np.abs(np.hypot(yy - 15, xx - 15) - 8) < 0.8
    layer[ring] = True
    inside = np.hypot(yy - 15, xx - 15) < 8 - 0.8
    box, mask = paint.flood_region(layer, (15.2, 14.9), connectivity=4)
    assert np.array_equal(paint_into(layer.shape, (box, mask)), inside & ~ring)
    assert box.shape[0] < 20  # tight box around the hole only
    # A one-pixel-wide diagonal wall stops a 4-connected fill but not an 8-connected one.
    wall = np.zeros((10, 10), dtype=bool)
    wall[np.arange(10), np.arange(10)] = True
    four = paint_into(wall.shape, paint.flood_region(wall, (0, 9), connectivity=4))
    eight = paint_into(wall.shape, paint.flood_region(wall, (0, 9), connectivity=8))
    assert four.sum() == 45 and eight.sum() == 90


def test_flood_fill_limited_to_a_box():
    layer = np.zeros((50, 50), dtype=bool)
    box, mask = paint.flood_region(layer, (10, 10), limit=Box(5, 20, 0, 30))
    assert box == Box(5, 20, 0, 30) and mask.all()
    assert paint.flood_region(layer, (40, 40), limit=Box(5, 20, 0, 30)) is None


def test_box_helpers():
    a, b = Box(0, 5, 0, 5), Box(3, 10, -2, 4)
    assert a.union(b) == Box(0, 10, -2, 5)
    assert b.clip((8, 8)) == Box(3, 8, 0, 4)
    assert Box(5, 5, 0, 3).empty and Box(5, 5, 0, 3).shape == (0, 3)
    assert paint.union_boxes([None, a, Box(9, 9, 9, 9), b]) == a.union(b)
    assert math.prod(Box.full((4, 7)).shape) == 28
