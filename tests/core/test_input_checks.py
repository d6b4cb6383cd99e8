"""Masks know their detector; clean, mask and tune take detector frames not cleaned yet."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from app.cli import main
from app.core.errors import InputError
from app.core.files.products import read_product
from app.core.mask import formats
from tests.conftest import PUBLISHED_MASKS
from tests.core.products_factory import banded_frame, write_product

SHAPE = (2048, 2048)


def a_mask() -> np.ndarray:
    mask = np.zeros(SHAPE, bool)
    mask[4:-4, 4:-4] = True
    mask[900:1000] = False
    return mask


@pytest.mark.parametrize("kind", ["nsclean", "jwst", "png"])
def test_every_written_mask_records_its_detector(tmp_path, kind):
    name = "m.png" if kind == "png" else "m.fits"
    path = formats.write_mask(tmp_path / name, a_mask(), kind, detector="nrs2")
    read = formats.read_mask(path)
    assert read.detector == "NRS2"
    if kind != "png":
        assert fits.getheader(path)["DETECTOR"] == "NRS2"
    else:
        assert Image.open(path).text["DETECTOR"] == "NRS2"


def test_nsclean_mask_cli_records_the_detector(tmp_path, capsys):
    from app.core.simulation.simulate import simulate_exposure, write_simulation

    sim = simulate_exposure("mos", "NRS2", seed=5, shape=(256, 768))
    rate = tmp_path / "a_rate.fits"
    write_simulation(sim, rate)
    for kind, name in (("nsclean", "m.fits"), ("png", "m.png"), ("jwst", "j.fits")):
        assert main(["mask", str(rate), "-o", str(tmp_path / name), "--format", kind]) == 0
        assert formats.read_mask(tmp_path / name).detector == "NRS2"


@pytest.fixture
def nrs2_mask(tmp_path):
    return formats.write_jwst_mask(tmp_path / "nrs2_user_mask.fits", a_mask(), detector="NRS2")


def test_clean_refuses_a_mask_of_the_other_detector_naming_both(tmp_path, nrs2_mask, capsys):
    rate = write_product(tmp_path / "a_rate.fits", banded_frame(1), detector="NRS1")
    status = main(["clean", str(rate), "--mask", str(nrs2_mask)])
    err = capsys.readouterr().err
    assert status == 1 and "NRS2" in err and "NRS1" in err and "--any-mask-detector" in err
    assert "Traceback" not in err
    assert not (tmp_path / "a_rate_nsclean.fits").exists()
    # the explicit option overrides
    assert main(["clean", str(rate), "--mask", str(nrs2_mask), "--any-mask-detector"]) == 0
    assert (tmp_path / "a_rate_nsclean.fits").exists()


def test_tune_refuses_a_mask_of_the_other_detector(tmp_path, nrs2_mask, capsys):
    rate = write_product(tmp_path / "a_rate.fits", banded_frame(1), detector="NRS1")
    assert main(["tune", str(rate), "--mask", str(nrs2_mask)]) == 1
    err = capsys.readouterr().err
    assert "made for NRS2" in err and "is NRS1" in err


def test_same_detector_and_published_masks_are_accepted(tmp_path, nrs2_mask):
    rate = write_product(tmp_path / "b_rate.fits", banded_frame(2), detector="NRS2")
    assert main(["clean", str(rate), "--mask", str(nrs2_mask)]) == 0
    folder = PUBLISHED_MASKS
    if not folder.is_dir():
        pytest.skip("../shared/data/nsclean-masks is absent")
    published = folder / "nrs1_ifu_mask_thorough.fits.gz"
    assert formats.read_mask(published).detector is None  # records none: accepted anywhere
    assert main(["clean", str(rate), "--mask", str(published), "--suffix", "_p"]) == 0


def write_cal(path, slits: int, sltname: bool = True, shape=(40, 300)):
    """A MOS/FS-like cal file: one SCI (and DQ) extension per slit cutout."""
    hdus = [fits.PrimaryHDU()]
    hdus[0].header["DETECTOR"] = "NRS1"
    hdus[0].header["EXP_TYPE"] = "NRS_MSASPEC"
    for i in range(slits):
        sci = fits.ImageHDU(np.zeros(shape, np.float32), name="SCI", ver=i + 1)
        if sltname:
            sci.header["SLTNAME"] = str(i + 1)
        hdus += [sci, fits.ImageHDU(np.zeros(shape, np.uint32), name="DQ", ver=i + 1)]
    fits.HDUList(hdus).writeto(path)
    return path


@pytest.mark.parametrize(("slits", "sltname", "said"), [(3, True, "3 slit cutouts"),
                                                         (1, True, "SLTNAME")])
def test_cal_cutouts_are_refused_by_clean_mask_and_tune(tmp_path, capsys, slits, sltname, said):
    cal = write_cal(tmp_path / "x_cal.fits", slits, sltname)
    mask = formats.write_nsclean_fits(tmp_path / "m.fits", np.ones((40, 300), bool))
    with pytest.raises(InputError, match="NSClean needs detector frames"):
        read_product(cal)
    for argv in (["clean", str(cal), "--mask", str(mask)],
                 ["mask", str(cal), "-o", str(tmp_path / "new.fits")],
                 ["tune", str(cal), "--mask", str(mask)]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert said in err and "rate or rateints" in err and "Traceback" not in err
    assert not (tmp_path / "x_cal_nsclean.fits").exists()
    assert not (tmp_path / "new.fits").exists()


def test_an_ifu_cal_full_frame_is_accepted(tmp_path):
    cal = write_product(tmp_path / "ifu_cal.fits", banded_frame(3))
    assert read_product(cal).shape == SHAPE


def test_a_cleaned_file_is_refused_unless_forced(tmp_path, capsys):
    mask = formats.write_nsclean_fits(tmp_path / "m.fits", a_mask())
    rate = write_product(tmp_path / "a_rate.fits", banded_frame(4))
    assert main(["clean", str(rate), "--mask", str(mask)]) == 0
    cleaned = tmp_path / "a_rate_nsclean.fits"
    capsys.readouterr()
    for argv in (["clean", str(cleaned), "--mask", str(mask)],
                 ["clean", str(cleaned), "--mask", str(mask), "--tune"],
                 ["tune", str(cleaned), "--mask", str(mask)],
                 ["mask", str(cleaned), "-o", str(tmp_path / "from_cleaned.fits")]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "was cleaned already" in err and "--force" in err
    assert not (tmp_path / "a_rate_nsclean_nsclean.fits").exists()
    assert main(["clean", str(cleaned), "--mask", str(mask), "--force"]) == 0
    assert (tmp_path / "a_rate_nsclean_nsclean.fits").exists()


def test_a_simulated_file_is_not_taken_for_a_cleaned_one(tmp_path):
    from app.core.files.frames import cleaned_already
    from app.core.simulation.simulate import simulate_exposure

    sim = simulate_exposure("fs", "NRS1", seed=0, shape=(64, 2048))
    assert any(k.startswith("NSC_") for k in sim.product.primary_header)
    assert not cleaned_already(sim.product.primary_header)
