"""The full-frame engine against a slow reference, simulated truth and symmetry."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.clean import CleanParams, clean
from app.core.errors import InputError, MaskError
from app.core.orientation import dms_to_detector
from tests.core import reference_nsclean as ref

N = 2048


def blobby_mask(rng: np.random.Generator, fraction_dark: float = 0.5) -> np.ndarray:
    """Background with rectangular 'traces' cut out: realistic, irregular coverage."""
    mask = np.ones((N, N), dtype=bool)
    while mask.mean() > fraction_dark:
        y, x = rng.integers(0, N, 2)
        h, w = rng.integers(3, 40), rng.integers(50, 1500)
        mask[y:y + h, x:x + w] = False
    return mask


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(42)
    image = rng.normal(0.0, 1.0, (N, N)).astype(np.float32)
    # a few cosmic rays, so that the outlier step matters
    image[rng.integers(0, N, 300), rng.integers(0, N, 300)] += 50.0
    # low-frequency banding along each DMS column (= detector line)
    y = np.arange(N)[:, None]
    for k in range(1, 6):
        phase = rng.uniform(0, 6, N)
        image += (rng.normal(0, 2, N)[None, :] * np.cos(2 * np.pi * k * y / N + phase)
                  ).astype(np.float32)
    return image, blobby_mask(rng), rng


@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
def test_unbuffed_model_matches_slow_reference(frame, detector):
    image, mask, rng = frame
    result = clean(image, mask, detector, buff=False, background="none")
    det_image = dms_to_detector(image, detector)
    det_mask = dms_to_detector(mask, detector).copy()
    det_mask[:4] = det_mask[-4:] = False
    det_mask[:, :4] = det_mask[:, -4:] = False
    det_model = dms_to_detector(result.model, detector)
    for line in rng.choice(np.arange(4, N - 4), 24, replace=False):
        expected = ref.fit_line(det_image[line], det_mask[line])
        scale = np.abs(expected).max()
        assert scale > 0
        np.testing.assert_allclose(det_model[line], expected, rtol=0, atol=1e-5 * scale)


def test_buffing_is_gaussian_smoothing_across_lines(frame):
    image, mask, _ = frame
    plain = clean(image, mask, "NRS1", buff=False, background="none")
    buffed = clean(image, mask, "NRS1", buff=True, buff_sigma=1.5, background="none")
    expected = ref.buff_lines(dms_to_detector(plain.model, "NRS1").astype(float), 1.5)
    got = dms_to_detector(buffed.model, "NRS1")
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * scale)


def _low_frequency_truth(rng, amplitude):
    y = np.arange(N)[:, None]
    truth = np.zeros((N, N))
    for k in range(0, 6):  # well below fc = 8 cycles per line, where the apodizer is 1
        truth += amplitude * rng.normal(0, 1.0, N)[None, :] * np.cos(
            2 * np.pi * k * y / N + rng.uniform(0, 6, N)[None, :])
    truth[:, :4] = truth[:, -4:] = 0  # reference lines carry no model
    return truth


def test_recovers_injected_low_frequencies():
    """Known truth: per-line low frequencies in white noise, whole lines of background."""
    rng = np.random.default_rng(7)
    truth = _low_frequency_truth(rng, 0.02)
    noise = rng.normal(0, 0.05, (N, N))
    result = clean((truth + noise).astype(np.float32), np.ones((N, N), bool), "NRS1",
                   buff=False, background="none")
    inner = (slice(4, N - 4), slice(4, N - 4))
    error = result.model[inner] - truth[inner]
    # ~11 real parameters per 2040-sample line: the noise-limited error is ~0.004
    assert np.sqrt(np.mean(error**2)) < 0.006
    assert np.sqrt(np.mean(error**2)) < 0.15 * truth[inner].std()


def test_gappy_lines_remove_most_of_the_banding():
    """With traces cut out of the lines, the published fit is approximate but effective."""
    rng = np.random.default_rng(8)
    truth = _low_frequency_truth(rng, 0.05)
    noise = rng.normal(0, 0.05, (N, N))
    mask = blobby_mask(rng, 0.6)
    result = clean((truth + noise).astype(np.float32), mask, "NRS1", buff=False,
                   background="none")
    inner = (slice(4, N - 4), slice(4, N - 4))
    error = result.model[inner] - truth[inner]
    assert np.sqrt(np.mean(error**2)) < 0.3 * truth[inner].std()


def test_nrs2_is_nrs1_with_lines_reversed(frame):
    image, mask, _ = frame
    a = clean(image, mask, "NRS2")
    b = clean(image[:, ::-1], mask[:, ::-1], "NRS1")
    np.testing.assert_allclose(a.cleaned, b.cleaned[:, ::-1], atol=1e-6)
    np.testing.assert_array_equal(a.diagnostics.samples_per_line, b.diagnostics.samples_per_line)


def test_known_dark_bands_are_lines_not_columns():
    """The doc's MOS strips, DMS rows 830-929, give every detector line 100 samples."""
    mask = np.zeros((N, N), dtype=bool)
    mask[830:930, 4:N - 4] = True
    image = np.random.default_rng(0).normal(size=(N, N)).astype(np.float32)
    for detector in ("NRS1", "NRS2"):
        diag = clean(image, mask, detector).diagnostics
        assert (diag.samples_per_line[4:N - 4] == 100).all()
        assert diag.unfit_lines.size == 0


