"""The layered mask model, driven headless with synthetic strokes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from app.core.errors import MaskError
from app.core.mask.layers import (
    LABEL_BACKGROUND,
    LABEL_LIGHT,
    LABEL_NEVER,
    MaskLayers,
)
from app.core.mask.paint import Box

SHAPE = (200, 240)


def border_mask(shape, width=4):
    out = np.ones(shape, dtype=bool)
    out[width:-width, width:-width] = False
    return out


def polyline_distance(shape, points):
    """Distance of every pixel centre to a polyline, computed over the whole frame."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    best = np.full(shape, np.inf)
    for (ay, ax), (by, bx) in itertools.pairwise(points):
        dy, dx = by - ay, bx - ax
        length2 = dy * dy + dx * dx
        t = np.zeros(shape) if length2 == 0 else np.clip(
            ((yy - ay) * dy + (xx - ax) * dx) / length2, 0, 1
        )
        best = np.minimum(best, np.hypot(yy - ay - t * dy, xx - ax - t * dx))
    return best


class Recorder:
    def __init__(self, layers):
        self.changes = []
        layers.changed.connect(self.changes.append)


def test_default_background_is_everything_but_the_border_and_unusable_pixels():
    unusable = np.zeros(SHAPE, bool)
    unusable[50:60, 70:75] = True
    layers = MaskLayers(SHAPE, unusable=unusable)
    assert np.array_equal(layers.background(), ~(border_mask(SHAPE) | unusable))
    assert not layers.dark_edited


def test_background_formula_with_all_layers():
    rng = np.random.default_rng(3)
    layers = MaskLayers(SHAPE)
    light, exclude, dark = (rng.random(SHAPE) < p for p in (0.3, 0.1, 0.6))
    layers.apply_mask("light", light)
    layers.apply_mask("exclude", exclude)
    assert np.array_equal(layers.background(), ~light & ~exclude & ~border_mask(SHAPE))
    layers.import_background(dark, how="intersect")
    expected = dark & ~light & ~exclude & ~border_mask(SHAPE)
    assert np.array_equal(layers.background(), expected)
    box = Box(20, 90, 30, 200)
    assert np.array_equal(layers.background(box), expected[box.slices])


def test_stroke_paints_the_polyline_and_undoes_as_one_item():
    layers = MaskLayers(SHAPE)
    points = [(10.0, 10.0), (100.0, 50.0), (120.5, 180.2), (60.0, 200.0)]
    layers.begin_stroke("light", 5)
    for y, x in points:
        layers.stroke_to(y, x)
    layers.end_stroke()
    expected = polyline_distance(SHAPE, points) <= 5 + 1e-9
    assert np.array_equal(layers.layer("light"), expected)
    assert np.array_equal(layers.background(), ~expected & ~border_mask(SHAPE))
    assert len(layers.history) == 1
    layers.undo()
    assert not layers.layer("light").any()
    layers.redo()
    assert np.array_equal(layers.layer("light"), expected)


def test_eraser_and_reported_boxes_cover_every_change():
    layers = MaskLayers(SHAPE)
    layers.band("light", 40, 60, axis=0)
    before = layers.labels()
    record = Recorder(layers)
    layers.begin_stroke("light", 3, value=False)
    layers.stroke_to(50, 20)
    layers.stroke_to(50, 30)
    layers.end_stroke()
    after = layers.labels()
    changed = before != after
    assert changed.any()
    covered = np.zeros(SHAPE, bool)
    for change in record.changes:
        covered[change.box.slices] = True
        assert change.box.shape[0] * change.box.shape[1] < 200  # a dab, not the frame
    assert not (changed & ~covered).any()


def test_layers_are_read_only_views():
    layers = MaskLayers(SHAPE)
    with pytest.raises(ValueError):
        layers.layer("light")[0, 0] = True


