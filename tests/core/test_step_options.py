"""The pipeline step's options, and ``CleanParams.pipeline()`` against jwst's do_correction."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from app.cli import main
from app.core.clean import CleanParams, clean
from app.core.engine.levels import clip_signal
from app.core.errors import InputError
from app.core.files.batch import clean_file
from app.core.files.stepoptions import ALLSLITS_FC, params_for_file
from app.core.mask.formats import write_jwst_mask, write_nsclean_fits
from tests.core.products_factory import banded_frame, banded_ramp, write_product, write_ramp

SUB = (32, 2048)


def _mask(shape):
    mask = np.ones(shape, bool)
    mask[shape[0] // 2 - 3: shape[0] // 2 + 3] = False
    mask[:, :4] = mask[:, -4:] = False
    if shape[0] == 2048:
        mask[:4] = mask[-4:] = False
    return mask


def _with_signal(image, seed=0):
    """Add bright pixels (signal the clipping must catch) and a NaN."""
    image = image.copy()
    rng = np.random.default_rng(seed)
    ny, nx = image.shape[-2:]
    image[..., rng.integers(0, ny, 40), rng.integers(0, nx, 40)] += 3.0
    image[..., 7, 300] = np.nan
    return image


# ---- the statistics, against an obvious implementation ------------------------------


def test_lower_half_clip_against_obvious_statistics():
    rng = np.random.default_rng(1)
    image = rng.normal(10.0, 2.0, (200, 300))
    image[:50] += rng.exponential(6.0, (50, 300))  # a glow: a long upper tail
    mask = np.ones(image.shape, bool)
    clip_signal(image, mask, lower=2, upper=2, lower_half=True)
    # obvious: 3σ-clipped median (iterated to convergence), then the lower half mirrored
    values = image.ravel()
    keep = np.ones(values.size, bool)
    for _ in range(10):
        med, std = np.median(values[keep]), np.std(values[keep])
        keep = np.abs(values - med) <= 3 * std
    below = values[values <= med] - med
    mirrored = np.concatenate([below, -below]) + med
    keep = np.ones(mirrored.size, bool)
    for _ in range(10):
        centre, sigma = np.median(mirrored[keep]), np.std(mirrored[keep])
        keep = np.abs(mirrored - centre) <= 3 * sigma
    expected = (image >= centre - 2 * sigma) & (image <= centre + 2 * sigma)
    assert abs(sigma - 2.0) < 0.1  # the glow does not inflate σ
    assert np.mean(mask != expected) < 2e-3  # astropy stops after 5 clipping passes


def test_n_sigma_drops_residual_signal_from_the_fit():
    shape = (256, 2048)
    rng = np.random.default_rng(2)
    white = rng.normal(0, 1, shape).astype(np.float32)
    banding = rng.normal(0, 0.3, shape[1]).astype(np.float32)[None, :]
    mask = _mask(shape)
    trace = np.zeros(shape, bool)
    trace[20:100, 100:1900] = True  # a faint extended source the mask missed
    image = white + banding + np.where(trace, 8.0, 0.0).astype(np.float32)

    def banding_left(**options):
        model = image - clean(image, mask, "NRS1", "median", **options).cleaned
        error = (model - banding)[0, 100:1900]  # the fitted stripes vs the true ones
        return float(np.sqrt(np.mean((error - error.mean()) ** 2) + error.mean() ** 2))

    # the trace biases the stripes by ~0.1; clipped, only the median's own noise is left
    assert banding_left(n_sigma=2.0) < 0.75 * banding_left()


def test_allslits_uses_the_lower_cut():
    header = fits.Header({"SUBARRAY": "ALLSLITS"})
    assert params_for_file(CleanParams(), header).subarray_fc == ALLSLITS_FC
    assert params_for_file(CleanParams(subarray_fc=(1, 2, 3, 4)), header).subarray_fc == (
        1, 2, 3, 4)
    with pytest.raises(InputError, match="subarray_fc"):
        CleanParams(subarray_fc=(5, 2, 3, 4)).validated()


def test_median_image_on_one_integration_is_refused(tmp_path, capsys):
    rate = write_product(tmp_path / "one_rate.fits", banded_frame(3, SUB))
    other = write_product(tmp_path / "two_rateints.fits",
                          np.stack([banded_frame(4, SUB), banded_frame(5, SUB)]))
    mask = write_nsclean_fits(tmp_path / "m.fits", _mask(SUB))
    status = main(["clean", str(rate), str(other), "--mask", str(mask),
                   "--background", "median_image"])
    err = capsys.readouterr().err
    assert status == 1 and err.count("needs several integrations") == 1
    assert "this file has 1" in err and "Traceback" not in err
    assert not (tmp_path / "one_rate_nsclean.fits").exists()
    assert (tmp_path / "two_rateints_nsclean.fits").exists()


def test_median_image_removes_the_static_scene_before_fitting(tmp_path):
    scene = np.full(SUB, 10.0, np.float32)
    scene[12:20, 200:1800] = 50.0  # bright, and left in the mask on purpose
    cube = np.stack([scene + banded_frame(s, SUB) for s in (7, 8, 9)])
    source = write_product(tmp_path / "ts_rateints.fits", cube)
    mask = np.ones(SUB, bool)
    mask[:, :4] = mask[:, -4:] = False
    clean_file(source, mask, tmp_path / "ts_out.fits",
               params=CleanParams(method="median", background="median_image"))
    got = fits.getdata(tmp_path / "ts_out.fits", "SCI")
    # What differs from the median image (each integration's own banding) is removed;
    # the median image itself (scene and median banding) is restored as it was.
    median = np.median(cube, axis=0)
    assert np.abs(np.median(cube - median, axis=1)).max() > 0.02
    assert np.abs(np.median(got - median, axis=1)[:, 4:-4]).max() < 0.01
    assert np.abs(got[:, 15, 1000] - 50).max() < 0.2


def test_model_background_restored(tmp_path):
    pytest.importorskip("photutils")
    shape = (256, 2048)  # Background2D needs several boxes along each axis
    yy = np.linspace(0, 1, shape[0])[:, None]
    gradient = (5 * yy + np.linspace(0, 3, shape[1])[None, :]).astype(np.float32)
    image = gradient + banded_frame(10, shape)
    result = clean(image, _mask(shape), "NRS1", "median", background="model")
    assert result.background.shape == shape
    # the 2-D level follows the gradient (a single median could not)
    assert np.median(np.abs(result.background - gradient)) < 0.25  # from 0 to 8 across
    # the level is restored: the cleaned image keeps the gradient
    assert abs(np.mean(result.cleaned - gradient)) < 0.05


# ---- diagnostic products ------------------------------------------------------------


def test_diagnostic_products_named_and_shaped_like_the_step(tmp_path):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    cube = np.stack([banded_frame(11, SUB), banded_frame(12, SUB)])
    source = write_product(tmp_path / "jw_x_rateints.fits", cube)
    mask = write_nsclean_fits(tmp_path / "m.fits", _mask(SUB))
    out = tmp_path / "out"
    out.mkdir()
    assert main(["clean", str(source), "--mask", str(mask), "-o", str(out), "--save-mask",
                 "--save-background", "--save-noise"]) == 0
    cleaned = fits.getdata(out / "jw_x_rateints_nsclean.fits", "SCI")
    with datamodels.open(str(out / "jw_x_mask.fits")) as model:
        assert isinstance(model, datamodels.ImageModel) and model.data.shape == SUB
        np.testing.assert_array_equal(model.data.astype(bool), _mask(SUB))
    with datamodels.open(str(out / "jw_x_flicker_noise.fits")) as model:
        assert isinstance(model, datamodels.CubeModel)
        np.testing.assert_allclose(model.data, cleaned - cube, atol=1e-6)
    with datamodels.open(str(out / "jw_x_flicker_bkg.fits")) as model:
        assert model.data.shape == cube.shape
        for i in range(2):  # the median of that integration's background
            expected = np.median(cube[i][_mask(SUB)])
            assert np.ptp(model.data[i]) == 0 and model.data[i, 0, 0] == pytest.approx(
                expected, abs=2e-3)


def test_ramp_diagnostics_are_ramp_models(tmp_path):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    sci = banded_ramp(13, (1, 3, *SUB))
    source = write_ramp(tmp_path / "r_ramp.fits", sci)
    clean_file(source, _mask(SUB), tmp_path / "r_out.fits", params=CleanParams(method="median"),
               save=("background", "noise"))
    out = fits.getdata(tmp_path / "r_out.fits", "SCI")
    with datamodels.open(str(tmp_path / "r_flicker_noise.fits")) as model:
        assert isinstance(model, datamodels.RampModel)
        np.testing.assert_allclose(model.data, out - sci, atol=1e-4)
    with datamodels.open(str(tmp_path / "r_flicker_bkg.fits")) as model:
        assert model.data.shape == sci.shape and np.all(model.data[:, 0] == 0)


def test_existing_diagnostic_refused_before_writing(tmp_path):
    source = write_product(tmp_path / "e_rate.fits", banded_frame(14, SUB))
    (tmp_path / "e_mask.fits").write_text("mine")
    with pytest.raises(InputError, match="exists already"):
        clean_file(source, _mask(SUB), tmp_path / "e_out.fits", save=("mask",))
    assert not (tmp_path / "e_out.fits").exists()


# ---- the preset against the pipeline ------------------------------------------------

flicker = pytest.importorskip("jwst.clean_flicker_noise.clean_flicker_noise")


def _meta(model, subarray="SUB2048"):
    model.meta.instrument.name = "NIRSPEC"
    model.meta.instrument.detector = "NRS1"
    model.meta.exposure.type = "NRS_BRIGHTOBJ"
    model.meta.subarray.name = subarray
    model.meta.subarray.slowaxis = 1
    return model


def _step(model, tmp_path, mask, method):
    user_mask = write_jwst_mask(tmp_path / "user_mask.fits", mask)
    out, *_rest, status = flicker.do_correction(model, fit_method=method,
                                                user_mask=str(user_mask))
    assert status == "COMPLETE"
    return out.data


@pytest.mark.parametrize("method", ["fft", "median"])
@pytest.mark.parametrize("subarray", ["SUB2048", "ALLSLITS"])
def test_like_pipeline_rate_and_rateints(tmp_path, method, subarray):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    cube = _with_signal(np.stack([banded_frame(20, SUB), banded_frame(21, SUB)]) * 50 + 3)
    mask = _mask(SUB)
    for data in (cube[0], cube):
        model_type = datamodels.ImageModel if data.ndim == 2 else datamodels.CubeModel
        expected = _step(_meta(model_type(data=data.copy()), subarray), tmp_path, mask, method)
        source = write_product(tmp_path / f"s{data.ndim}_rate.fits", data)
        with fits.open(source, mode="update") as hdul:
            hdul[0].header["SUBARRAY"] = subarray
        target = tmp_path / f"s{data.ndim}_out.fits"
        clean_file(source, mask, target, params=CleanParams.pipeline(method=method))
        got = fits.getdata(target, "SCI")
        scale = np.nanmax(np.abs(data - expected))
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        assert np.nanmax(np.abs(got - expected)) < 1e-5 * max(scale, 1.0) + 2e-6 * np.nanmax(
            np.abs(data))


@pytest.mark.parametrize("method", ["fft", "median"])
def test_like_pipeline_ramp(tmp_path, method):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    sci = banded_ramp(22, (2, 4, *SUB))
    gdq = np.zeros(sci.shape, np.uint8)
    gdq[0, 2, 10, 50:60] = 4
    sci[0, 2:, 10, 50:60] += 400.0
    mask = _mask(SUB)
    model = _meta(datamodels.RampModel(data=sci.copy(), groupdq=gdq.copy(),
                                       pixeldq=np.zeros(SUB, np.uint32)))
    expected = _step(model, tmp_path, mask, method)
    source = write_ramp(tmp_path / "p_ramp.fits", sci, groupdq=gdq)
    clean_file(source, mask, tmp_path / "p_out.fits", params=CleanParams.pipeline(method=method))
    got = fits.getdata(tmp_path / "p_out.fits", "SCI")
    assert np.abs(got - expected).max() < 2e-6 * np.abs(sci).max() + 1e-5
