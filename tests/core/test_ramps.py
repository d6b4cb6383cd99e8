"""Ramps (4-D SCI): group differences cleaned and accumulated, as clean_flicker_noise does."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from app.cli import main
from app.core.clean import CleanParams, clean
from app.core.errors import InputError, MaskError
from app.core.files.batch import clean_file
from app.core.files.ramps import Ramp, clean_ramp, read_ramp
from app.core.mask.formats import write_nsclean_fits
from tests.core.products_factory import banded_ramp, write_product, write_ramp

SHAPE = (64, 2048)
MEDIAN = CleanParams(method="median")


def _mask(shape=SHAPE):
    mask = np.ones(shape, bool)
    mask[20:30] = False  # a "trace" across the subarray
    mask[:, :4] = mask[:, -4:] = False
    return mask


def _reference(sci, gdq, mask, params):
    """The obvious loop: out[0] = raw[0]; out[j] = out[j-1] + clean(raw[j] - raw[j-1])."""
    out = sci.astype(np.float32).copy()
    for i in range(sci.shape[0]):
        plane = mask[i] if mask.ndim == 3 else mask
        for j in range(1, sci.shape[1]):
            usable = plane & ((gdq[i, j] & 1) == 0) & ((gdq[i, j] & 4) == 0)
            diff = sci[i, j] - sci[i, j - 1]
            out[i, j] = out[i, j - 1] + clean(diff, usable, "NRS1", params.method,
                                            params=params).cleaned
    return out


@pytest.mark.parametrize("params", [MEDIAN, CleanParams()], ids=["median", "fft-subarray"])
def test_ramp_matches_the_obvious_loop(tmp_path, params):
    sci = banded_ramp(1, (2, 4, *SHAPE))
    gdq = np.zeros(sci.shape, np.uint8)
    rng = np.random.default_rng(3)
    for flag in (1, 4):  # DO_NOT_USE and JUMP_DET, in later groups only
        where = rng.integers(0, sci.size, 300)
        gdq.reshape(-1)[where] = flag
        sci.reshape(-1)[where] += 500.0  # a jump: would pull the background if used
    source = write_ramp(tmp_path / "x_ramp.fits", sci, groupdq=gdq)
    target = tmp_path / "x_ramp_c.fits"
    clean_file(source, _mask(), target, params=params)
    got = fits.getdata(target, "SCI")
    expected = _reference(sci, gdq, _mask(), params)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    np.testing.assert_array_equal(got[:, 0], sci[:, 0])  # the first group stays as read


def test_flagged_pixels_are_not_background(tmp_path):
    sci = banded_ramp(2, (1, 3, *SHAPE))
    gdq = np.zeros(sci.shape, np.uint8)
    gdq[0, 2, 40, 100:140] = 4  # JUMP_DET in group 3 on one column's background
    sci[0, 2, 40, 100:140] += 1e4
    source = write_ramp(tmp_path / "j_ramp.fits", sci, groupdq=gdq)
    clean_file(source, _mask(), tmp_path / "out.fits", params=MEDIAN)
    got = fits.getdata(tmp_path / "out.fits", "SCI")
    # Reference: the same pixels simply left out of the mask of that difference
    masked = _mask()
    masked[40, 100:140] = False
    diff = clean(sci[0, 2] - sci[0, 1], masked, "NRS1", "median").cleaned
    np.testing.assert_allclose(got[0, 2] - got[0, 1], diff, atol=1e-3)


def test_every_hdu_kept_and_it_opens_as_a_ramp_model(tmp_path):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    sci = banded_ramp(3, (1, 3, *SHAPE))
    source = write_ramp(tmp_path / "k_ramp.fits", sci)
    before = source.read_bytes()
    clean_file(source, _mask(), tmp_path / "k_out.fits", params=MEDIAN)
    assert source.read_bytes() == before
    with fits.open(tmp_path / "k_out.fits") as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "PIXELDQ", "GROUPDQ", "EXTRA"]
        assert hdul[0].header["NSC_RAMP"] is True
        assert any("first group" in str(h) for h in hdul[0].header["HISTORY"])
    with datamodels.RampModel(str(tmp_path / "k_out.fits")) as model:
        assert model.data.shape == sci.shape
        assert model.groupdq.shape == sci.shape and model.pixeldq.shape == SHAPE


def test_cleaning_a_simulated_ramp_lowers_the_banding_of_its_slope():
    from app.core.simulation.metrics import residual_banding
    from app.core.simulation.ramp import fitted_slope, simulate_ramp

    sim = simulate_ramp("bots", "NRS1", nints=1, ngroups=4, seed=5, shape=(512, 2048))
    tgroup = float(sim.primary["TGROUP"])
    ramp = _ramp_in_memory(sim)
    clean_ramp(ramp, sim.ideal_mask)
    truth, noise = sim.truth_slope[0], sim.noise_slope[0]
    before = residual_banding(fitted_slope(sim.sci[0], tgroup), truth, noise, sim.ideal_mask)
    after = residual_banding(fitted_slope(ramp.sci[0], tgroup), truth, noise, sim.ideal_mask)
    assert before == pytest.approx(1.0, abs=1e-3)
    assert after < 0.5


def _ramp_in_memory(sim):
    hdul = fits.HDUList([fits.PrimaryHDU(header=sim.primary),
                         fits.ImageHDU(sim.sci.copy(), name="SCI"),
                         fits.ImageHDU(sim.groupdq, name="GROUPDQ")])
    return Ramp(Path("mem_ramp.fits"), hdul)


def test_memory_one_integration_at_a_time():
    sci = banded_ramp(4, (6, 8, 256, 2048))  # 100 MB; one frame is 2 MB
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(sci, name="SCI"),
                         fits.ImageHDU(np.zeros(sci.shape, np.uint8), name="GROUPDQ")])
    hdul[0].header["DETECTOR"] = "NRS1"
    ramp = Ramp(Path("m_ramp.fits"), hdul)
    _ = ramp.sci  # materialise before measuring
    tracemalloc.start()
    clean_ramp(ramp, _mask((256, 2048)), MEDIAN)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # the working set of one difference (a dozen frames at most), never a second cube
    assert peak < 0.3 * sci.nbytes


def test_per_integration_mask_planes(tmp_path):
    sci = banded_ramp(6, (2, 3, *SHAPE))
    masks = np.stack([_mask(), _mask()])
    masks[1, 40:60] = False
    source = write_ramp(tmp_path / "p_ramp.fits", sci)
    clean_file(source, masks, tmp_path / "p_out.fits", params=MEDIAN)
    got = fits.getdata(tmp_path / "p_out.fits", "SCI")
    gdq = np.zeros(sci.shape, np.uint8)
    np.testing.assert_allclose(got, _reference(sci, gdq, masks, MEDIAN), atol=1e-4)
    with pytest.raises(MaskError, match=r"3 plane.*2 integration"):
        clean_file(source, np.stack([_mask()] * 3), tmp_path / "p_bad.fits", params=MEDIAN)
    assert not (tmp_path / "p_bad.fits").exists()


def test_rateints_per_integration_mask(tmp_path):
    from app.core.files.batch import clean_product
    from app.core.files.products import read_product

    rng = np.random.default_rng(0)
    cube = rng.normal(0, 1, (2, *SHAPE)).astype(np.float32)
    product = read_product(write_product(tmp_path / "r_rateints.fits", cube))
    masks = np.stack([_mask(), _mask()])
    masks[0, 30:50] = False
    result = clean_product(product, masks, MEDIAN)
    for i in range(2):
        expected = clean(cube[i], masks[i], "NRS1", "median").cleaned
        np.testing.assert_allclose(result.cleaned[i], expected, atol=1e-6)


def test_groupdq_shape_mismatch_is_refused(tmp_path):
    sci = banded_ramp(7, (1, 3, *SHAPE))
    source = write_ramp(tmp_path / "g_ramp.fits", sci, groupdq=np.zeros((1, 2, *SHAPE), np.uint8))
    with pytest.raises(InputError, match=r"GROUPDQ shape \(1, 2, 64, 2048\) does not match "
                                         r"SCI shape \(1, 3, 64, 2048\)"):
        read_ramp(source)


def test_cli_bad_ramp_one_message_others_cleaned(tmp_path, capsys):
    good = write_ramp(tmp_path / "a_ramp.fits", banded_ramp(8, (1, 3, *SHAPE)))
    bad = write_ramp(tmp_path / "b_ramp.fits", banded_ramp(9, (1, 3, *SHAPE)),
                     groupdq=np.zeros((1, 3, 64, 100), np.uint8))
    mask = write_nsclean_fits(tmp_path / "mask.fits", _mask())
    status = main(["clean", str(bad), str(good), "--mask", str(mask), "--method", "median"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("GROUPDQ shape") == 1 and "Traceback" not in err
    assert (tmp_path / "a_ramp_nsclean.fits").exists()
    assert not (tmp_path / "b_ramp_nsclean.fits").exists()


def test_cli_cube_mask_wrong_plane_count(tmp_path, capsys):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    ramp = write_ramp(tmp_path / "c_ramp.fits", banded_ramp(10, (2, 3, *SHAPE)))
    mask_path = tmp_path / "cube_mask.fits"
    datamodels.CubeModel(data=np.stack([_mask()] * 3).astype(np.float32)).save(str(mask_path))
    assert main(["clean", str(ramp), "--mask", str(mask_path), "--method", "median"]) == 1
    err = capsys.readouterr().err
    assert "3 plane(s)" in err and "2 integration(s)" in err
    assert not (tmp_path / "c_ramp_nsclean.fits").exists()
    # --mask-plane picks one plane for all integrations
    assert main(["clean", str(ramp), "--mask", str(mask_path), "--mask-plane", "1",
                 "--method", "median"]) == 0


def test_cli_simulate_writes_a_ramp(tmp_path, capsys):
    out = tmp_path / "sim_ramp.fits"
    assert main(["simulate", "--scene", "bots", "--ngroups", "3", "--nints", "2", "-o",
                 str(out)]) == 0
    with fits.open(out) as hdul:
        assert hdul["SCI"].data.shape == (2, 3, 32, 2048)
        assert hdul["GROUPDQ"].data.shape == (2, 3, 32, 2048)
        assert hdul["TRUTH_SLOPE"].data.shape == (2, 32, 2048)
        assert hdul[0].header["DATAMODL"] == "RampModel"
    assert main(["simulate", "--ngroups", "1", "-o", str(tmp_path / "one.fits")]) == 1
    assert "at least 2 groups" in capsys.readouterr().err


@pytest.mark.parametrize(("shape", "readpatt", "expected"), [
    ((2048, 64), "nrsirs2", "NRSIRS2"), ((2048, 64), None, "NRSRAPID"),
    ((32, 2048), None, "NRSRAPID")])
def test_ramp_noise_is_read_with_the_timing_its_header_states(monkeypatch, shape, readpatt,
                                                              expected):
    """Every group's correlated noise is made with the READPATT the ramp's header states
    (a ramp made with traditional timing under an IRS² header misleads the read-time
    fit); ``correlated_noise`` itself is tested for each timing in test_simulate.py."""
    import app.core.simulation.ramp as ramp_module
    from app.core.simulation.noise import correlated_noise

    asked = []

    def recording(*args, **kwargs):
        asked.append(args[4] if len(args) > 4 else kwargs.get("readpatt"))
        return correlated_noise(*args, **kwargs)

    monkeypatch.setattr(ramp_module, "correlated_noise", recording)
    sim = ramp_module.simulate_ramp("ifu", "NRS1", ngroups=3, seed=2, shape=shape,
                                    readpatt=readpatt)
    assert sim.primary["READPATT"] == expected
    assert asked == [expected] * 3


def test_ramp_refuses_irs2_on_short_lines():
    from app.core.simulation.ramp import simulate_ramp

    with pytest.raises(InputError, match="IRS² readout"):
        simulate_ramp("bots", "NRS1", ngroups=2, readpatt="NRSIRS2")


def test_a_ramp_opens_as_group_difference_rates(tmp_path):
    from app.core.files.ramp_draft import frame_label, is_ramp_product, read_ramp_draft

    sci = banded_ramp(11, (2, 3, *SHAPE))
    gdq = np.zeros(sci.shape, np.uint8)
    gdq[1, 2, 5, 7] = 4  # a jump in group 3 of integration 2
    path = write_ramp(tmp_path / "d_ramp.fits", sci, groupdq=gdq)
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["TGROUP"] = 10.0
    product = read_ramp_draft(path)
    assert is_ramp_product(product) and product.sci.shape == (4, *SHAPE)
    np.testing.assert_allclose(product.sci[3], (sci[1, 2] - sci[1, 1]) / 10.0, atol=1e-5)
    # the mean of the frames is the draft rate (last - first) / ((ngroups - 1) TGROUP)
    np.testing.assert_allclose(product.sci[:2].mean(axis=0), (sci[0, 2] - sci[0, 0]) / 20.0,
                               atol=1e-5)
    assert product.dq[3, 5, 7] & 1 and not product.dq[2, 5, 7] & 1
    assert frame_label(product, 3) == "integration 2, group 2→3"
