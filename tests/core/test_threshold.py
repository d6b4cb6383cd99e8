"""Threshold tool: traces found against known truth, stripes ignored, bad input refused."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from scipy import ndimage

import app.core.threshold.traces as threshold_module
from app.core.errors import InputError
from app.core.threshold.background import column_levels, fit_background, robust_stats
from app.core.threshold.picture_frame import frame_levels
from app.core.threshold.regions import dilate, drop_small_regions, fill_row_gaps, spread
from app.core.threshold.smoothing import normalized_smooth
from app.core.threshold.traces import Thresholder, ThresholdSettings, limit_to_region

WHITE = 0.01


def synthetic(shape=(512, 1024), seed=0, stripes=0.02, negative=False):
    """Horizontal traces of known footprint on white noise and per-column stripes.

    Returns (image, light truth). Stripes are an offset per column and 128-row block,
    like read noise of one output, so a threshold that ignores them would call them light.
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape
    light = np.zeros(shape, np.float32)
    for centre, level in zip((90, 190, 290, 390), (0.08, 0.03, 0.015, 0.01), strict=True):
        light[centre - 6:centre + 7, 60:nx - 60] = level
    if negative:
        light[440:452, 100:nx - 100] = -0.05  # a negative nod trace
    image = light + rng.normal(0, WHITE, shape).astype(np.float32)
    blocks = rng.normal(0, stripes, (ny // 128, nx)).astype(np.float32)
    image += np.repeat(blocks, 128, axis=0)
    return image, light != 0


def near(truth, reach=6, along=6):
    """Within ``reach`` rows and ``along`` columns of the truth: growth, not false light.

    Along the dispersion the default smoothing (σ = 0.7 × 12 px) blurs a trace's end over
    a few σ, so light there is the trace's own, not stripes.
    """
    return ndimage.binary_dilation(truth, np.ones((2 * reach + 1, 2 * along + 1), bool))


def scores(background, truth, usable):
    kept = background & usable
    contamination = np.count_nonzero(kept & truth) / max(np.count_nonzero(kept), 1)
    completeness = np.count_nonzero(kept & ~truth) / np.count_nonzero(usable & ~truth)
    return contamination, completeness


def test_finds_faint_traces_and_ignores_stripes():
    image, truth = synthetic()
    result = Thresholder(image).threshold()
    contamination, completeness = scores(result.background, truth, result.usable)
    assert contamination == 0.0  # the faintest trace is 1 σ per pixel: still found
    assert completeness > 0.85
    # the same smoothing and threshold without the background fit calls stripes light
    settings = result.settings
    smooth = normalized_smooth(image, np.ones(image.shape, bool),
                               (settings.smooth_size, settings.smooth_size * settings.elongation))
    centre, sigma = robust_stats(smooth[~truth], lower_half=True)
    naive = smooth > centre + settings.sigma * sigma
    blur = int(np.ceil(3 * settings.smooth_size * settings.elongation))
    false_light = np.count_nonzero(result.signal & ~near(truth, along=blur))
    assert np.count_nonzero(naive & ~near(truth, along=blur)) > 10 * max(false_light, 1)


def test_negative_trace_and_bad_pixels_are_never_background():
    image, _ = synthetic(seed=1, negative=True)
    dq = np.zeros(image.shape, np.uint32)
    dq[20, 30] = 1  # DO_NOT_USE
    image[25, 35] = np.nan
    image[30, 500] = -1.0  # a dead-cold pixel
    result = Thresholder(image, dq).threshold()
    assert result.low[440:452, 110:-110].mean() > 0.95
    assert result.low[30, 500]
    assert not result.background[20, 30] and not result.background[25, 35]
    assert not result.background[440:452, 100:-100].any()
    # the negative trace goes into the light layer, which is what the user sees
    assert result.light[445, 500] and not result.signal[445, 500]


def test_low_side_can_be_disabled():
    image, _ = synthetic(seed=1, negative=True)
    result = Thresholder(image).threshold(ThresholdSettings(low_sigma=0))
    assert not result.low.any()


@pytest.mark.parametrize("kind", ["median", "none"])
def test_other_smoothings_find_the_bright_traces(kind):
    image, _ = synthetic(seed=2)
    settings = ThresholdSettings(smoothing=kind, smooth_size=1.0, elongation=4, min_size=30,
                                 sigma=3.0 if kind == "median" else 4.0)
    result = Thresholder(image).threshold(settings)
    assert result.signal[84:97, 100:-100].mean() > 0.9  # the 8σ trace


def test_slider_moves_reuse_the_background_and_smoothing(monkeypatch):
    calls = {"fit": 0, "smooth": 0}
    real_fit, real_smooth = threshold_module.fit_background, threshold_module.smooth_residual

    def counting_fit(*args, **kwargs):
        calls["fit"] += 1
        return real_fit(*args, **kwargs)

    def counting_smooth(*args, **kwargs):
        calls["smooth"] += 1
        return real_smooth(*args, **kwargs)

    monkeypatch.setattr(threshold_module, "fit_background", counting_fit)
    monkeypatch.setattr(threshold_module, "smooth_residual", counting_smooth)
    image, _ = synthetic()
    th = Thresholder(image)
    base = ThresholdSettings()
    first = th.threshold(base)
    for change in ({"sigma": 4.0}, {"grow": 5}, {"min_size": 10}, {"low_sigma": 3.0}):
        th.threshold(base.replace(**change))
    assert calls == {"fit": 1, "smooth": 1}
    th.threshold(base.replace(smooth_size=1.5))
    assert calls == {"fit": 1, "smooth": 2}
    again = th.threshold(base)  # the previous smoothing is still cached
    assert calls["smooth"] == 2
    np.testing.assert_array_equal(again.light, first.light)
    # a higher threshold never adds light
    assert not (th.threshold(base.replace(sigma=6.0)).signal & ~first.signal).any()


def test_degenerate_thresholds_explain_themselves():
    image, _ = synthetic(seed=3)
    th = Thresholder(image)
    assert th.threshold().problem() is None
    nothing = th.threshold(ThresholdSettings(sigma=1e6))
    assert "nothing rises above" in nothing.problem()
    everything = th.threshold(ThresholdSettings(sigma=0.01, grow=400, bright_grow=400,
                                                min_size=1))
    assert "every usable pixel" in everything.problem()
    assert "grow 400, bright grow 400" in everything.problem()  # the values that did it


@pytest.mark.parametrize("image, message", [
    (np.full((64, 64), np.nan, np.float32), "no usable pixel"),
    (np.zeros((0, 5), np.float32), "2-D image"),
    (np.ones((3, 4, 5), np.float32), "2-D image"),
    (np.array([["a", "b"]]), "not count rates"),
])
def test_bad_images_are_refused(image, message):
    with pytest.raises(InputError, match=message):
        Thresholder(image)


def test_constant_image_has_no_noise():
    with pytest.raises(InputError, match="no measurable noise"):
        Thresholder(np.full((64, 64), 3.0, np.float32)).threshold()


def test_wrong_dq_shape():
    with pytest.raises(InputError, match="DQ shape"):
        Thresholder(np.zeros((8, 8), np.float32), np.zeros((4, 4), np.uint32))


@pytest.mark.parametrize("change", [
    {"sigma": 0}, {"smoothing": "box"}, {"smooth_size": -1}, {"elongation": 0.5},
    {"grow": -1}, {"grow": 1.5}, {"min_size": -3}, {"low_sigma": -1}, {"bright_sigma": 0},
])
def test_settings_are_validated(change):
    with pytest.raises(InputError):
        ThresholdSettings().replace(**change).validated()


def _slow_region_filter(mask, min_size):
    """Breadth-first flood fill with 8-connectivity: the obvious reference."""
    seen = np.zeros(mask.shape, bool)
    out = np.zeros(mask.shape, bool)
    for start in zip(*np.nonzero(mask), strict=True):
        if seen[start]:
            continue
        region, queue = [], deque([start])
        seen[start] = True
        while queue:
            y, x = queue.popleft()
            region.append((y, x))
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    v, u = y + dy, x + dx
                    if (0 <= v < mask.shape[0] and 0 <= u < mask.shape[1] and mask[v, u]
                            and not seen[v, u]):
                        seen[v, u] = True
                        queue.append((v, u))
        if len(region) >= min_size:
            for point in region:
                out[point] = True
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_small_regions_match_a_flood_fill(seed):
    mask = np.random.default_rng(seed).random((40, 50)) > 0.7
    for min_size in (1, 3, 8):
        kept, count = drop_small_regions(mask, min_size)
        np.testing.assert_array_equal(kept, _slow_region_filter(mask, min_size))
        assert count == ndimage.label(kept, np.ones((3, 3)))[1]


def test_dilate_matches_scipy_rectangle():
    mask = np.random.default_rng(4).random((30, 40)) > 0.97
    for rows, columns in ((0, 0), (1, 3), (2, 0), (4, 4)):
        footprint = np.ones((2 * rows + 1, 2 * columns + 1), bool)
        expected = ndimage.binary_dilation(mask, footprint)
        np.testing.assert_array_equal(dilate(mask, rows, columns), expected)


def test_dilate_beyond_the_image_size():
    mask = np.zeros((5, 7), bool)
    mask[2, 3] = True
    assert dilate(mask, 10, 10).all()
    assert not mask.all()  # the input is left alone


@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("combine", [np.logical_or, np.logical_and])
def test_spread_matches_a_window_loop(combine, backwards):
    values = np.random.default_rng(9).random((6, 40)) > 0.6
    for length in (1, 2, 5, 13, 64):
        expected = np.empty_like(values)
        for x in range(values.shape[1]):
            window = (values[:, x:x + length] if backwards
                      else values[:, max(x - length + 1, 0):x + 1])
            expected[:, x] = combine.reduce(window, axis=1)
        got = spread(values, length, combine, axis=1, backwards=backwards)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(spread(values.T, length, combine, axis=0,
                                             backwards=backwards), expected.T)


def test_limit_to_region_keeps_the_rest():
    new, current = np.ones((4, 4), bool), np.zeros((4, 4), bool)
    region = np.zeros((4, 4), bool)
    region[1:3, 1:3] = True
    np.testing.assert_array_equal(limit_to_region(new, current, region), region)
    np.testing.assert_array_equal(limit_to_region(new, current, None), new)


def test_robust_stats_ignore_a_bright_tail():
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.normal(1.0, 2.0, 200_000), rng.uniform(5, 50, 80_000)])
    centre, sigma = robust_stats(values, lower_half=True)
    assert abs(centre - 1.0) < 0.6 and abs(sigma - 2.0) < 0.15
    assert np.isnan(robust_stats(np.array([np.nan]))[0])


