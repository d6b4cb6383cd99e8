"""Stretches, limits, colour maps and the display model, checked against formulas/astropy."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.visualization import PercentileInterval, ZScaleInterval

from app.core.display.stretch import (
    COLORMAPS,
    LIMITS,
    LUT_SIZE,
    STRETCHES,
    DisplayModel,
    ImageStats,
    colormap_table,
    contrast_bias,
    contrast_bias_from_drag,
    stretch_curve,
)

X = np.linspace(0.0, 1.0, LUT_SIZE)

# Textbook definitions of each stretch, written out independently of astropy.
FORMULAS = {
    "linear": lambda x, a: x,
    "sqrt": lambda x, a: np.sqrt(x),
    "log": lambda x, a: np.log(a * x + 1) / np.log(a + 1),
    "asinh": lambda x, a: np.arcsinh(x / a) / np.arcsinh(1 / a),
    "power": lambda x, a: x**a,
}


@pytest.fixture
def image() -> np.ndarray:
    rng = np.random.default_rng(3)
    img = rng.normal(10.0, 2.0, (300, 200)).astype(np.float32)
    img[50:60, 20:180] += 400.0  # a bright trace, as in a spectrum
    img[::17, ::13] = np.nan
    return img


@pytest.mark.parametrize("name", sorted(FORMULAS))
@pytest.mark.parametrize("param", [None, 5.0])
def test_stretch_curve_matches_formula(name: str, param: float | None) -> None:
    a = STRETCHES[name][1] if param is None else param
    np.testing.assert_allclose(stretch_curve(name, param), FORMULAS[name](X, a), atol=1e-12)


def test_histeq_maps_data_through_its_cumulative_distribution() -> None:
    # v = u² with u uniform has CDF sqrt(v): equalising must give the sqrt curve
    u = np.random.default_rng(0).uniform(size=200_000)
    curve = stretch_curve("histeq", equalize_on=u**2)
    np.testing.assert_allclose(curve, np.sqrt(X), atol=0.01)


def test_histeq_without_data_is_linear() -> None:
    np.testing.assert_allclose(stretch_curve("histeq"), X)


def test_unknown_stretch_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown stretch"):
        stretch_curve("cubic")


def test_limits_match_astropy_on_the_finite_pixels(image: np.ndarray) -> None:
    stats = ImageStats(image)  # smaller than the sample cap: exact
    finite = image[np.isfinite(image)]
    assert stats.limits("minmax") == (float(finite.min()), float(finite.max()))
    np.testing.assert_allclose(stats.limits("zscale"), ZScaleInterval().get_limits(finite))
    for p in (99.5, 99.0, 98.0, 95.0, 90.0):
        np.testing.assert_allclose(
            stats.limits(f"{p:g}%"), PercentileInterval(p).get_limits(finite), rtol=1e-6
        )


def test_limits_of_a_large_image_use_a_faithful_sample() -> None:
    rng = np.random.default_rng(1)
    big = rng.normal(0.0, 1.0, (1024, 1500)).astype(np.float32)
    stats = ImageStats(big, max_sample=200_000)
    assert stats.sample.size <= 200_000
    for p in (99.5, 95.0):
        lo, hi = PercentileInterval(p).get_limits(big)
        np.testing.assert_allclose(stats.limits(f"{p:g}%"), (lo, hi), atol=0.03)
    assert stats.limits("minmax") == (float(big.min()), float(big.max()))


def test_constant_and_empty_images_still_get_a_range() -> None:
    lo, hi = ImageStats(np.full((8, 8), 3.0, np.float32)).limits("zscale")
    assert lo < 3.0 < hi
    assert ImageStats(np.full((8, 8), np.nan, np.float32)).limits("minmax")[1] > 0.0


def test_histogram_covers_the_bulk(image: np.ndarray) -> None:
    stats = ImageStats(image)
    assert stats.hist_counts.sum() > 0.99 * np.isfinite(image).sum()
    assert stats.hist_edges[0] >= np.nanmin(image)


def test_colormaps() -> None:
    for name in COLORMAPS:
        table = colormap_table(name)
        assert table.shape == (256, 3) and table.dtype == np.uint8
    gray = colormap_table("gray")
    np.testing.assert_array_equal(gray[:, 0], np.arange(256))
    heat = colormap_table("heat")  # DS9 heat: red saturates at 0.34, blue starts at 0.65
    assert heat[int(0.34 * 255) + 1, 0] == 255 and heat[int(0.65 * 255), 2] == 0
    with pytest.raises(ValueError):
        colormap_table("jet")


def test_nan_colour_stands_out_from_every_colour_of_its_map() -> None:
    model = DisplayModel()
    for name in COLORMAPS:
        model.update(colormap=name)
        distance = np.abs(colormap_table(name).astype(int) - model.nan_color).sum(axis=1)
        assert distance.min() > 60, name


def test_contrast_bias_is_ds9_formula() -> None:
    v = np.linspace(0, 1, 11)
    np.testing.assert_allclose(contrast_bias(v, 1.0, 0.5), v)
    np.testing.assert_allclose(contrast_bias(v, 2.0, 0.3), np.clip((v - 0.3) * 2 + 0.5, 0, 1))
    assert contrast_bias_from_drag(0.5, 0.5) == pytest.approx((1.0, 0.5))
    contrast, bias = contrast_bias_from_drag(0.2, 1.0)
    assert contrast == pytest.approx(10.0) and bias == pytest.approx(0.2)


def test_model_stretch_change_swaps_only_the_lut(image: np.ndarray) -> None:
    model = DisplayModel()
    events: list[frozenset[str]] = []
    model.set_stats(ImageStats(image))
    model.changed.connect(events.append)
    levels, lut = model.levels, model.lut
    assert lut.shape == (LUT_SIZE, 4) and lut.dtype == np.uint8
    model.update(stretch="log")
    assert events == [frozenset({"settings", "lut"})]
    assert model.levels == levels
    expected = np.round(FORMULAS["log"](X, 1000.0) * 255)
    np.testing.assert_array_equal(model.lut[:, 0], expected)
    assert not np.array_equal(model.lut, lut)


def test_model_limits_and_invert(image: np.ndarray) -> None:
    model = DisplayModel()
    model.set_stats(ImageStats(image))
    events: list[frozenset[str]] = []
    model.changed.connect(events.append)
    model.update(limits="minmax")
    assert model.levels == (float(np.nanmin(image)), float(np.nanmax(image)))
    assert events[-1] == frozenset({"settings", "levels"})
    model.update(invert=True)
    np.testing.assert_array_equal(model.lut[:, 0], np.round((1 - X) * 255))
    model.set_manual_levels(5.0, 1.0)  # reversed: still gives a usable range
    assert model.settings.limits == "manual" and model.levels[1] > model.levels[0]
    model.update(invert=True)  # no change, no event
    assert events[-1] == frozenset({"settings", "levels"})


def test_model_histeq_follows_levels(image: np.ndarray) -> None:
    model = DisplayModel()
    model.set_stats(ImageStats(image))
    model.update(stretch="histeq")
    events: list[frozenset[str]] = []
    model.changed.connect(events.append)
    model.update(limits="95%")
    assert events[-1] == frozenset({"settings", "levels", "lut"})


def test_model_rejects_unknown_names() -> None:
    model = DisplayModel()
    for key, value in (("stretch", "cubic"), ("limits", "42%"), ("colormap", "jet")):
        with pytest.raises(ValueError):
            model.update(**{key: value})
    assert set(LIMITS) >= {"minmax", "zscale", "99.5%", "90%", "manual"}
