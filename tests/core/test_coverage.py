"""Coverage diagnostic: per-line counts and spread against slow references and the engine."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.clean import clean
from app.core.errors import InputError, MaskError
from app.core.mask.coverage import format_ranges, line_coverage, longest_false_run, min_samples


def _slow_longest_false_run(column: np.ndarray) -> int:
    best = run = 0
    for value in column:
        run = 0 if value else run + 1
        best = max(best, run)
    return best


def test_counts_gaps_and_segments_match_a_loop():
    rng = np.random.default_rng(0)
    mask = rng.random((64, 40)) > 0.7  # a subarray-sized window: every row is fitted
    mask[:, 5] = False
    mask[10:50, 7] = False
    cov = line_coverage(mask, "NRS1")
    for x in range(mask.shape[1]):
        column = mask[:, x]
        assert cov.samples[x] == np.count_nonzero(column)
        assert cov.max_gap[x] == _slow_longest_false_run(column)
        for k, part in enumerate(np.array_split(column, cov.segments.shape[1])):
            assert cov.segments[x, k] == pytest.approx(part.mean())
    assert cov.max_gap[5] == 64
    assert cov.min_samples == 1  # not a full frame: the subarray fit needs one sample
    # but it fits windows of neighbouring lines: line 5, between lines with samples, is
    # cleaned (as the engine reports)
    assert cov.unfit_lines.size == 0
    image = rng.normal(size=mask.shape).astype(np.float32)
    assert clean(image, mask, "NRS1").diagnostics.unfit_lines.size == 0


def test_longest_run_of_an_empty_column_set():
    assert longest_false_run(np.zeros((0, 3), bool)).tolist() == [0, 0, 0]


def test_nrs2_lines_run_the_other_way():
    mask = np.ones((32, 20), bool)
    mask[:, :4] = False  # DMS columns 0-3 = detector lines 16-19 of NRS2, past the last
    cov = line_coverage(mask, "NRS2")  # line with samples: no fit window reaches them
    np.testing.assert_array_equal(cov.unfit_lines, [16, 17, 18, 19])
    np.testing.assert_array_equal(cov.columns(cov.unfit_lines), [3, 2, 1, 0])
    np.testing.assert_array_equal(line_coverage(mask, "nrs1").unfit_lines, [0, 1, 2, 3])


@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
def test_full_frame_agrees_with_the_engine_diagnostics(detector):
    """The lines reported unfit are exactly those clean() leaves unfit."""
    rng = np.random.default_rng(1)
    image = rng.normal(0, 0.01, (2048, 2048)).astype(np.float32)
    mask = np.zeros(image.shape, bool)
    mask[100:1900:3] = True  # plenty of samples on every line
    mask[:, 300:310] = False
    mask[50:55, 300:310] = True  # 5 samples: too few
    mask[:, 700:702] = False
    mask[100:112, 701] = True  # 12 samples: enough, but a gap of 1932 rows
    image[1000:1900, 702] = np.nan  # NaN samples do not count
    dq = np.zeros(image.shape, np.uint32)
    dq[100:1000, 702] = 1  # neither do DO_NOT_USE ones
    cov = line_coverage(mask, detector, image=image, dq=dq)
    diag = clean(image, mask, detector, dq=dq).diagnostics
    assert cov.min_samples == diag.min_samples
    np.testing.assert_array_equal(cov.unfit_lines, diag.unfit_lines)
    np.testing.assert_array_equal(cov.samples[cov.fitted], diag.samples_per_line[cov.fitted])
    columns = set(cov.columns(cov.unfit_lines).tolist())
    assert columns == set(range(300, 310)) | {700, 702}
    assert 701 in cov.columns(cov.sparse_lines)
    # "too clustered" is the fit in use's own verdict: the lines it fits by their mean
    np.testing.assert_array_equal(cov.sparse_lines, diag.reduced_lines)
    assert not cov.fitted[:4].any() and not cov.fitted[-4:].any()
    text = cov.summary()
    assert "12 lines cannot be fit" in text and "too clustered for the fit in use" in text
    assert "criterion: complex fit: lines whose normal matrix has a condition number" in text
    # the published fit is judged apart: it is unstable on the clustered line 701 too
    assert 701 in cov.columns(cov.published_unstable_lines)
    assert "published fit (jwst NSClean, NSClean 1.x)" in text


def test_the_criterion_follows_the_fit_in_use():
    """With the real fit's 1/f prior a clustered line stays a full fit: not listed."""
    from app.core.clean import CleanParams

    mask = np.zeros((2048, 2048), bool)
    mask[100:1900:3] = True
    mask[:, 701] = False
    mask[100:160, 701] = True  # 20 samples in one short stretch
    image = np.zeros(mask.shape, np.float32)
    plain = line_coverage(mask, "NRS1", image=image)
    assert 701 in plain.columns(plain.sparse_lines)
    ridge = CleanParams(fit="real", ridge=10.0)
    prior = line_coverage(mask, "NRS1", image=image, params=ridge)
    assert prior.sparse_lines.size == 0
    assert clean(image, mask, "NRS1", params=ridge).diagnostics.reduced_lines.size == 0
    assert "1/f prior (ridge 10)" in prior.summary()
    # the published fit has no prior: the line stays unstable there whatever we use
    assert 701 in prior.columns(prior.published_unstable_lines)


def test_min_samples_follows_the_method():
    from app.core.clean import CleanParams

    assert min_samples((2048, 2048), "NRS1", CleanParams(method="median")) == 1
    assert min_samples((2048, 2048), "NRS1") > 2


def test_format_ranges():
    assert format_ranges(np.array([1, 2, 3, 7, 9, 10])) == "1-3, 7, 9-10"
    assert format_ranges(np.array([], int)) == ""
    assert format_ranges(np.arange(0, 40, 2), max_ranges=3) == "0, 2, 4 ..."


def test_well_covered_mask_says_so():
    cov = line_coverage(np.ones((16, 16), bool), "NRS1")
    assert "every line has enough" in cov.summary()


@pytest.mark.parametrize("args, error, message", [
    ((np.ones(5, bool), "NRS1"), MaskError, "2-D"),
    ((np.ones((4, 4), bool), "NRS3"), InputError, "NRS1 or NRS2"),
])
def test_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        line_coverage(*args)


def test_mask_image_mismatch():
    with pytest.raises(MaskError, match="does not match"):
        line_coverage(np.ones((4, 4), bool), "NRS1", image=np.zeros((5, 4)))


@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
def test_subarray_agrees_with_the_engine_diagnostics(detector):
    """A subarray line without samples between lines with samples is still cleaned (the
    subarray fit shares windows of lines); lines outside every window are not."""
    rng = np.random.default_rng(2)
    image = rng.normal(0, 0.01, (32, 2048)).astype(np.float32)
    mask = np.ones(image.shape, bool)
    mask[:, 1000:1003] = False  # inside the windows: cleaned all the same
    mask[:, 1900:] = False  # past the last line with samples (NRS1) / before the first
    cov = line_coverage(mask, detector, image=image)
    result = clean(image, mask, detector)
    np.testing.assert_array_equal(cov.unfit_lines, result.diagnostics.unfit_lines)
    assert not np.isin(cov.columns(cov.unfit_lines), [1000, 1001, 1002]).any()
    assert np.abs(result.model[:, 1000:1003]).max() > 0  # the engine did model them
    assert set(cov.columns(cov.unfit_lines).tolist()) == set(range(1900, 2044))
    assert "needs at least 1 samples" not in cov.summary()
