"""Auto-tune choosing between NSClean's fit and the read-time fit by held-out score."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from app.core.clean import CleanParams, clean
from app.core.simulation.metrics import residual_banding
from app.core.simulation.simulate import simulate_exposure
from app.core.tuning.tune import TuneSettings, tune, why_not_tunable

#: One value per NSClean parameter: the fft part of the search costs next to nothing.
FIXED_FFT = TuneSettings(fc_grid=(1 / 256,), kw_ratios=(0.25,), buff_sigmas=(1.5,),
                         weight_sigmas=(32.0,), sigrejs=(3.0,), fits=("complex",))


@pytest.fixture(scope="module")
def exposure():
    sim = simulate_exposure("fs", "NRS1", seed=4)
    return sim, sim.product.primary_header["READPATT"]


def banding(sim, params, readpatt):
    image, dq, mask = sim.product.sci[0], sim.product.dq[0], sim.ideal_mask
    cleaned = clean(image, mask, "NRS1", params.method, dq=dq, params=params,
                    readpatt=readpatt).cleaned
    return residual_banding(cleaned, sim.expected_clean[0], sim.correlated_noise[0], mask)


def test_the_held_out_score_picks_the_model_the_truth_prefers(exposure):
    sim, readpatt = exposure
    result = tune(sim.product.sci[0], sim.ideal_mask, "NRS1", dq=sim.product.dq[0],
                  settings=FIXED_FFT, readpatt=readpatt)
    names = [stage.name for stage in result.stages]
    method = names.index("method")
    assert names[method + 1:] == ["time_ridge", "output_terms", "harmonics"]
    stage = result.stages[method]
    assert stage.values == ["fft", "time"]
    chosen = stage.values[stage.chosen]
    # the truth: residual banding of both candidates as the stage scored them
    fft = replace(result.start, method="fft")
    time = replace(result.start, method="time")
    truth = "time" if banding(sim, time, readpatt) < banding(sim, fft, readpatt) else "fft"
    assert chosen == truth == result.best.method == "time"
    assert result.best_score.mean < stage.scores[0]


def test_a_search_from_the_time_fit_compares_models_first(exposure):
    sim, readpatt = exposure
    start = CleanParams(method="time", time_ridge=30.0)
    settings = replace(FIXED_FFT, time_ridges=(3.0, 30.0), output_terms=(3,), harmonics=(24,))
    result = tune(sim.product.sci[0], sim.ideal_mask, "NRS1", dq=sim.product.dq[0],
                  start=start, settings=settings, readpatt=readpatt)
    assert [stage.name for stage in result.stages][:2] == ["method", "time_ridge"]
    assert result.best.method == "time" and result.best.time_ridge == 3.0
    assert why_not_tunable((2048, 2048), start) is None
    assert why_not_tunable((32, 2048), start) is not None


def test_nsclean_only_when_asked(exposure):
    sim, readpatt = exposure
    result = tune(sim.product.sci[0], sim.ideal_mask, "NRS1", dq=sim.product.dq[0],
                  settings=replace(FIXED_FFT, methods=("fft",)), readpatt=readpatt)
    assert "method" not in [stage.name for stage in result.stages]
    assert result.best.method == "fft"
    assert np.isfinite(result.best_score.mean)