def test_centred_and_legacy_kernels_differ_by_one_line(frame):
    image, mask, _ = frame
    centred = clean(image, mask, "NRS1", background="none")
    legacy = clean(image, mask, "NRS1", legacy_kernels=True, background="none")
    assert not np.allclose(centred.model, legacy.model, atol=1e-4)


def test_lines_without_background_are_reported_not_cleaned(frame):
    image, mask, _ = frame
    mask = mask.copy()
    mask[:, 100:110] = False  # DMS columns = detector lines 100..109 for NRS1
    mask[:, 200] = False
    mask[:5, 200] = True  # 5 samples: fewer than the 10 needed
    result = clean(image, mask, "NRS1")
    assert list(result.diagnostics.unfit_lines) == [*range(100, 110), 200]
    assert result.diagnostics.min_samples == 10
    # buffing spreads neighbours' models a little into unfit lines; without it they are zero
    plain = clean(image, mask, "NRS1", buff=False)
    assert np.all(plain.model[:, 100:110] == 0)


def test_nan_and_do_not_use_are_never_background(frame):
    image, mask, _ = frame
    bad = image.copy()
    dq = np.zeros(image.shape, dtype=np.uint32)
    bad[500:520, 600:700] = np.nan
    bad[900:905, 100:300] = 1e6  # huge values flagged DO_NOT_USE must be ignored
    dq[900:905, 100:300] = 1
    result = clean(bad, mask, "NRS1", dq=dq)
    masked = mask.copy()
    masked[500:520, 600:700] = False
    masked[900:905, 100:300] = False
    expected = clean(image, masked, "NRS1")
    np.testing.assert_allclose(result.model, expected.model, atol=1e-6)
    assert np.isnan(result.cleaned[500:520, 600:700]).all()
    assert np.isfinite(result.cleaned[900:905, 100:300]).all()


def test_background_level_is_restored(frame):
    image, mask, _ = frame
    offset = clean(image + np.float32(100.0), mask, "NRS1")
    plain = clean(image, mask, "NRS1")
    np.testing.assert_allclose(offset.cleaned - 100.0, plain.cleaned, atol=2e-4)
    assert offset.diagnostics.background_level == pytest.approx(
        plain.diagnostics.background_level + 100.0, abs=1e-3)


@pytest.mark.parametrize(
    ("image_shape", "mask_shape", "error", "text"),
    [
        ((N, N), (N, N - 1), MaskError, "does not match"),
        ((3, N, N), (N, N), InputError, "2-D"),
    ],
)
def test_bad_shapes(image_shape, mask_shape, error, text):
    with pytest.raises(error, match=text):
        clean(np.zeros(image_shape, np.float32), np.ones(mask_shape, bool), "NRS1")


def test_all_false_mask_and_bad_names():
    image = np.zeros((N, N), np.float32)
    with pytest.raises(MaskError, match="no usable background"):
        clean(image, np.zeros((N, N), bool), "NRS1")
    with pytest.raises(InputError, match="NRS1 or NRS2"):
        clean(image, np.ones((N, N), bool), "NRS3")
    with pytest.raises(InputError, match="method"):
        clean(image, np.ones((N, N), bool), "NRS1", method="magic")
    with pytest.raises(InputError, match="fc"):
        CleanParams(fc=0.6).validated()


@pytest.mark.parametrize("shape", [(2048, 13), (13, 8), (5, 3), (16, 2048)])
def test_cached_mask_comparison_of_any_width(shape):
    """Masks whose last axis is not a multiple of 8 bytes (2048×13 slices) compare right."""
    from app.core.engine.maskplan import same_mask

    rng = np.random.default_rng(3)
    a = rng.random(shape) < 0.5
    assert same_mask(a, a.copy())
    b = a.copy()
    b[-1, -1] = ~b[-1, -1]
    assert not same_mask(a, b)
    assert same_mask(a[:, ::2], a[:, ::2].copy())  # non-contiguous: the plain comparison


