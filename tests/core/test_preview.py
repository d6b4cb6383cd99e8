"""The incremental preview cleaner against from-scratch cleaning with the same mask."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import app.core.display.curves as preview_curves_module
from app.core.clean import CleanParams, clean
from app.core.display.curves import (
    CurveBuilder,
    background_profile,
    format_runs,
    preview_curves,
    summary,
)
from app.core.engine.fourier import LineFitter
from app.core.engine.incremental import IncrementalCleaner, buff_reach
from app.core.errors import MaskError
from app.core.mask.paint import Box
from app.core.simulation.metrics import fast_axis_power_spectrum

N = 2048


@pytest.fixture(scope="module")
def scene():
    """Banded noise with a bright trace, a NaN, and a mask that avoids the trace."""
    rng = np.random.default_rng(7)
    image = rng.normal(0.3, 0.05, (N, N)).astype(np.float32)
    y = np.arange(N)[:, None] / N
    for k in (1, 3):
        image += (rng.normal(0, 0.02, N)[None, :]
                  * np.sin(2 * np.pi * (k * y + rng.uniform(0, 1, N)[None, :]))
                  ).astype(np.float32)
    image += rng.normal(0, 0.01, N)[None, :].astype(np.float32)  # per-line offsets
    image[900:1000, :] += 5.0
    image[rng.integers(0, N, 200), rng.integers(0, N, 200)] += 3.0  # outliers
    image[50, 60] = np.nan
    mask = np.ones((N, N), dtype=bool)
    mask[880:1020, :] = False
    return image, mask


def tolerance(image: np.ndarray) -> float:
    """A few float32 steps of the largest value: 'equal to float32 precision'."""
    return 4 * float(np.finfo(np.float32).eps) * float(np.nanmax(np.abs(image)))


def assert_matches_clean(result, image, mask, detector, params=None) -> None:
    reference = clean(image, mask, detector, (params or CleanParams()).method, params=params)
    tol = tolerance(image)
    np.testing.assert_allclose(result.cleaned, reference.cleaned, rtol=0, atol=tol)
    np.testing.assert_allclose(result.model, reference.model, rtol=0, atol=tol)
    np.testing.assert_array_equal(result.diagnostics.samples_per_line,
                                  reference.diagnostics.samples_per_line)
    np.testing.assert_array_equal(result.diagnostics.unfit_lines,
                                  reference.diagnostics.unfit_lines)
    np.testing.assert_array_equal(result.diagnostics.reduced_lines,
                                  reference.diagnostics.reduced_lines)
    assert result.diagnostics.background_level == reference.diagnostics.background_level


def changed_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    return np.flatnonzero(~same.all(axis=0))


def stroke(mask: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> Box:
    mask[y0:y1, x0:x1] = False
    return Box(y0, y1, x0, x1)


def test_strokes_refit_only_their_lines_and_equal_a_clean_from_scratch(
        scene, monkeypatch) -> None:
    image, mask0 = scene
    cleaner = IncrementalCleaner(image, "NRS2")
    first = cleaner.update(mask0)
    assert first.full
    solved: list[int] = []
    original = LineFitter.solve_reporting

    def spy(self, data, weights, columns):
        solved.append(len(columns))
        return original(self, data, weights, columns)

    monkeypatch.setattr(LineFitter, "solve_reporting", spy)
    mask = mask0.copy()
    # every other row of 40 lines: enough to move the background median, while the
    # lines keep samples all along (a fit over part of a line is ill-conditioned and
    # then agrees with a batch fit only to ~1e-5 relative)
    mask[::2, 300:340] = False
    result = cleaner.update(mask, Box(0, N, 290, 350))  # a loose box: only real changes count
    assert solved == [40] and not result.full
    np.testing.assert_array_equal(result.refit_columns, np.arange(300, 340))
    # lines far from the stroke are not refit: they move by the level change only
    assert result.level_shift != 0.0
    far = np.r_[40:250, 400:2000]
    diff = (result.cleaned - first.cleaned)[:, far].astype(np.float64)
    np.testing.assert_allclose(diff[np.isfinite(diff)], result.level_shift,
                               atol=tolerance(image))
    # two strokes of the same odd width (the fitter caches the last weights it computed),
    # then next to the reference border and across the circular seam of buffing
    for x0 in (800, 1200):
        result = cleaner.update(mask, stroke(mask, 300, 700, x0, x0 + 13))
        np.testing.assert_array_equal(result.refit_columns, np.arange(x0, x0 + 13))
    for x0 in (5, 2036):
        result = cleaner.update(mask, stroke(mask, 300, 700, x0, x0 + 12))
        np.testing.assert_array_equal(result.refit_columns, np.arange(x0, min(x0 + 12, N - 4)))
    assert_matches_clean(result, image, mask, "NRS2")
    np.testing.assert_array_equal(result.residual, image - result.cleaned)


def test_a_stroke_changes_exactly_the_touched_lines_and_buffing_reach(scene) -> None:
    image, mask0 = scene
    params = CleanParams(background="none", buff=False)  # no level, no neighbours
    cleaner = IncrementalCleaner(image, "NRS1", params)
    before = cleaner.update(mask0)
    mask = mask0.copy()
    after = cleaner.update(mask, stroke(mask, 1200, 1400, 700, 716))
    np.testing.assert_array_equal(changed_columns(before.cleaned, after.cleaned),
                                  np.arange(700, 716))
    params = replace(params, buff=True)
    before = cleaner.update(mask, params=params)
    after = cleaner.update(mask, stroke(mask, 100, 200, 1700, 1716))
    changed = changed_columns(before.cleaned, after.cleaned)
    reach = buff_reach(params)
    assert set(range(1700, 1716)) <= set(changed) <= set(range(1700 - reach, 1716 + reach))
    assert_matches_clean(after, image, mask, "NRS1", params)


def test_parameter_change_recomputes_from_scratch(scene) -> None:
    image, mask = scene
    cleaner = IncrementalCleaner(image, "NRS1")
    cleaner.update(mask)
    params = CleanParams(fc=1 / 128, buff_sigma=3.0, sigrej=2.5, weight_sigma=20.0)
    result = cleaner.update(mask, params=params)
    assert result.full and result.params == params
    assert_matches_clean(result, image, mask, "NRS1", params)
    same = cleaner.update(mask, params=params)  # nothing changed: nothing refit
    assert not same.full and same.refit_columns.size == 0
    assert same.cleaned is result.cleaned
    # the fit does not depend on buffing: new buffing settings only rebuild the model,
    # also together with a stroke
    for x0, changed in ((900, replace(params, buff_sigma=0.8)),
                        (950, replace(params, buff=False))):
        edited = mask.copy()
        result = cleaner.update(edited, stroke(edited, 100, 400, x0, x0 + 13), params=changed)
        assert not result.full and result.changed_columns is None
        np.testing.assert_array_equal(result.refit_columns, np.arange(x0, x0 + 13))
        assert_matches_clean(result, image, edited, "NRS1", changed)
        mask = edited


def test_median_and_legacy_recompute_fully_and_match(scene) -> None:
    image, mask0 = scene
    mask = mask0.copy()
    cleaner = IncrementalCleaner(image, "NRS1")
    for params in (CleanParams(method="median"), CleanParams(legacy_kernels=True)):
        cleaner.update(mask, params=params)
        result = cleaner.update(mask, stroke(mask, 10, 500, 40, 60))
        assert result.full
        assert_matches_clean(result, image, mask, "NRS1", params)


def test_subarray_recomputes_fully_and_matches() -> None:
    rng = np.random.default_rng(3)
    image = rng.normal(0.0, 1.0, (16, 300)).astype(np.float32)
    mask = np.ones(image.shape, dtype=bool)
    mask[6:9, :] = False
    cleaner = IncrementalCleaner(image, "NRS1")
    cleaner.update(mask)
    result = cleaner.update(mask, stroke(mask, 0, 5, 100, 200))
    assert result.full and result.diagnostics.method == "fft-subarray"
    assert_matches_clean(result, image, mask, "NRS1")


def test_lines_with_clustered_background_are_reported_incrementally(scene) -> None:
    image, mask0 = scene
    cleaner = IncrementalCleaner(image, "NRS1")
    assert cleaner.update(mask0).diagnostics.reduced_lines.size == 0
    mask = mask0.copy()
    mask[:, 700:706] = False
    mask[1200:1500, 700:706] = True  # one 300-pixel stretch: mean level only
    result = cleaner.update(mask, Box(0, N, 700, 706))
    assert not result.full
    np.testing.assert_array_equal(result.diagnostics.reduced_lines, np.arange(700, 706))
    assert_matches_clean(result, image, mask, "NRS1")
    mask[:, 700:706] = mask0[:, 700:706]  # painted back: reported no more
    result = cleaner.update(mask, Box(0, N, 700, 706))
    assert result.diagnostics.reduced_lines.size == 0
    assert_matches_clean(result, image, mask, "NRS1")


def test_lines_without_background_are_reported_and_an_empty_mask_keeps_the_state(
        scene) -> None:
    image, mask0 = scene
    cleaner = IncrementalCleaner(image, "NRS1")
    cleaner.update(mask0)
    mask = mask0.copy()
    mask[:, 1500:1510] = False
    mask[:2040, 1510] = False  # 4 samples left, fewer than the fit needs
    result = cleaner.update(mask, Box(0, N, 1500, 1511))
    np.testing.assert_array_equal(result.diagnostics.unfit_lines, np.arange(1500, 1511))
    assert (result.diagnostics.samples_per_line[1500:1511] <= 4).all()
    # unfit lines have no model of their own: only what buffing brings from neighbours
    assert np.abs(result.model[:, 1505]).max() < 0.01 * np.abs(result.model).max()
    with pytest.raises(MaskError, match="no usable background"):
        cleaner.update(np.zeros_like(mask))
    assert cleaner.result is result
    later = cleaner.update(mask, stroke(mask, 10, 20, 30, 40))
    assert not later.full
    assert_matches_clean(later, image, mask, "NRS1")


def test_results_name_their_base(scene) -> None:
    image, mask0 = scene
    mask = mask0.copy()
    cleaner = IncrementalCleaner(image, "NRS1")
    first = cleaner.update(mask)
    second = cleaner.update(mask, stroke(mask, 10, 500, 40, 60))
    assert (first.base, second.base) == (-1, first.serial) and second.serial > first.serial
    cleaner.update(mask, params=CleanParams(fit="real"))  # new parameters: from scratch
    assert cleaner.result is not None and cleaner.result.base == -1


#: Parameter sets the tuner can choose (tuning.tune.TuneSettings): the real fit with and
#: without its 1/f prior, high fc, own kw, no buffing, other weight σ / sigrej / buffing σ.
TUNED = (
    CleanParams(fit="real"),
    CleanParams(fit="real", ridge=10.0, fc=1 / 48, buff=False),
    CleanParams(fit="real", ridge=3.0, fc=1 / 96, kw=1 / 192, weight_sigma=16.0, sigrej=2.5,
                buff_sigma=3.0),
    CleanParams(fit="real", ridge=100.0, fc=1 / 32, kw=1 / 64, buff_sigma=0.5),
    CleanParams(fc=1 / 64, kw=1 / 128, weight_sigma=64.0, buff=False),
)


@pytest.mark.parametrize("params", TUNED, ids=lambda p: f"{p.fit}-r{p.ridge:g}-fc{p.fc:.3g}")
def test_tuned_parameters_refit_incrementally_and_equal_a_clean_from_scratch(
        scene, params) -> None:
    image, mask0 = scene
    mask = mask0.copy()
    cleaner = IncrementalCleaner(image, "NRS2", params)
    first = cleaner.update(mask)
    assert first.full
    for x0 in (300, 1201, 2036):  # the last one next to the border and buffing's seam
        result = cleaner.update(mask, stroke(mask, 300, 700, x0, x0 + 12))
        assert not result.full
        np.testing.assert_array_equal(result.refit_columns,
                                      np.arange(x0, min(x0 + 12, N - 4)))
    assert result.level_shift != 0.0
    assert_matches_clean(result, image, mask, "NRS2", params)
    # a stroke that leaves a line a single 300-pixel stretch: reported (or, with the
    # prior, fitted) as clean() does
    mask[:, 700:704] = False
    mask[1200:1500, 700:704] = True
    result = cleaner.update(mask, Box(0, N, 700, 704))
    assert not result.full
    assert_matches_clean(result, image, mask, "NRS2", params)


def assert_spectra_match_the_metric(curves, result) -> None:
    for data, power in ((result.image, curves.spectrum_before),
                        (result.cleaned, curves.spectrum_after)):
        reference = fast_axis_power_spectrum(data, result.usable, result.detector)
        np.testing.assert_allclose(curves.frequency_hz, reference.frequency_hz)
        np.testing.assert_allclose(power, reference.power, rtol=0,
                                   atol=1e-5 * reference.power.max())


def test_curve_builder_refits_only_changed_lines_and_matches_the_metric(
        scene, monkeypatch) -> None:
    image, mask0 = scene
    mask = mask0.copy()
    recomputed: list[int] = []
    original = preview_curves_module.line_periodograms

    def spy(data, usable, columns):
        recomputed.append(len(columns))
        return original(data, usable, columns)

    monkeypatch.setattr(preview_curves_module, "line_periodograms", spy)
    cleaner, builder = IncrementalCleaner(image, "NRS2"), CurveBuilder()

    def step(result, spectrum=True):
        recomputed.clear()
        curves = builder.curves(result, "rows", spectrum)
        if spectrum:
            assert_spectra_match_the_metric(curves, result)
        return sum(recomputed)

    assert step(cleaner.update(mask)) == 2 * N
    reach = buff_reach(cleaner.result.params)
    # before: the 12 lines whose background changed; after: those and the buffing reach
    assert 24 <= step(cleaner.update(mask, stroke(mask, 300, 700, 500, 512))) <= 24 + 2 * reach
    assert step(cleaner.update(mask, params=CleanParams(weight_sigma=20.0))) == N
    assert step(cleaner.update(mask, params=CleanParams(weight_sigma=20.0, buff_sigma=2.0))) == N
    assert step(cleaner.update(mask, stroke(mask, 0, 50, 1000, 1010)), spectrum=False) == 0
    skipped = cleaner.update(mask, stroke(mask, 0, 50, 1020, 1030))  # never plotted
    # its predecessor was not plotted: "after" is recomputed whole, "before" by lines
    assert step(skipped) == N + 20
    # a job stopped half-way keeps the lines of the last completed one
    partial = builder.iter_curves(cleaner.update(mask, params=CleanParams(fc=1 / 128)))
    next(partial), next(partial), next(partial)
    partial.close()
    assert step(cleaner.result) == N


def test_background_profile_matches_a_loop() -> None:
    rng = np.random.default_rng(5)
    image = rng.normal(size=(30, 20)).astype(np.float32)
    image[3, 4] = np.nan
    usable = rng.random((30, 20)) > 0.4
    usable[7] = False
    rows = background_profile(image, usable, "rows")
    cols = background_profile(image, usable, "columns")
    for y in range(30):
        values = [image[y, x] for x in range(20) if usable[y, x] and np.isfinite(image[y, x])]
        assert (np.isnan(rows[y]) if not values else rows[y] == pytest.approx(np.mean(values)))
    for x in range(20):
        values = [image[y, x] for y in range(30) if usable[y, x] and np.isfinite(image[y, x])]
        assert cols[x] == pytest.approx(np.mean(values))


def test_curves_show_less_banding_after_cleaning(scene) -> None:
    image, mask = scene
    # the synthetic offsets are independent per line, which buffing would smooth away
    result = IncrementalCleaner(image, "NRS1", CleanParams(buff=False)).update(mask)
    curves = preview_curves(result, axis="columns")
    assert np.nanstd(curves.profile_after) < 0.5 * np.nanstd(curves.profile_before)
    low = curves.frequency_hz < 500  # the banding lives at the lowest frequencies
    assert curves.spectrum_after[low].mean() < 0.5 * curves.spectrum_before[low].mean()


def test_status_text_names_the_unfit_lines() -> None:
    assert format_runs(np.array([9, 3, 4, 5, 12, 13])) == "3–5, 9, 12–13"
    assert format_runs(np.arange(0, 40, 2), limit=3) == "0, 2, 4, …"
    rng = np.random.default_rng(2)
    image = rng.normal(size=(16, 300)).astype(np.float32)
    mask = np.ones(image.shape, dtype=bool)
    mask[:, 100:103] = False
    result = IncrementalCleaner(image, "NRS2", CleanParams(method="median")).update(mask)
    text, problem = summary(result)
    assert problem
    # NRS2 reverses the order of the lines: DMS column x is line 299 - x
    assert "3 detector line(s)" in text and "lines 197–199 (DMS columns 100–102)" in text


def test_status_text_names_the_lines_fitted_by_their_mean(scene) -> None:
    image, mask0 = scene
    mask = mask0.copy()
    mask[:, 700:703] = False
    mask[1200:1500, 700:703] = True
    result = IncrementalCleaner(image, "NRS1").update(mask)
    text, problem = summary(result)
    assert problem and "3 detector line(s)" in text and "mean level" in text
    assert "lines 700–702" in text


def test_profile_range_shows_the_banding_not_the_spikes() -> None:
    from app.core.display.curves import profile_range

    rows = np.arange(2048)
    banding = 0.01 * np.sin(rows / 40.0)
    spiky = banding.copy()
    spiky[[300, 1450, 1460, 1480]] = [0.3, 0.2, 0.33, -0.25]  # cosmic rays, hot pixels
    spiky[:4] = np.nan  # reference rows
    low, high = profile_range(spiky, banding * 0.5)
    assert -0.02 < low < -0.0099 and 0.0099 < high < 0.02  # all the banding, no spike
    assert profile_range(np.full(5, np.nan)) is None
    flat_low, flat_high = profile_range(np.full(10, 2.0))
    assert flat_low < 2.0 < flat_high