def test_first_direct_dark_edit_keeps_the_visible_background():
    layers = MaskLayers(SHAPE)
    layers.rectangle("light", (20, 20), (40, 100))
    computed = layers.background().copy()
    layers.begin_stroke("dark", 4, value=False)  # GIMP workflow: erase background
    layers.stroke_to(150, 50)
    layers.end_stroke()
    assert layers.dark_edited
    erased = polyline_distance(SHAPE, [(150.0, 50.0), (150.0, 50.0)]) <= 4
    assert np.array_equal(layers.background(), computed & ~erased)
    # Painting light still removes background in edited mode.
    layers.rectangle("light", (100, 100), (110, 120))
    assert not layers.background()[100:111, 100:121].any()
    layers.undo()
    layers.undo()
    assert not layers.dark_edited
    assert np.array_equal(layers.background(), computed)
    layers.redo()
    assert layers.dark_edited
    assert np.array_equal(layers.background(), computed & ~erased)


def test_switching_dark_modes_back_and_forth_undoes_exactly():
    layers = MaskLayers(SHAPE)
    history_of_backgrounds = [layers.background().copy()]

    def act(func):
        func()
        history_of_backgrounds.append(layers.background().copy())

    act(lambda: layers.rectangle("dark", (30, 30), (50, 60), value=False))
    act(lambda: layers.rectangle("light", (70, 30), (90, 60)))
    act(layers.use_computed_dark)
    act(lambda: layers.rectangle("dark", (120, 100), (130, 200), value=False))
    act(lambda: layers.fill("dark", 125, 150, value=True))
    for expected in reversed(history_of_backgrounds[:-1]):
        layers.undo()
        assert np.array_equal(layers.background(), expected)
    for expected in history_of_backgrounds[1:]:
        layers.redo()
        assert np.array_equal(layers.background(), expected)


def test_import_background_replace_add_and_dropped_count():
    rng = np.random.default_rng(4)
    unusable = np.zeros(SHAPE, bool)
    unusable[100, 100:110] = True
    layers = MaskLayers(SHAPE, unusable=unusable)
    layers.rectangle("light", (10, 10), (30, 30))
    mask = rng.random(SHAPE) < 0.4
    dropped = layers.import_background(mask)
    assert np.array_equal(layers.background(), mask & ~border_mask(SHAPE) & ~unusable)
    assert dropped == np.count_nonzero(mask & (border_mask(SHAPE) | unusable))
    assert not layers.layer("light").any()
    extra = np.zeros(SHAPE, bool)
    extra[50:60, 50:60] = True
    layers.import_background(extra, how="add")
    assert layers.background()[50:60, 50:60].all()
    layers.undo()
    assert np.array_equal(layers.background(), mask & ~border_mask(SHAPE) & ~unusable)


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (np.zeros((100, 100), bool), "shape"),
        (np.zeros((200, 240), np.complex64), "type"),
        (np.full((200, 240), 3, np.int16), "values other than 0 and 1"),
        (np.zeros((2, 200, 240), bool), "shape"),
    ],
)
def test_bad_masks_raise_and_leave_the_layers_unchanged(bad, words):
    layers = MaskLayers(SHAPE)
    layers.rectangle("light", (10, 10), (30, 30))
    before = layers.snapshot()
    with pytest.raises(MaskError, match=words):
        layers.import_background(bad)
    with pytest.raises(MaskError):
        layers.apply_mask("exclude", bad)
    after = layers.snapshot()
    assert len(layers.history) == 1
    for name in ("light", "dark", "exclude"):
        assert np.array_equal(getattr(before, name), getattr(after, name))
    assert before.dark_edited == after.dark_edited


def test_threshold_tools_are_one_undo_item_each():
    layers = MaskLayers(SHAPE)
    image = np.random.default_rng(5).normal(size=SHAPE)
    layers.apply_mask("light", image > 1)
    layers.apply_mask("light", image < -2, how="add")
    assert np.array_equal(layers.layer("light"), (image > 1) | (image < -2))
    layers.apply_mask("light", image > 2, how="subtract")
    assert np.array_equal(layers.layer("light"), ((image > 1) & ~(image > 2)) | (image < -2))
    assert len(layers.history) == 3
    layers.clear("light")
    assert not layers.layer("light").any()
    layers.undo()
    assert layers.layer("light").any()