@pytest.mark.parametrize("legacy", [False, True])
def test_reused_and_updated_mask_plans_match_fresh_fits(frame, legacy):
    """A kept mask plan (inverted normal matrices, lines updated for new NaNs) fits like
    a plan built from scratch (solved)."""
    from app.core.engine.fourier import LineFitter
    from app.core.engine.fourier_basis import FitSettings

    image, mask, rng = frame
    usable = mask.copy()
    usable[:4] = usable[-4:] = False
    usable[:, :4] = usable[:, -4:] = False
    settings = FitSettings(legacy_kernels=legacy)
    kept = LineFitter((N, N), "NRS2", settings)
    kept.fit_frame(image, usable)  # builds the plan
    changed = usable.copy()
    changed[rng.integers(4, N - 4, 40), rng.integers(4, N - 4, 40)] = False  # new NaNs
    for new_usable in (usable, changed):  # reused as is, then updated line by line
        data = image + np.float32(0.5) * rng.normal(size=image.shape).astype(np.float32)
        got = kept.fit_frame(data, new_usable)
        expected = LineFitter((N, N), "NRS2", settings).fit_frame(data, new_usable)
        assert got.level == expected.level
        np.testing.assert_array_equal(got.counts, expected.counts)
        scale = np.abs(expected.coeffs).max()
        np.testing.assert_allclose(got.coeffs, expected.coeffs, rtol=0, atol=1e-7 * scale)


def test_lines_with_clustered_background_get_their_mean_level_only():
    # White noise (truth: no correlated noise at all) plus a known offset on two lines.
    # Lines 300 and 301 have background on one 300-pixel stretch only: the 9-term fit
    # is then free to swing across the remaining 1740 pixels, where spectra would be.
    rng = np.random.default_rng(7)
    image = rng.normal(0.0, 1.0, (N, N)).astype(np.float32)
    image[:, 300:302] += 5.0
    mask = np.ones((N, N), dtype=bool)
    mask[:, 300:302] = False
    mask[1000:1300, 300:302] = True
    legacy = clean(image, mask, "NRS1", buff=False, legacy_kernels=True)
    ours = clean(image, mask, "NRS1", buff=False)
    gap = np.r_[4:1000, 1300:N - 4]
    # the published fit: huge excursions in the gap (slow reference, same behaviour)
    expected = ref.fit_line(image[:, 300] - np.median(image[mask]), mask[:, 300])
    assert np.abs(expected[gap]).max() > 10
    assert np.abs(legacy.model[gap, 301] - legacy.diagnostics.background_level).max() > 10
    # ours: the line's mean level, reported
    assert set(ours.diagnostics.reduced_lines) == {300, 301}
    level = ours.diagnostics.background_level
    for column in (300, 301):
        removed = ours.model[:, column]
        assert np.ptp(removed[4:-4]) < 1e-6  # a constant
        assert abs(removed[500] - (5.0 - level)) < 0.3  # its offset, 5σ/√300 at most
    assert legacy.diagnostics.reduced_lines.size == 0
    # well-covered lines are not touched by the rule
    full = clean(image, np.ones((N, N), bool), "NRS1", buff=False)
    np.testing.assert_allclose(ours.model[:, 10:290] + level,
                               full.model[:, 10:290] + full.diagnostics.background_level,
                               atol=1e-4)


@pytest.mark.parametrize("ridge", [0.0, 10.0])
def test_real_fit_on_clustered_lines(ridge):
    rng = np.random.default_rng(8)
    image = rng.normal(0.0, 1.0, (N, N)).astype(np.float32)
    mask = np.ones((N, N), dtype=bool)
    mask[:, 300:302] = False
    mask[1000:1300, 300:302] = True
    result = clean(image, mask, "NRS1", buff=False, fit="real", ridge=ridge)
    gap = np.r_[4:1000, 1300:N - 4]
    swing = np.abs(result.model[gap, 300:302]).max()
    if ridge == 0:  # nothing keeps the 17-term series in check: mean level only
        assert set(result.diagnostics.reduced_lines) == {300, 301}
        assert swing < 0.3
    else:  # the 1/f prior keeps the fit bounded across the gap: fitted, not reduced
        assert result.diagnostics.reduced_lines.size == 0
        assert swing < 1.0
