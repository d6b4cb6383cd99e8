"""The subarray and median variants against independent references and known truth."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.clean import clean
from app.core.engine.subarray import SUBARRAY_FC, band_apodizer


def test_median_method_subtracts_each_lines_background_median():
    rng = np.random.default_rng(1)
    image = rng.normal(size=(2048, 2048)).astype(np.float32)
    mask = rng.random(image.shape) < 0.3
    result = clean(image, mask, "NRS1", method="median", background="none")
    usable = mask.copy()
    usable[:4] = usable[-4:] = False
    usable[:, :4] = usable[:, -4:] = False
    for x in rng.choice(np.arange(4, 2044), 20, replace=False):
        expected = np.median(image[usable[:, x], x])
        np.testing.assert_allclose(result.model[:, x], expected, rtol=1e-6)


def test_median_by_channel_uses_four_512_row_segments():
    rng = np.random.default_rng(2)
    image = rng.normal(size=(2048, 2048)).astype(np.float32)
    image += np.repeat(np.arange(4, dtype=np.float32), 512)[:, None]  # one level per channel
    mask = np.ones(image.shape, bool)
    result = clean(image, mask, "NRS1", method="median", by_channel=True, background="none")
    inner = result.cleaned[4:-4, 4:-4]
    assert abs(float(np.median(inner[:500]) - np.median(inner[-500:]))) < 0.05
    single = clean(image, mask, "NRS1", method="median", background="none")
    assert abs(float(np.median(single.cleaned[4:500]) - np.median(single.cleaned[-500:]))) > 2


def test_band_apodizer_corners():
    freq = np.array([0.0, 1000.0, 1136.0, 1211.0, 30000.0, 49950.0, 49957.0, 50000.0])
    gain = band_apodizer(freq, SUBARRAY_FC)
    assert gain[0] == gain[1] == 1.0
    assert 0.45 < gain[2] < 0.55  # the roll-off midpoint
    assert gain[3] == gain[4] == 0.0
    assert 0.45 < gain[5] < 0.55
    assert gain[6] == gain[7] == 1.0


@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
def test_subarray_recovers_slow_time_series_noise(detector):
    """Known truth: noise that drifts slowly in read time is removed from a BOTS frame."""
    rng = np.random.default_rng(3)
    ny, nx = 32, 2048
    # in detector orientation pixel (line, s) is read at tick line * (32 + 12) + s
    ticks = (np.arange(nx)[:, None] * (ny + 12) + np.arange(ny)[None, :]).astype(float)
    seconds = ticks * 10e-6
    drift = sum(rng.normal(0, 0.02) * np.sin(2 * np.pi * f * seconds + rng.uniform(0, 6))
                for f in (3.0, 17.0, 60.0, 250.0))
    from app.core.orientation import detector_to_dms

    truth = np.asarray(detector_to_dms(drift, detector))
    white = rng.normal(0, 0.005, (ny, nx))
    image = (truth + white).astype(np.float32)
    mask = np.ones((ny, nx), bool)
    mask[12:20] = False  # the spectral trace across the middle rows
    result = clean(image, mask, detector)
    assert result.diagnostics.method == "fft-subarray"
    residual = result.cleaned[:, 4:-4] - white[:, 4:-4]
    assert residual.std() < 0.25 * truth[:, 4:-4].std()
    assert result.diagnostics.unfit_lines.size == 0
