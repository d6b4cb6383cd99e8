"""Auto-tune: the cross-validated score against a slow reference, and choices on known truth."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from app.core.clean import CleanParams, clean, usable_background
from app.core.errors import InputError
from app.core.tuning.cv import CrossValidation, NotEnoughBackground, Score
from app.core.tuning.tune import Stage, TuneSettings, _stage, iter_tune, tune
from tests.core import reference_nsclean as ref

N = 2048
#: Small grids and every 8th run of lines: each tune takes about a second.
QUICK = TuneSettings(line_stride=8, folds=1, fc_grid=(1 / 256, 1 / 128, 1 / 64),
                     kw_ratios=(0.25,), buff_sigmas=(0.0, 1.5), weight_sigmas=(32.0,),
                     sigrejs=(3.0,), ridges=(0.0, 3.0, 30.0), fits=("real",))


def gappy_mask(rng: np.random.Generator, coverage: float = 0.6) -> np.ndarray:
    mask = np.ones((N, N), dtype=bool)
    while mask.mean() > coverage:
        y, x = rng.integers(0, N, 2)
        mask[y:y + rng.integers(5, 50), x:x + rng.integers(50, 1500)] = False
    return mask


def circular_density(mask_line: np.ndarray, sigma: float, reach: int = 400) -> np.ndarray:
    """The mask convolved with a unit-area Gaussian on the circle (direct sum)."""
    kernel = ref.gaussian(np.arange(-reach, reach + 1), sigma)
    padded = np.concatenate([mask_line[-reach:], mask_line, mask_line[:reach]]).astype(float)
    return np.convolve(padded, kernel, mode="valid")


def banding(rng: np.random.Generator, kmax: int, amplitude: float, common: bool = False
            ) -> np.ndarray:
    """Smooth signals along DMS columns (detector lines): random cosines and sines of
    1 … kmax cycles per line (σ ∝ 1/√k), independent per line or shared by all lines."""
    width = 1 if common else N
    spectrum = np.zeros((N // 2 + 1, width), dtype=complex)
    k = np.arange(1, kmax + 1)[:, None]
    spectrum[1:kmax + 1] = (rng.normal(0, 1, (kmax, width)) + 1j * rng.normal(0, 1, (kmax, width))
                            ) * amplitude / np.sqrt(k) * N / 2
    out = np.fft.irfft(spectrum, n=N, axis=0).astype(np.float32)
    return np.broadcast_to(out, (N, N))


@pytest.fixture(scope="module")
def wide_band():
    """White noise plus independent banding up to 24 cycles per line (fc 1/85)."""
    rng = np.random.default_rng(11)
    truth = banding(rng, 24, 1.0)
    image = (truth + rng.normal(0, 1, (N, N))).astype(np.float32)
    return image, gappy_mask(rng), truth


def truth_residual(image: np.ndarray, mask: np.ndarray, truth: np.ndarray,
                   params: CleanParams) -> float:
    """RMS of (removed model − injected banding) over the background, border excluded."""
    cleaned = clean(image, mask, "NRS1", params=params).cleaned
    inside = mask.copy()
    inside[:4] = inside[-4:] = False
    inside[:, :4] = inside[:, -4:] = False
    return float(np.sqrt(np.mean(((image - cleaned) - truth)[inside] ** 2)))


def test_score_is_the_held_out_error_of_a_slow_reference_fit(wide_band):
    image, mask, _ = wide_band
    settings = replace(QUICK, score="mse", line_stride=32)
    usable = usable_background(image, mask)
    cv = CrossValidation(image, usable, "NRS1", settings, CleanParams())
    params = CleanParams(fit="real", buff=False, fc=1 / 128)
    fold = cv.folds[0]
    a = ref.apodizer(params.fc, params.kill_width, N)
    nvec = int(np.count_nonzero(a > 0))
    rows = np.arange(N)
    phase = 2 * np.pi * np.outer(rows, np.arange(nvec)) / N
    basis = np.hstack([np.cos(phase), np.sin(phase[:, 1:])])
    taper = np.concatenate([a[:nvec], a[1:nvec]])
    reference = np.zeros(2)
    for j in range(2 * settings.block_lines):  # the first two units (groups of lines)
        train, scored = fold.train[:, j], fold.scored[:, j]
        line = cv.lines[j]
        if np.count_nonzero(train) <= 2 * nvec - 1:  # reference pixels: not fit, not scored
            assert not scored.any()
            continue
        # the engine's weights of the whole background, zero on the held-out samples
        p = 1.0 / circular_density(usable[:, line], params.weight_sigma)[train]
        d = image[train, line].astype(np.float64)
        mu = np.median(d)
        sigma = 1.4826 * np.median(np.abs(d - mu))
        d = np.where(np.abs(d - mu) <= params.sigrej * sigma, d, mu)
        theta = np.linalg.lstsq(basis[train] * p[:, None], d * p, rcond=None)[0]
        model = basis @ (theta * taper)
        reference[j // settings.block_lines] += np.sum((image[scored, line] - model[scored]) ** 2)
    score = cv.score(params)
    np.testing.assert_allclose(score.unit_sse[0, :2], reference, rtol=1e-5)
    assert score.mean == pytest.approx(score.unit_sse.sum() / cv.scored_samples)


def test_banding_score_equals_mse_for_one_sample_blocks(wide_band):
    image, mask, _ = wide_band
    usable = usable_background(image, mask)
    params = CleanParams(fit="real", buff=False)
    one = replace(QUICK, block_rows=1)
    mse = CrossValidation(image, usable, "NRS1", replace(one, score="mse"), params)
    band = CrossValidation(image, usable, "NRS1", replace(one, score="banding"), params)
    assert band.score(params).mean == pytest.approx(mse.score(params).mean, rel=1e-9)


def test_tuning_finds_the_bandwidth_of_the_noise_and_beats_the_defaults(wide_band):
    image, mask, truth = wide_band
    result = tune(image, mask, "NRS1", settings=QUICK)
    assert result.best.fc == pytest.approx(1 / 64)  # the only one that covers k = 24
    assert not result.best.buff  # independent lines: smoothing across them only hurts
    assert result.best_score.mean < result.start_score.mean
    residual = [truth_residual(image, mask, truth, p) for p in (result.best, CleanParams())]
    assert residual[0] < 0.7 * residual[1]


def test_cv_ranks_candidates_like_the_truth(wide_band):
    """The setting with the lowest true residual has the lowest cross-validated score."""
    image, mask, truth = wide_band
    candidates = [CleanParams(fit="real", ridge=3.0, buff=False, fc=1 / 256),
                  CleanParams(fit="real", ridge=3.0, buff=True, buff_sigma=3.0, fc=1 / 64),
                  CleanParams(fit="real", ridge=3.0, buff=False, fc=1 / 64),
                  CleanParams(fit="complex", buff=True)]
    cv = CrossValidation(image, usable_background(image, mask), "NRS1", QUICK, CleanParams())
    scores = [cv.score(p).mean for p in candidates]
    residuals = [truth_residual(image, mask, truth, p) for p in candidates]
    assert int(np.argmin(scores)) == int(np.argmin(residuals)) == 2
    assert sorted(range(4), key=scores.__getitem__) == sorted(range(4),
                                                             key=residuals.__getitem__)


def test_buffing_is_chosen_when_all_lines_share_the_noise():
    rng = np.random.default_rng(12)
    truth = banding(rng, 6, 1.0, common=True)
    image = (truth + rng.normal(0, 1, (N, N))).astype(np.float32)
    settings = replace(QUICK, fc_grid=(1 / 256,), ridges=(0.0,),
                       buff_sigmas=(0.0, 1.5, 3.0))
    result = tune(image, gappy_mask(rng), "NRS1", settings=settings)
    assert result.best.buff and result.best.buff_sigma >= 1.5


def test_outliers_in_held_out_samples_do_not_decide(wide_band):
    image, mask, _ = wide_band
    rng = np.random.default_rng(3)
    hit = image.copy()
    ys, xs = rng.integers(0, N, 4000), rng.integers(0, N, 4000)
    hit[ys, xs] += 1e4  # cosmic rays
    params = CleanParams(fit="real", buff=False, fc=1 / 64, ridge=3.0)
    scores = [CrossValidation(frame, usable_background(frame, mask), "NRS1", QUICK,
                              params).score(params).mean for frame in (image, hit)]
    assert scores[1] == pytest.approx(scores[0], rel=0.05)


def test_too_little_background_keeps_the_start():
    rng = np.random.default_rng(4)
    image = rng.normal(0, 1, (N, N)).astype(np.float32)
    mask = np.zeros((N, N), dtype=bool)
    mask[:, 100:108] = True  # 8 lines of background
    with pytest.raises(NotEnoughBackground, match="too little background") as info:
        tune(image, mask, "NRS1", settings=QUICK)
    assert isinstance(info.value, InputError)
    assert "8 detector lines" in str(info.value)  # says why, not what the caller does
    with pytest.raises(NotEnoughBackground):
        tune(image, np.zeros((N, N), dtype=bool), "NRS1", settings=QUICK)


@pytest.mark.parametrize("start, shape", [(CleanParams(method="median"), (N, N)),
                                          (CleanParams(legacy_kernels=True), (N, N)),
                                          (CleanParams(), (32, N))])
def test_nothing_to_tune(start, shape):
    image = np.zeros(shape, dtype=np.float32)
    with pytest.raises(InputError, match="auto-tune applies"):
        tune(image, np.ones(shape, dtype=bool), "NRS1", start=start, settings=QUICK)


def test_progress_is_monotonic_and_closing_cancels(wide_band):
    image, mask, _ = wide_band
    gen = iter_tune(image, mask, "NRS1", settings=QUICK)
    fractions = []
    while True:
        try:
            fractions.append(next(gen)[0])
        except StopIteration as stop:
            result = stop.value
            break
    assert fractions == sorted(fractions) and fractions[0] >= 0 and fractions[-1] == 1.0
    assert result.stages[0].name == "buff_sigma"
    again = iter_tune(image, mask, "NRS1", settings=QUICK)
    next(again)
    next(again)
    again.close()  # what a cancelled GUI task does: no exception, nothing returned


def test_same_seed_same_choice(wide_band):
    image, mask, _ = wide_band
    settings = replace(QUICK, fc_grid=(1 / 256, 1 / 128), ridges=(3.0,))
    a, b = (tune(image, mask, "NRS1", settings=settings) for _ in range(2))
    assert a.best == b.best
    assert [s.scores for s in a.stages] == [s.scores for s in b.stages]


class _PairedErrors:
    """Stand-in for CrossValidation.paired_error: one fixed error for every pair."""

    def __init__(self, error: float) -> None:
        self.error = error

    def paired_error(self, a: Score, b: Score) -> float:
        return 0.0 if a is b else self.error


def _scores(*means: float) -> dict[int, Score]:
    return {i: Score(m, 0.0, np.zeros(1)) for i, m in enumerate(means)}


def test_one_standard_error_rule():
    fc_values = [1 / 256, 1 / 128, 1 / 64]
    tried = _scores(1.00, 0.95, 0.949)
    # min rule: the lowest; 1se: the current value (index 0) is beaten by more than one
    # error, and of the two within one error of the best, the lower fc is smoother
    assert _stage("fc", fc_values, tried, 0, _PairedErrors(0.01), "min").chosen == 2
    assert _stage("fc", fc_values, tried, 0, _PairedErrors(0.01), "1se").chosen == 1
    # within one error of the best: the current value is kept
    assert _stage("fc", fc_values, tried, 0, _PairedErrors(0.1), "1se").chosen == 0
    # for the prior, the strongest of the equally good values is the smoothest
    stage = _stage("ridge", [1.0, 3.0, 10.0], _scores(1.0, 0.9, 0.905), 0,
                   _PairedErrors(0.01), "1se")
    assert isinstance(stage, Stage) and stage.values[stage.chosen] == 10.0


def test_settings_are_validated():
    with pytest.raises(InputError):
        TuneSettings(folds=7).validated()
    with pytest.raises(InputError):
        TuneSettings(rule="best").validated()
    with pytest.raises(InputError):
        TuneSettings(score="mae").validated()