def test_straight_line_polygon_band_and_fill_tools():
    layers = MaskLayers(SHAPE)
    layers.line("exclude", (100, 20), (100, 220), 2)
    assert layers.layer("exclude")[98:103, 20:221].all()
    layers.polygon("light", [(10.0, 10.0), (10.0, 50.0), (40.0, 50.0), (40.0, 10.0)])
    assert layers.layer("light").sum() == 30 * 40
    layers.band("light", 150, 152, axis=0)
    assert layers.layer("light")[150:153].all()
    layers.fill("light", 5, 5)  # the full-width band walls off the lower part
    assert layers.layer("light")[:153].all()
    assert not layers.layer("light")[153:].any()
    assert len(layers.history) == 4


def test_labels_and_overlay_of_a_region_match_the_full_frame():
    layers = MaskLayers(SHAPE)
    layers.rectangle("light", (50, 50), (80, 120))
    layers.rectangle("exclude", (60, 100), (90, 140))
    labels = layers.labels()
    assert labels[0, 0] == LABEL_NEVER
    assert labels[65, 60] == LABEL_LIGHT
    assert labels[150, 150] == LABEL_BACKGROUND
    box = Box(40, 100, 90, 150)
    assert np.array_equal(layers.labels(box), labels[box.slices])
    full = layers.render_rgba()
    assert full.shape == (*SHAPE, 4) and full.dtype == np.uint8
    assert np.array_equal(layers.render_rgba(box), full[box.slices])
    assert tuple(full[150, 150]) == (255, 30, 30, round(0.35 * 255))


def test_visibility_and_opacity_change_the_colour_table_only():
    layers = MaskLayers(SHAPE)
    record = Recorder(layers)
    revision = layers.revision
    assert not layers.toggle_visible("dark")
    assert layers.render_rgba()[150, 150, 3] == 0
    layers.set_style("light", opacity=2.0)  # clamped
    assert layers.styles["light"].opacity == 1.0
    assert [c.kind for c in record.changes] == ["style", "style"]
    assert layers.revision == revision  # no unsaved pixels


def test_cursor_readout_names_the_layers_under_the_cursor():
    unusable = np.zeros(SHAPE, bool)
    unusable[20, 20] = True
    layers = MaskLayers(SHAPE, unusable=unusable)
    layers.rectangle("light", (50, 50), (60, 60))
    layers.rectangle("exclude", (55, 55), (70, 70))
    assert layers.layers_at(52, 52) == ("light",)
    assert layers.layers_at(57, 57) == ("light", "exclude")
    assert layers.layers_at(100, 100) == ("dark",)
    assert layers.layers_at(0, 5) == ("border",)
    assert layers.layers_at(20, 20) == ("unusable",)
    assert layers.layers_at(-1, 5) == ()


def test_snapshot_round_trip_and_unusable_updates():
    layers = MaskLayers(SHAPE)
    layers.rectangle("light", (50, 50), (60, 60))
    layers.rectangle("dark", (100, 100), (110, 110), value=False)
    copy = MaskLayers.from_snapshot(layers.snapshot())
    assert np.array_equal(copy.background(), layers.background())
    assert copy.dark_edited and len(copy.history) == 0
    record = Recorder(copy)
    unusable = np.zeros(SHAPE, bool)
    unusable[120, 120] = True
    copy.set_unusable(unusable)
    assert not copy.background()[120, 120]
    assert record.changes[-1].box == Box.full(SHAPE)


def test_subarray_border_only_along_the_axes_spanning_the_detector():
    # A 2048-wide stripe of 32 rows (BOTS): reference columns, no reference rows.
    from app.core.clean import reference_pixels, reference_sides

    shape = (32, 2048)
    layers = MaskLayers(shape, border_sides=reference_sides(shape))
    expected = np.ones(shape, dtype=bool)
    expected[:, :4] = expected[:, -4:] = False
    assert np.array_equal(layers.background(), expected)
    assert np.array_equal(layers.background(), ~reference_pixels(shape))
    back = MaskLayers.from_snapshot(layers.snapshot())
    assert back.border_sides == (False, True)
    assert np.array_equal(back.background(), expected)
