"""The read-time fit (method "time"): against a slow per-line least-squares reference and
against simulated truth."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.clean import CleanParams, clean, reference_pixels
from app.core.engine.readtime import LineTiming, line_timing
from app.core.engine.time_fit import TimeFitSettings, TimeFitter
from app.core.errors import InputError
from app.core.simulation.metrics import residual_banding
from app.core.simulation.noise import NoiseModel
from app.core.simulation.simulate import simulate_exposure

ONLY = dict(common_1f=0.0, output_1f=0.0, acn_offset=0.0, acn_drift=0.0, picture_frame=0.0)


def reference_fit(data, usable, readpatt, settings):
    """One line at a time, written out: design matrix, weights, outliers, prior, solve."""
    timing = line_timing(2048, readpatt)
    n, nlines = data.shape
    period = settings.period(timing)
    k = np.arange(1, settings.harmonics + 1)
    own = np.arange(1, settings.output_terms + 1)
    t = timing.tick[:, None].astype(float)
    common = np.hstack([np.ones((n, 1)), np.cos(2 * np.pi * t * k / period),
                        np.sin(2 * np.pi * t * k / period)])
    prior = [0.0, *k, *k]
    blocks = [common]
    for a in range(4):
        on = (timing.output == a)[:, None]
        blocks.append(on * np.hstack([np.ones((n, 1)), np.cos(2 * np.pi * t * own / period),
                                      np.sin(2 * np.pi * t * own / period)]))
        prior += list(settings.output_ridge * np.array([1.0, *own, *own]))
    design = np.hstack(blocks)
    prior = settings.ridge * np.array(prior)
    # NSClean weights: 1 / (mask convolved along the line with a unit-area Gaussian)²
    offset = (np.arange(n) + n // 2) % n - n // 2
    sigma = max(settings.weight_sigma, 1e-3)
    kernel = np.exp(-0.5 * (offset / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    model = np.zeros((n, nlines))
    for line in range(nlines):
        m = usable[:, line]
        density = np.real(np.fft.ifft(np.fft.fft(m.astype(float)) * np.fft.fft(kernel)))
        w = np.where(m, 1.0 / density**2, 0.0) if settings.weight_sigma > 0 else m * 1.0
        d = data[:, line].astype(float)
        mu = np.median(d[m])
        sigma = 1.4826 * np.median(np.abs(d[m] - mu))
        d = np.where(np.abs(d - mu) <= settings.sigrej * sigma, d, mu)
        lhs = design[m].T @ (w[m, None] * design[m]) + np.diag(prior * w[m].mean())
        theta = np.linalg.solve(lhs, design[m].T @ (w[m] * d[m]))
        model[:, line] = design @ theta
    return model


@pytest.fixture(scope="module")
def narrow_frame():
    """16 full detector lines of IRS²-timed noise with spectra-like gaps in the mask."""
    sim = simulate_exposure("ifu", "NRS1", seed=3, shape=(2048, 16), readpatt="NRSIRS2")
    usable = sim.ideal_mask & np.isfinite(sim.product.sci[0])
    rng = np.random.default_rng(1)
    usable[rng.random(usable.shape) < 0.2] = False  # ragged gaps too
    data = sim.product.sci[0] - np.median(sim.product.sci[0][usable])
    data[5, 3] = 50.0  # an outlier on a background sample
    usable[5, 3] = True
    return data, usable


@pytest.mark.parametrize("readpatt", ["NRSIRS2", "NRSRAPID"])
@pytest.mark.parametrize(("output_terms", "weight_sigma"), [(0, 0.0), (2, 0.0), (2, 32.0)])
def test_matches_a_per_line_least_squares_reference(narrow_frame, readpatt, output_terms,
                                                    weight_sigma):
    data, usable = narrow_frame
    settings = TimeFitSettings(harmonics=8, output_terms=output_terms, ridge=2.0,
                               weight_sigma=weight_sigma)
    timing = line_timing(2048, readpatt)
    fitter = TimeFitter(data.shape, "NRS1", timing, settings)
    fit, reduced = fitter.fit(data, usable)
    assert fit.fitted.all() and not reduced.any()
    model = fitter.model(fit.theta)
    expected = reference_fit(data, usable, readpatt, settings)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(model, expected, atol=2e-4 * scale)
    # the same mask again (kept normal matrices) gives the same model for new data
    again = fitter.model(fitter.fit(2 * data, usable)[0].theta)
    np.testing.assert_allclose(again, 2 * model, rtol=1e-4, atol=1e-4 * scale)


def test_lines_whose_background_changed_are_rebuilt_alone(narrow_frame):
    """NaN moving between integrations: the kept equations are updated on those lines
    only, and the fit equals a fresh one (both before and after the inverse is kept)."""
    data, usable = narrow_frame
    settings = TimeFitSettings(harmonics=8, output_terms=2, ridge=2.0)
    timing = line_timing(2048, "NRSIRS2")
    for frames_before in (1, 2):  # the second frame with one mask keeps S⁻¹ as well
        kept = TimeFitter(data.shape, "NRS1", timing, settings)
        for _ in range(frames_before):
            kept.fit(data, usable)
        blocks = kept._mask[2]
        moved = usable.copy()
        moved[100:180, 4] = False
        moved[900:940, 11] = True
        got = kept.model(kept.fit(data, moved)[0].theta)
        assert kept._mask[2] is blocks  # updated in place, not rebuilt
        fresh = TimeFitter(data.shape, "NRS1", timing, settings)
        expected = fresh.model(fresh.fit(data, moved)[0].theta)
        np.testing.assert_allclose(got, expected, rtol=1e-4,
                                   atol=1e-5 * np.abs(expected).max())
        # and back: the lines changed again are right too
        back = kept.model(kept.fit(data, usable)[0].theta)
        first = TimeFitter(data.shape, "NRS1", timing, settings)
        np.testing.assert_allclose(back, first.model(first.fit(data, usable)[0].theta),
                                   rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_lines_with_few_samples_get_their_mean_only():
    # uniform values: none is beyond 3σ (MAD) of the median, so none is replaced
    data = np.random.default_rng(0).uniform(-1, 1, size=(2048, 8)).astype(np.float32)
    usable = np.zeros(data.shape, dtype=bool)
    usable[100:140, :4] = True  # 40 samples: enough for 16 harmonics (34 needed)
    usable[100:110, 4:7] = True  # 10 samples
    fitter = TimeFitter(data.shape, "NRS1", line_timing(2048),
                        TimeFitSettings(harmonics=16, weight_sigma=0.0))
    fit, reduced = fitter.fit(data, usable)
    assert fit.fitted.tolist() == [True] * 7 + [False]
    assert reduced.tolist() == [False] * 4 + [True] * 3 + [False]
    model = fitter.model(fit.theta)
    for line in (4, 5, 6):
        np.testing.assert_allclose(model[:, line], data[100:110, line].mean(), rtol=1e-5)
    assert not model[:, 7].any()


def _score(sim, cleaned, pixels):
    return residual_banding(cleaned, sim.expected_clean[0], sim.correlated_noise[0], pixels,
                            sim.detector)


@pytest.fixture(scope="module")
def common_noise_ifu():
    """A full-frame IFU exposure whose correlated noise is common to the four outputs."""
    model = NoiseModel(**{**ONLY, "common_1f": 0.015})
    return simulate_exposure("ifu", "NRS2", seed=5, noise_model=model)


def test_recovers_common_noise_under_the_traces(common_noise_ifu):
    sim = common_noise_ifu
    image, dq, mask = sim.product.sci[0], sim.product.dq[0], sim.ideal_mask
    science = ~mask & np.isfinite(image) & ~reference_pixels(mask.shape)
    readpatt = sim.product.primary_header["READPATT"]
    fft = clean(image, mask, "NRS2", dq=dq).cleaned
    time = clean(image, mask, "NRS2", "time", dq=dq, readpatt=readpatt)
    assert time.diagnostics.method == "time" and time.diagnostics.unfit_lines.size == 0
    for pixels in (mask, science):
        assert _score(sim, time.cleaned, pixels) < 0.5 * _score(sim, fft, pixels)
    # the same data fitted as if the four outputs were read in the same direction
    # (the timing the simulator used before it alternated them) does much worse
    y = np.arange(2048)
    right = line_timing(2048, readpatt)
    same = LineTiming(y // 512, right.tick[:512][y % 512], 4, right.span, right.line_ticks,
                      True)
    fitter = TimeFitter(image.shape, "NRS2", same, CleanParams().time_settings())
    usable = mask & np.isfinite(image)
    level = time.diagnostics.background_level
    wrong = image - fitter.model(fitter.fit(image - np.float32(level), usable)[0].theta)
    assert _score(sim, wrong, science) > 1.5 * _score(sim, time.cleaned, science)


def test_subarray_falls_back_to_the_fft_fit():
    sim = simulate_exposure("bots", "NRS1", seed=1)
    image, mask = sim.product.sci[0], sim.ideal_mask
    result = clean(image, mask, "NRS1", "time")
    expected = clean(image, mask, "NRS1", "fft")
    assert result.diagnostics.method == "fft-subarray"
    assert any("one output" in note for note in result.diagnostics.notes)
    np.testing.assert_array_equal(result.cleaned, expected.cleaned)


@pytest.mark.parametrize("field, value", [("harmonics", 0), ("harmonics", 2.5),
                                          ("output_terms", -1), ("output_terms", 40),
                                          ("time_ridge", 0.0), ("time_ridge", np.inf)])
def test_bad_time_parameters_are_refused(field, value):
    with pytest.raises(InputError, match=field):
        CleanParams(method="time", **{field: value}).validated()


def test_samples_read_at_one_tick_count_once():
    # 20 read steps seen by all four outputs: 80 samples but 20 ticks, fewer than the 34
    # a 16-harmonic series needs; 40 steps seen by one output each (10 per output, at
    # different steps) are 40 ticks: enough
    timing = line_timing(2048)
    usable = np.zeros((2048, 2), dtype=bool)
    for a in range(4):
        rows = timing.samples_at(a)
        usable[rows[100:120], 0] = True
        usable[rows[200 + 10 * a: 210 + 10 * a], 1] = True
    data = np.random.default_rng(2).uniform(-1, 1, usable.shape).astype(np.float32)
    fitter = TimeFitter(usable.shape, "NRS1", timing, TimeFitSettings(harmonics=16))
    _, reduced = fitter.fit(data, usable)
    assert reduced.tolist() == [True, False]


def test_coverage_counts_gaps_in_read_time():
    from app.core.mask.coverage import TIME_GAP_LIMIT, line_coverage

    timing = line_timing(2048)
    mask = np.zeros((2048, 2048), dtype=bool)
    mask[:, 100] = True  # all background
    for a in range(4):  # line 101: each output dark over a different quarter of its reads
        rows = timing.samples_at(a)
        mask[rows, 101] = True
        mask[rows[128 * a: 128 * (a + 1)], 101] = False
    mask[:, 102] = True
    for a in range(4):  # line 102: every output dark over reads 256-455
        mask[timing.samples_at(a)[256:456], 102] = False
    time = line_coverage(mask, "NRS1", params=CleanParams(method="time"))
    fft = line_coverage(mask, "NRS1")
    assert time.max_gap[100] == 0 and time.max_gap[101] == 0 and time.max_gap[102] == 200
    assert fft.max_gap[101] == 128  # in position: each output's dark quarter
    assert time.gap_limit == TIME_GAP_LIMIT < 200 and time.min_samples == 1
    assert time.sparse_lines.tolist() == [102]