def test_column_levels_follow_each_readout_channel():
    rng = np.random.default_rng(6)
    offsets = rng.normal(0, 0.05, (2, 64))  # two channels of 512 rows
    image = np.repeat(offsets, 512, axis=0) + rng.normal(0, 0.01, (1024, 64))
    candidates = np.ones(image.shape, bool)
    candidates[100:300, 10] = False  # blocks of column 10 too covered: channel level
    candidates[600:1000, 20] = False  # channel too covered: whole-column level
    model = column_levels(image.astype(np.float32), candidates)
    truth = np.repeat(offsets, 512, axis=0)
    assert np.abs(np.delete(model - truth, 20, axis=1)).max() < 0.005
    assert np.abs(model[:512, 20] - truth[:512, 20]).max() < 0.005  # first channel is fine
    whole = np.median(image[candidates[:, 20], 20])
    assert np.abs(model[512:, 20] - whole).max() < 1e-6


def test_picture_frame_is_removed_but_a_trace_near_the_edge_is_not():
    rng = np.random.default_rng(7)
    ny, nx = 512, 512
    rows = np.arange(ny)[:, None]
    frame = 0.05 * np.exp(-rows / 20.0)  # bright offset along the first rows
    trace = np.zeros((ny, nx), np.float32)
    trace[60:75, 20:500] = 0.1  # a real trace just past the frame
    image = (frame + trace + rng.normal(0, WHITE, (ny, nx))).astype(np.float32)
    usable = np.ones(image.shape, bool)
    bg = fit_background(image, usable)
    assert abs(bg.residual[:20][:, :].mean()) < 0.003  # frame gone
    assert bg.residual[62:73, 30:490].mean() > 0.08  # trace kept
    _, extent = frame_levels(image, np.zeros_like(usable), usable)
    assert 50 <= extent[0] <= 60  # the band stops where the trace begins


