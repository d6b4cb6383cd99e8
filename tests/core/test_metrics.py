"""Quality metrics against slow obvious references and simulated truth."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.errors import MaskError
from app.core.simulation.metrics import (
    banding_rms,
    fast_axis_power_spectrum,
    residual_banding,
    residual_rms,
    smooth_along_lines,
)
from app.core.simulation.simulate import simulate_exposure


def _slow_smooth_column(values: np.ndarray, valid: np.ndarray, width: int) -> np.ndarray:
    """Masked running mean (3 passes) along one DMS column, with np.convolve."""
    box = np.ones(width) / width

    def k(a: np.ndarray) -> np.ndarray:
        for _ in range(3):
            a = np.convolve(a, box, mode="same")
        return a

    return k(np.where(valid, values, 0.0)) / k(valid.astype(float))


@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
def test_banding_rms_matches_a_slow_reference(detector):
    rng = np.random.default_rng(0)
    image = rng.normal(size=(300, 40)) + rng.normal(size=40)[None, :]
    valid = rng.random((300, 40)) > 0.3
    image[5, 7] = np.nan  # ignored
    ok = valid & np.isfinite(image)
    smooth = np.column_stack([_slow_smooth_column(image[:, x], ok[:, x], 9)
                              for x in range(40)])
    expected = np.sqrt(np.mean(smooth[ok] ** 2))
    assert banding_rms(image, valid, detector, width=9) == pytest.approx(expected, rel=1e-5)
    got = smooth_along_lines(np.nan_to_num(image), ok, detector, width=9)
    np.testing.assert_allclose(got[ok], smooth[ok], rtol=1e-4, atol=1e-6)


def test_smoothing_is_along_dms_columns():
    # A pure per-column offset (banding) survives smoothing untouched; a pattern that
    # alternates along the column (ACN) disappears.
    offsets = np.linspace(-1, 1, 16)
    image = np.tile(offsets, (256, 1))
    valid = np.ones(image.shape, bool)
    np.testing.assert_allclose(smooth_along_lines(image, valid, "NRS2")[100], offsets,
                               atol=1e-6)
    acn = np.where(np.arange(256) % 2 == 0, 1.0, -1.0)[:, None] * np.ones((1, 16))
    assert banding_rms(acn, valid, "NRS1") < 0.01 * banding_rms(image, valid, "NRS1")


@pytest.fixture(scope="module")
def sim():
    return simulate_exposure("ifu", "NRS2", nints=2, seed=11, shape=(2048, 256))


def test_residual_banding_limits_on_truth(sim):
    args = (sim.expected_clean, sim.correlated_noise, sim.ideal_mask, "NRS2")
    assert residual_banding(sim.product.sci, *args) == pytest.approx(1.0, abs=1e-6)
    assert residual_banding(sim.expected_clean, *args) == pytest.approx(0.0, abs=1e-9)
    half = sim.expected_clean + 0.5 * sim.correlated_noise
    assert residual_banding(half, *args) == pytest.approx(0.5, rel=1e-5)
    # cleaning that doubles the noise is worse than doing nothing
    assert residual_banding(sim.product.sci + sim.correlated_noise, *args) > 1.9


def test_residual_banding_ignores_white_noise_mostly(sim):
    # white noise left in "cleaned" barely counts: the smoothing averages it away
    args = (sim.expected_clean, sim.correlated_noise, sim.ideal_mask, "NRS2")
    noisy = sim.expected_clean + sim.white_noise
    assert residual_banding(noisy, *args) < 0.3


def test_residual_rms(sim):
    mask = sim.ideal_mask
    got = residual_rms(sim.product.sci, sim.expected_clean, mask)
    noise = sim.correlated_noise[:, mask]
    assert got == pytest.approx(np.sqrt(np.mean(noise.astype(float) ** 2)), rel=1e-5)
    assert residual_rms(sim.expected_clean, sim.expected_clean, mask) == 0.0


def test_metrics_need_background():
    image = np.ones((32, 32))
    with pytest.raises(MaskError):
        residual_banding(image, image, image, np.zeros((32, 32), bool))
    with pytest.raises(MaskError):
        residual_rms(image, image, np.zeros((32, 32), bool))
    with pytest.raises(MaskError):
        fast_axis_power_spectrum(image, np.ones((32, 32), bool), min_samples=64)


@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
def test_power_spectrum_of_a_sinusoid_peaks_at_its_frequency(detector):
    n = 512
    y = np.arange(n)[:, None]
    image = 3.0 + 0.2 * np.sin(2 * np.pi * 37 / n * y + np.arange(8)[None, :])
    spectrum = fast_axis_power_spectrum(image, np.ones((n, 8), bool), detector)
    peak = np.argmax(spectrum.power)
    assert spectrum.frequency[peak] == pytest.approx(37 / n)
    assert spectrum.frequency_hz[peak] == pytest.approx(37 / n / 10e-6)
    # Parseval: the density integrates to the variance (0.2²/2), and the mean is removed
    assert spectrum.power.sum() / n == pytest.approx(0.02, rel=1e-6)
    assert spectrum.power[0] == pytest.approx(0.0, abs=1e-12)
    # a pattern across lines (along DMS x) is no power along the fast axis
    across = np.tile(np.sin(np.arange(8.0)), (n, 1))
    assert fast_axis_power_spectrum(across, np.ones((n, 8), bool)).power.max() < 1e-20


def test_power_spectrum_matches_a_slow_reference_with_gaps():
    rng = np.random.default_rng(3)
    image = rng.normal(size=(128, 6))
    mask = rng.random((128, 6)) > 0.4
    mask[:, 5] = False  # a line with no background is skipped
    expected = []
    for x in range(5):
        values = image[mask[:, x], x]
        line = np.zeros(128)
        line[mask[:, x]] = values - values.mean()
        p = np.abs(np.fft.rfft(line)) ** 2 / values.size
        p[1:-1] *= 2
        expected.append(p)
    spectrum = fast_axis_power_spectrum(image, mask, "NRS1", min_samples=10)
    assert spectrum.lines == 5
    np.testing.assert_allclose(spectrum.power, np.mean(expected, axis=0), rtol=1e-10,
                               atol=1e-20)


def test_white_noise_density_is_flat_at_twice_the_variance():
    rng = np.random.default_rng(4)
    image = rng.normal(scale=0.5, size=(1024, 64))
    spectrum = fast_axis_power_spectrum(image, np.ones(image.shape, bool))
    assert spectrum.power[1:-1].mean() == pytest.approx(2 * 0.25, rel=0.02)


@pytest.mark.slow
def test_engine_removes_injected_banding():
    # End to end on known truth: the engine must remove a good part of the banding, and
    # our centred kernels must not do worse than the legacy (pipeline) ones.
    from app.core.clean import clean

    full = simulate_exposure("ifu", "NRS1", seed=5)
    image, mask = full.product.sci[0], full.ideal_mask
    args = (full.expected_clean[0], full.correlated_noise[0], mask, "NRS1")
    ours = residual_banding(clean(image, mask, "NRS1").cleaned, *args)
    legacy = residual_banding(clean(image, mask, "NRS1", legacy_kernels=True).cleaned, *args)
    assert ours < 0.8
    assert ours <= legacy
