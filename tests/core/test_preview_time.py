"""The live preview's incremental refit of the read-time fit against a clean from scratch."""

from __future__ import annotations

import numpy as np
import pytest

import app.core.engine.incremental_time as incremental_time
from app.core.clean import CleanParams, clean
from app.core.engine.incremental import IncrementalCleaner
from app.core.mask.paint import Box
from app.core.simulation.simulate import simulate_exposure

TIME = CleanParams(method="time")


@pytest.fixture(scope="module")
def exposure():
    sim = simulate_exposure("mos", "NRS2", seed=2)
    image = sim.product.sci[0].copy()
    return image, sim.ideal_mask & np.isfinite(image), sim.product.primary_header["READPATT"]


def assert_matches_clean(result, image, mask, readpatt):
    reference = clean(image, mask, "NRS2", "time", params=TIME, readpatt=readpatt)
    # float32 rounding of the level shift and of the FFTs: far below the noise (0.01)
    np.testing.assert_allclose(result.model, reference.model, rtol=0, atol=2e-6)
    for name in ("samples_per_line", "unfit_lines", "reduced_lines", "background_level",
                 "method"):
        np.testing.assert_array_equal(getattr(result.diagnostics, name),
                                      getattr(reference.diagnostics, name), err_msg=name)
    assert result.diagnostics.method == "time"


def test_strokes_refit_only_their_lines(exposure, monkeypatch):
    image, mask0, readpatt = exposure
    cleaner = IncrementalCleaner(image, "NRS2", TIME, readpatt=readpatt)
    first = cleaner.update(mask0)
    assert first.full
    assert_matches_clean(first, image, mask0, readpatt)
    refits: list[int] = []
    original = incremental_time.TimeFitter.fit

    def spy(self, data, usable, *args):
        refits.append(data.shape[1])
        return original(self, data, usable, *args)

    monkeypatch.setattr(incremental_time.TimeFitter, "fit", spy)
    mask = mask0.copy()
    mask[300:900, 500:530] = False
    result = cleaner.update(mask, Box(300, 900, 495, 540))
    assert not result.full and refits[0] == 30  # (then the reference clean's full frame)
    np.testing.assert_array_equal(result.refit_columns, np.arange(500, 530))
    assert result.level_shift != 0.0
    assert_matches_clean(result, image, mask, readpatt)
    # a stroke that empties lines entirely: unfit, reported, model zero
    mask[:, 1000:1003] = False
    result = cleaner.update(mask, Box(0, 2048, 1000, 1003))
    assert not result.full
    assert_matches_clean(result, image, mask, readpatt)
    assert set(range(1045, 1048)) <= set(result.diagnostics.unfit_lines.tolist())


def test_a_new_readout_pattern_recomputes(exposure):
    image, mask, readpatt = exposure
    cleaner = IncrementalCleaner(image, "NRS2", TIME, readpatt=readpatt)
    cleaner.update(mask)
    result = cleaner.update(mask, readpatt="NRSRAPID")
    assert result.full
    assert_matches_clean(result, image, mask, "NRSRAPID")


def test_buffing_settings_leave_the_time_fit_alone(exposure):
    """The read-time fit ignores buffing: changing buffing (the Cleaning form's spin box)
    keeps the model and reports no error (it used to raise AttributeError)."""
    from dataclasses import replace

    image, mask, readpatt = exposure
    cleaner = IncrementalCleaner(image, "NRS2", TIME, readpatt=readpatt)
    first = cleaner.update(mask)
    for changed in (replace(TIME, buff_sigma=2.5), replace(TIME, buff=False)):
        again = cleaner.update(mask, params=changed)
        assert again.params == changed
        assert not again.full
        np.testing.assert_array_equal(again.model, first.model)
    assert_matches_clean(again, image, mask, readpatt)