def _edge_scene(seed, light):
    """A frame fading over 80 rows from the top edge, white noise, and ``light`` added."""
    rng = np.random.default_rng(seed)
    ny, nx = 512, 1024
    frame = (-0.05 * np.exp(-np.arange(ny) / 80.0))[:, None]
    image = (frame + light + rng.normal(0, WHITE, (ny, nx))).astype(np.float32)
    return image, np.broadcast_to(frame, (ny, nx))


def test_frame_fading_under_dense_faint_slits_is_followed():
    """MOS-like: slits with a faint plateau (0.75 σ per pixel) on 70 % of some rows near
    the edge. The frame must be followed there, not absorbed into the plateau's rows."""
    light = np.zeros((512, 1024), np.float32)
    for top in (14, 60, 110):
        light[top:top + 17, 100:820] = 0.0075  # faint slit illumination
        light[top + 7:top + 10, 100:820] = 0.3  # the bright trace inside it
    image, frame = _edge_scene(10, light)
    bg = fit_background(image, np.ones(image.shape, bool))
    dark = light == 0
    error = (bg.model - frame)[:200]
    for y in range(4, 200):  # the model follows the frame row by row on dark pixels
        assert abs(np.median(error[y][dark[y]])) < 0.003, y
    result = Thresholder(image).threshold()
    kept = result.background
    assert np.count_nonzero(kept & ~dark) / np.count_nonzero(kept) < 0.005


