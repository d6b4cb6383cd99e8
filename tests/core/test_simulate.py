"""Simulated exposures: determinism, time-order noise geometry, scenes, truth, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from app.core.errors import InputError
from app.core.files.products import DO_NOT_USE, read_product
from app.core.simulation import noise as sim_noise
from app.core.simulation.metrics import fast_axis_power_spectrum
from app.core.simulation.noise import NoiseModel, Window, one_over_f_series
from app.core.simulation.simulate import (
    SIGNAL_THRESHOLD,
    demo_products,
    demo_simulation,
    read_simulation,
    simulate_exposure,
    write_simulation,
)

# 64 detector lines of a full 2048-sample fast axis: four outputs, cheap to simulate.
NARROW = (2048, 64)
ONLY = dict(common_1f=0.0, output_1f=0.0, acn_offset=0.0, acn_drift=0.0, picture_frame=0.0)


@pytest.fixture(scope="module")
def ifu_full():
    return simulate_exposure("ifu", "NRS1", nints=1, seed=7)


def test_same_seed_gives_identical_exposures():
    a = simulate_exposure("mos", "NRS2", nints=2, seed=3, shape=NARROW)
    b = simulate_exposure("mos", "NRS2", nints=2, seed=3, shape=NARROW)
    c = simulate_exposure("mos", "NRS2", nints=2, seed=4, shape=NARROW)
    np.testing.assert_array_equal(a.product.sci, b.product.sci)
    np.testing.assert_array_equal(a.product.dq, b.product.dq)
    np.testing.assert_array_equal(a.ideal_mask, b.ideal_mask)
    assert not np.array_equal(np.nan_to_num(a.product.sci), np.nan_to_num(c.product.sci))
    # integrations differ from each other, the scene does not
    assert not np.array_equal(a.correlated_noise[0], a.correlated_noise[1])


def test_sci_is_the_sum_of_its_truth(ifu_full):
    sim = ifu_full
    total = sim.scene + sim.transients + sim.correlated_noise + sim.white_noise
    sci = sim.product.sci
    nan = np.isnan(sci)
    assert nan.any()
    np.testing.assert_allclose(sci[~nan], total[~nan], atol=1e-5)
    # every NaN pixel is flagged DO_NOT_USE
    assert np.all(sim.product.dq[nan] & DO_NOT_USE)
    np.testing.assert_array_equal(sim.expected_clean[~nan], (sci - sim.correlated_noise)[~nan])


def _ramp_series(n, rms_reference, n_reference, rng, alpha=1.0):
    """Stand-in for the 1/f generator: series i is the tick number times its RMS."""
    rms = np.atleast_1d(np.asarray(rms_reference, dtype=np.float64))
    return (rms[:, None] * np.arange(n)[None, :]).astype(np.float32)


@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
def test_noise_follows_readout_time_order(monkeypatch, detector):
    # With the common series replaced by the tick number, each DMS pixel must hold the
    # time it was read: line = DMS column (reversed for NRS2), 4 outputs of 512 samples
    # in parallel along DMS y, the odd ones read backwards, 12 ticks of overhead per line.
    monkeypatch.setattr(sim_noise, "one_over_f_series", _ramp_series)
    model = NoiseModel(**{**ONLY, "common_1f": 1.0})
    window = Window(x0=100, y0=0, nx=40, ny=2048)
    noise = sim_noise.correlated_noise(window, detector, model, np.random.default_rng(0),
                                       "NRSRAPID")
    expected = np.empty((2048, 40))
    for x in range(40):
        line = x if detector == "NRS1" else 39 - x
        for y in range(2048):
            output, k = divmod(y, 512)
            expected[y, x] = line * (512 + 12) + (k if output % 2 == 0 else 511 - k)
    np.testing.assert_array_equal(noise, expected)


def test_irs2_noise_skips_the_reference_ticks(monkeypatch):
    # IRS²: 712 ticks per line; in each output, after the first 8 normal pixels (in read
    # order) 6 ticks pass (jump, 4 reference pixels, jump), then every 16 pixels.
    monkeypatch.setattr(sim_noise, "one_over_f_series", _ramp_series)
    model = NoiseModel(**{**ONLY, "common_1f": 1.0})
    noise = sim_noise.correlated_noise(Window(0, 0, 3, 2048), "NRS1", model,
                                       np.random.default_rng(0), "NRSIRS2RAPID")
    for k in (0, 7, 8, 23, 24, 511):
        tick = k + 6 * ((k + 8) // 16)
        assert noise[k, 2] == 2 * 712 + tick  # output 0, forwards
        assert noise[1023 - k, 2] == 2 * 712 + tick  # output 1, backwards
    with pytest.raises(InputError, match="IRS"):
        simulate_exposure("fs", "NRS1", shape=(512, 256), readpatt="NRSIRS2")


def test_outputs_share_the_common_noise_at_each_tick():
    # common 1/f only: the four samples read at one tick (mirrored across the outputs'
    # boundaries) are equal
    model = NoiseModel(**{**ONLY, "common_1f": 0.015})
    for readpatt in ("NRSRAPID", "NRSIRS2"):
        noise = sim_noise.correlated_noise(Window(0, 0, 8, 2048), "NRS2", model,
                                           np.random.default_rng(3), readpatt)
        k = np.arange(512)
        for output in range(1, 4):
            rows = 512 * output + (k if output % 2 == 0 else 511 - k)
            np.testing.assert_array_equal(noise[rows], noise[k])


def test_subarray_is_read_by_one_output(monkeypatch):
    monkeypatch.setattr(sim_noise, "one_over_f_series", _ramp_series)
    model = NoiseModel(**{**ONLY, "common_1f": 1.0})
    noise = sim_noise.correlated_noise(Window(0, 1031, 2048, 32), "NRS1", model,
                                       np.random.default_rng(0))
    y, x = np.mgrid[0:32, 0:2048]
    np.testing.assert_array_equal(noise, x * (32 + 12) + y)


def test_nrs2_is_nrs1_mirrored_in_dms():
    # Same seed, same detector-order noise: NRS2's DMS image is NRS1's with the
    # columns (detector lines) reversed.
    a = sim_noise.correlated_noise(Window(0, 0, 64, 2048), "NRS1", NoiseModel(),
                                   np.random.default_rng(5))
    b = sim_noise.correlated_noise(Window(1984, 0, 64, 2048), "NRS2", NoiseModel(),
                                   np.random.default_rng(5))
    np.testing.assert_array_equal(b, a[:, ::-1])


@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
def test_banding_runs_along_dms_columns(detector):
    common = NoiseModel(**{**ONLY, "common_1f": 0.015})
    sim = simulate_exposure("fs", detector, seed=1, shape=(2048, 256), noise_model=common)
    noise = sim.correlated_noise[0]
    # per-column (= per detector line) offsets dominate: vertical stripes in DMS
    assert noise.mean(axis=0).std() > 5 * noise.mean(axis=1).std()
    # with every component: pixels 2 apart along a column (same ACN parity) are much
    # more alike than neighbours across columns
    sim = simulate_exposure("fs", detector, seed=1, shape=(2048, 256))
    noise = sim.correlated_noise[0][4:-4]
    along = np.corrcoef(noise[:-2:2].ravel(), noise[2::2].ravel())[0, 1]
    across = np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1]
    assert along > across + 0.2


def test_acn_alternates_along_the_fast_axis():
    model = NoiseModel(**{**ONLY, "acn_offset": 0.01})
    noise = sim_noise.correlated_noise(Window(0, 0, 64, 2048), "NRS1", model,
                                       np.random.default_rng(2))
    np.testing.assert_allclose(noise[0::2], -noise[1::2], rtol=1e-6)
    # one output (a 512-row subarray): all the power at the Nyquist frequency, period 2
    noise = sim_noise.correlated_noise(Window(0, 768, 64, 512), "NRS2", model,
                                       np.random.default_rng(2))
    spectrum = fast_axis_power_spectrum(noise, np.ones(noise.shape, bool), "NRS2")
    assert spectrum.frequency[np.argmax(spectrum.power)] == 0.5
    assert spectrum.power[:-1].max() < 1e-6 * spectrum.power[-1]
    assert spectrum.frequency_hz[-1] == pytest.approx(50_000.0)


def test_picture_frame_is_largest_at_the_edges():
    model = NoiseModel(**{**ONLY, "picture_frame": 0.02})
    strip = Window(x0=1000, y0=0, nx=16, ny=2048)  # 16 lines crossing the whole detector
    frames = [sim_noise.correlated_noise(strip, "NRS1", model, np.random.default_rng(s))
              for s in range(32)]
    size = np.mean([np.abs(f) for f in frames], axis=0)
    assert size[4:40].mean() > 5 * size[900:1100].mean()
    assert size[-40:-4].mean() > 5 * size[900:1100].mean()
    assert size[:, 0].mean() == pytest.approx(size[:, -1].mean(), rel=0.2)


def test_one_over_f_spectrum_and_amplitude():
    n = 1 << 14
    series = one_over_f_series(n, np.full(16, 0.02), n, np.random.default_rng(0))
    assert np.sqrt(np.mean(series**2)) == pytest.approx(0.02, rel=0.1)
    power = (np.abs(np.fft.rfft(series, axis=1)) ** 2).mean(axis=0)
    k = np.arange(8, n // 4)
    slope = np.polyfit(np.log(k), np.log(power[k]), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.1)
    # independent series (real and imaginary parts of one FFT included)
    assert abs(np.corrcoef(series[0], series[1])[0, 1]) < 0.2


def test_one_over_f_autocovariance_is_that_of_the_generated_series():
    """The covariance the floor bench's optimal estimate uses, against sample covariances
    of many generated series (the statistical error at 3000 series is ~1-2 %)."""
    n = 4096
    series = one_over_f_series(n, np.full(3000, 0.5), n, np.random.default_rng(0))
    series = series.astype(np.float64)
    expected = sim_noise.one_over_f_autocovariance(1000, 0.5, n, n)
    for lag in (0, 1, 7, 100):
        measured = np.mean(series[:, : n - lag] * series[:, lag:])
        assert measured == pytest.approx(expected[lag], rel=0.03)
    # a brute-force sum over the DFT bins, written out
    k = np.abs(np.fft.fftfreq(n) * n)
    power = np.where(k > 0, 0.5 * (np.maximum(k, 1) / n) ** -1.0, 0.0)
    lag = np.arange(0, 1001, 250)
    brute = (power[None, :] * np.cos(2 * np.pi * np.outer(lag, k) / n)).sum(1) / n
    unit = np.sum((np.arange(1, n // 2 + 1) / n) ** -1.0) / n
    np.testing.assert_allclose(expected[lag], brute * 0.25 / unit, rtol=1e-6)  # float32 bins


def _runs(column: np.ndarray, min_length: int) -> int:
    edges = np.diff(np.r_[0, column.astype(int), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int(np.sum(ends - starts >= min_length))


def _first_run_centre(column: np.ndarray, min_length: int = 10) -> float:
    edges = np.diff(np.r_[0, column.astype(int), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long = ends - starts >= min_length  # skip hot pixels
    return (starts[long][0] + ends[long][0] - 1) / 2


def test_ifu_scene_has_30_nearly_horizontal_slices(ifu_full):
    scene = ifu_full.scene
    for x in (600, 1500, 2000):
        assert _runs(scene[:, x] > SIGNAL_THRESHOLD, 10) == 30
    # each slice is a horizontal band: its centre moves only a few pixels across x
    centres = [_first_run_centre(scene[:, x] > SIGNAL_THRESHOLD) for x in (300, 1024, 1900)]
    assert np.ptp(centres) < 10
    assert 90 < centres[0] < 140  # where the published IFU masks have the first slice


def test_ideal_mask_excludes_signal_border_and_bad_pixels(ifu_full):
    sim = ifu_full
    mask = sim.ideal_mask
    assert 0.3 < mask.mean() < 0.7
    assert not mask[:4].any() and not mask[-4:].any()
    assert not mask[:, :4].any() and not mask[:, -4:].any()
    assert not mask[np.isnan(sim.product.sci[0])].any()
    assert not mask[(sim.product.dq[0] & DO_NOT_USE) != 0].any()
    assert np.all(sim.scene[mask] < SIGNAL_THRESHOLD)
    assert np.all(sim.transients[0][mask] < SIGNAL_THRESHOLD)


def test_mos_avoids_the_dark_cruciform_rows():
    sim = simulate_exposure("mos", "NRS1", seed=2, shape=(2048, 512))
    lit = sim.scene > SIGNAL_THRESHOLD
    assert lit[830:930].mean() < 1e-3 and lit[1110:1200].mean() < 1e-3
    assert _runs(lit[:, 256], 10) >= 20  # many short slitlets
    assert lit.mean() > 0.1


def test_fixed_slit_has_five_traces():
    sim = simulate_exposure("fs", "NRS2", seed=0, shape=(2048, 64))
    assert _runs(sim.scene[:, 30] > SIGNAL_THRESHOLD, 10) == 5


@pytest.mark.parametrize(("rows", "name", "start"), [(32, "SUB2048", 1032), (512, "GENERIC", 769)])
def test_bots_subarray_headers(rows, name, start):
    sim = simulate_exposure("bots", "NRS2", nints=2, seed=0,
                            shape=None if rows == 32 else (rows, 2048))
    header = sim.product.primary_header
    assert sim.product.sci.shape == (2, rows, 2048)
    assert header["EXP_TYPE"] == "NRS_BRIGHTOBJ"
    assert header["SUBSIZE1"] == 2048 and header["SUBSIZE2"] == rows
    assert header["SUBSTRT1"] == 1 and header["SUBSTRT2"] == start
    assert header["SUBARRAY"] == name
    assert name in _schema_subarray_names()
    # a subarray has reference columns but no reference rows
    assert sim.ideal_mask[0, 4:-4].all() or sim.ideal_mask[0, 4:-4].mean() > 0.99
    assert not sim.ideal_mask[:, :4].any() and not sim.ideal_mask[:, -4:].any()
    peak_row = np.argmax(sim.scene[:, 1000])
    assert abs(peak_row - rows / 2) < 3


def test_headers_and_product(ifu_full):
    product = ifu_full.product
    header = product.primary_header
    assert product.sci.dtype == np.float32 and product.dq.dtype == np.uint32
    assert (header["DETECTOR"], header["EXP_TYPE"], header["SUBARRAY"]) == (
        "NRS1", "NRS_IFU", "FULL")
    assert (header["SUBSTRT1"], header["SUBSTRT2"]) == (1, 1)
    assert (header["SUBSIZE1"], header["SUBSIZE2"]) == (2048, 2048)
    assert not product.is_cube and product.path.name == "sim_ifu_nrs1_rate.fits"
    assert not product.path.exists()


def test_demo_products():
    (product,) = demo_products(nints=2)
    truth = demo_simulation(nints=2)
    np.testing.assert_array_equal(product.sci, truth.product.sci)
    assert truth.ideal_mask.any()
    assert product.is_cube and product.sci.shape == (2, 2048, 2048)
    assert product.exp_type == "NRS_IFU" and product.detector == "NRS1"
    assert product.path.name.endswith("_rateints.fits")


@pytest.mark.parametrize("nints", [1, 2])
def test_write_and_read_back(tmp_path, nints):
    sim = simulate_exposure("mos", "NRS2", nints=nints, seed=9, shape=(256, 512))
    target = write_simulation(sim, tmp_path / "sim_rate.fits")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim_rate.fits"]
    with fits.open(target) as hdul:
        assert hdul["SCI"].data.ndim == (3 if nints > 1 else 2)
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "ERR", "DQ", "TRUTH_SCENE",
                                          "TRUTH_NOISE", "TRUTH_CR", "TRUTH_MASK"]
    product = read_product(target)
    assert product.detector == "NRS2" and product.exp_type == "NRS_MSASPEC"
    assert product.primary_header["SUBSIZE2"] == 256
    np.testing.assert_array_equal(product.sci, sim.product.sci)
    back = read_simulation(target)
    np.testing.assert_array_equal(back.scene, sim.scene)
    np.testing.assert_array_equal(back.correlated_noise, sim.correlated_noise)
    np.testing.assert_array_equal(back.transients, sim.transients)
    np.testing.assert_array_equal(back.ideal_mask, sim.ideal_mask)
    np.testing.assert_allclose(back.white_noise, sim.white_noise, atol=1e-5)
    assert (back.scene_name, back.seed) == ("mos", 9)
    assert back.noise_model == sim.noise_model


def test_write_refuses_to_overwrite_and_leaves_no_debris(tmp_path):
    sim = simulate_exposure("bots", "NRS1", seed=0)
    target = tmp_path / "a_rate.fits"
    target.write_bytes(b"keep me")
    with pytest.raises(InputError, match="exists"):
        write_simulation(sim, target)
    assert target.read_bytes() == b"keep me"
    write_simulation(sim, target, overwrite=True)
    assert read_product(target).shape == (32, 2048)
    with pytest.raises(InputError, match="does not exist"):
        write_simulation(sim, tmp_path / "missing" / "b.fits")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_rate.fits"]


def test_read_simulation_rejects_plain_products(tmp_path):
    path = tmp_path / "plain.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((8, 8), np.float32),
                                                   name="SCI")]).writeto(path)
    with pytest.raises(InputError, match="not a simulation"):
        read_simulation(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scene": "slit"}, "unknown scene"),
        ({"detector": "NRS3"}, "unknown detector"),
        ({"nints": 0}, "integrations"),
        ({"seed": -1}, "seed"),
        ({"shape": (4, 2048)}, "impossible image size"),
        ({"shape": (2048, 4096)}, "impossible image size"),
        ({"shape": (12,)}, "two integers"),
        ({"nints": 100}, "too much"),
    ],
)
def test_bad_arguments_raise_input_error(kwargs, message):
    with pytest.raises(InputError, match=message):
        simulate_exposure(**kwargs)


def _schema_subarray_names() -> set[str]:
    """Every SUBARRAY value stdatamodels' schema accepts (read from the schema itself)."""
    stdatamodels = pytest.importorskip("stdatamodels.jwst")
    import yaml

    path = Path(stdatamodels.__file__).parent / "datamodels/schemas/subarray.schema.yaml"
    names: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "enum":
                    names.update(map(str, value))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(path.read_text()))
    return names


@pytest.mark.parametrize("shape", [(512, 2048), (64, 2048), (2048, 64)])
def test_subarray_names_accepted_by_stdatamodels(shape):
    scene = "bots" if shape[1] == 2048 else "fs"
    sim = simulate_exposure(scene, "NRS1", seed=0, shape=shape)
    assert sim.product.primary_header["SUBARRAY"] in _schema_subarray_names()
