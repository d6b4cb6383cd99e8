"""Cleaning whole files: integrations, headers kept, provenance, inputs untouched."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from astropy.io import fits

from app.core.clean import clean
from app.core.errors import InputError, MaskError
from app.core.files.batch import clean_file, output_path
from app.core.files.products import read_product
from tests.core.products_factory import banded_frame, write_product


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def mask():
    m = np.ones((2048, 2048), bool)
    m[1000:1100] = False
    return m


def test_rateints_each_integration_cleaned_on_its_own(tmp_path, mask):
    cube = np.stack([banded_frame(1), banded_frame(2), banded_frame(3)])
    source = write_product(tmp_path / "x_rateints.fits", cube, detector="NRS2")
    before = _sha(source)
    target = tmp_path / "x_rateints_nsclean.fits"
    result = clean_file(source, mask, target, mask_name="m.fits")
    assert _sha(source) == before
    assert len(result.diagnostics) == 3
    with fits.open(target) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "ERR", "DQ", "EXTRA"]
        assert hdul["SCI"].data.shape == cube.shape
        for i in range(3):
            expected = clean(cube[i], mask, "NRS2").cleaned
            np.testing.assert_allclose(hdul["SCI"].data[i], expected, atol=1e-6)
        header = hdul[0].header
        assert header["DETECTOR"] == "NRS2" and header["NSC_METH"] == "fft"
        assert header["NSC_MASK"] == "m.fits" and header["NSC_BUFF"] is True
        assert any("nsclean-gui" in str(h) for h in header["HISTORY"])
        assert np.array_equal(hdul["ERR"].data, np.ones_like(cube))


def test_provenance_reproduces_the_real_fit(tmp_path, mask):
    from app.core.clean import CleanParams

    source = write_product(tmp_path / "y_rate.fits", banded_frame(4)[None], detector="NRS1")
    params = CleanParams(fit="real", ridge=0.5, fc=1 / 128, kw=1 / 512)
    clean_file(source, mask, tmp_path / "y_nsclean.fits", params=params, mask_name="m.fits")
    with fits.open(tmp_path / "y_nsclean.fits") as hdul:
        header = hdul[0].header
        again = CleanParams(fc=header["NSC_FC"], kw=header["NSC_KW"], fit=header["NSC_FIT"],
                            ridge=header["NSC_RIDG"], sigrej=header["NSC_SREJ"],
                            weight_sigma=header["NSC_WSIG"], buff=header["NSC_BUFF"],
                            buff_sigma=header["NSC_BSIG"])
        assert again.as_dict() == params.as_dict()


def test_gzipped_input_and_output(tmp_path, mask):
    source = write_product(tmp_path / "y_rate.fits.gz", banded_frame(4))
    target = output_path(source)
    assert target.name == "y_rate_nsclean.fits.gz"
    clean_file(source, mask, target)
    assert read_product(target).sci.shape == (1, 2048, 2048)
    with open(target, "rb") as fh:
        assert fh.read(2) == b"\x1f\x8b"


def test_nan_stays_nan_and_dq_do_not_use_ignored(tmp_path, mask):
    sci = banded_frame(5)
    sci[10:20, 30:40] = np.nan
    dq = np.zeros(sci.shape, np.uint32)
    dq[500:510, :] = 1
    sci[500:510, :] = 1e5
    source = write_product(tmp_path / "z_cal.fits", sci, dq=dq)
    result = clean_file(source, mask, tmp_path / "out.fits")
    out = fits.getdata(tmp_path / "out.fits", "SCI")
    assert np.isnan(out[10:20, 30:40]).all()
    assert np.isfinite(out[:10]).all()
    assert result.diagnostics[0].background_level < 1.0  # the 1e5 pixels were not background


def test_refuses_to_overwrite(tmp_path, mask):
    source = write_product(tmp_path / "a_rate.fits", banded_frame(6))
    with pytest.raises(InputError, match="input file"):
        clean_file(source, mask, source, overwrite=True)
    target = tmp_path / "b.fits"
    target.write_text("keep me")
    with pytest.raises(InputError, match="exists"):
        clean_file(source, mask, target)
    assert target.read_text() == "keep me"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("not fits at all"), "not a readable FITS"),
        (lambda p: fits.PrimaryHDU(np.zeros((4, 4))).writeto(p), "no SCI extension"),
        (lambda p: fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros(5), name="SCI")]
                                ).writeto(p), "2-D or 3-D"),
    ],
)
def test_bad_files_give_clear_messages_and_no_output(tmp_path, mask, make, message):
    source = tmp_path / "bad.fits"
    make(source)
    target = tmp_path / "bad_out.fits"
    with pytest.raises(InputError, match=message):
        clean_file(source, mask, target)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.fits"]


def test_truncated_file(tmp_path, mask):
    good = write_product(tmp_path / "t_rate.fits", banded_frame(7))
    cut = tmp_path / "cut_rate.fits"
    cut.write_bytes(good.read_bytes()[: 3 * 2880 + 100000])
    with pytest.raises(InputError, match=r"cut_rate\.fits"):
        clean_file(cut, mask, tmp_path / "cut_out.fits")
    assert not (tmp_path / "cut_out.fits").exists()


def test_missing_detector_and_mask_mismatch(tmp_path, mask):
    source = write_product(tmp_path / "nodet_rate.fits", banded_frame(8), detector=None)
    with pytest.raises(InputError, match="DETECTOR"):
        clean_file(source, mask, tmp_path / "o1.fits")
    clean_file(source, mask, tmp_path / "o2.fits", detector="NRS1")
    with pytest.raises(MaskError, match="does not match"):
        clean_file(source, mask[:100], tmp_path / "o3.fits", detector="NRS1")
    with pytest.raises(MaskError, match="no usable background"):
        clean_file(source, np.zeros_like(mask), tmp_path / "o4.fits", detector="NRS1")
    assert not (tmp_path / "o3.fits").exists() and not (tmp_path / "o4.fits").exists()