def test_light_bands_near_the_edge_are_not_taken_for_frame():
    """IFU-like: bands of light across 95 % of the width, 30 rows tall, inside the rows
    where the frame is looked for. Their level must stay in the residual."""
    light = np.zeros((512, 1024), np.float32)
    for top in (40, 100, 160, 220):
        light[top:top + 30, 20:1000] = 0.034
    image, frame = _edge_scene(11, light)
    bg = fit_background(image, np.ones(image.shape, bool))
    for top in (40, 100, 160, 220):
        assert bg.residual[top + 3:top + 27, 40:980].mean() > 0.03
    gap = slice(75, 95)  # dark rows between two bands still lose the frame
    assert abs(np.median(bg.model[gap, 40:980] - frame[gap, 40:980])) < 0.003
    result = Thresholder(image).threshold()
    assert result.signal[light > 0].mean() > 0.99


def test_full_frame_defaults_find_a_simulated_scene():
    """End to end on a simulated MOS exposure (window around the cruciform)."""
    from app.core.simulation.simulate import simulate_exposure

    sim = simulate_exposure("fs", "NRS1", seed=3, shape=(512, 1024))
    image, dq = sim.product.sci[0], sim.product.dq[0]
    result = Thresholder(image, dq).threshold()
    kept = result.background
    contamination = np.count_nonzero(kept & ~sim.ideal_mask) / np.count_nonzero(kept)
    completeness = np.count_nonzero(kept & sim.ideal_mask) / np.count_nonzero(sim.ideal_mask)
    assert contamination < 0.01 and completeness > 0.8


def test_row_gap_filling_is_a_closing_along_rows():
    mask = np.random.default_rng(8).random((20, 60)) > 0.8
    for gap in (0, 1, 4, 9):
        footprint = np.ones((1, gap + 1), bool)
        # scipy's closing treats the outside as True; pad with False to compare rows alone
        padded = np.pad(mask, ((0, 0), (gap + 1, gap + 1)))
        expected = ndimage.binary_closing(padded, footprint)[:, gap + 1:-gap - 1]
        np.testing.assert_array_equal(fill_row_gaps(mask, gap), expected | mask)
