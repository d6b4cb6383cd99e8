"""``nsclean clean`` as a user runs it: exit codes, stderr, outputs, parallel jobs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from app.cli import main
from app.core.mask.formats import write_nsclean_fits
from tests.core.products_factory import banded_frame, write_product


@pytest.fixture
def mask_file(tmp_path):
    mask = np.ones((2048, 2048), bool)
    mask[900:1000] = False
    return write_nsclean_fits(tmp_path / "mask.fits", mask)


def test_good_and_bad_files(tmp_path, mask_file, capsys):
    good = write_product(tmp_path / "g_rate.fits", banded_frame(1))
    bad = tmp_path / "b_rate.fits"
    bad.write_text("garbage")
    status = main(["clean", str(bad), str(good), "--mask", str(mask_file)])
    err = capsys.readouterr().err
    assert status == 1
    assert "b_rate.fits: not a readable FITS file" in err
    assert "Traceback" not in err
    # one line per file, no stray colon before the arrow
    assert f"[2/2] {good} -> {tmp_path / 'g_rate_nsclean.fits'}\n" in err
    assert f"[1/2] {bad}: FAILED\n" in err
    out = tmp_path / "g_rate_nsclean.fits"
    assert out.exists() and fits.getheader(out)["NSC_METH"] == "fft"
    assert not (tmp_path / "b_rate_nsclean.fits").exists()


def test_parallel_jobs_output_dir_and_suffix(tmp_path, mask_file, capsys):
    files = [write_product(tmp_path / f"f{i}_rate.fits", banded_frame(i)) for i in range(3)]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    status = main(["clean", *map(str, files), "--mask", str(mask_file), "-j", "2", "-o",
                   str(out_dir), "--suffix", "_c", "--no-buff", "--fc", "0.005"])
    assert status == 0, capsys.readouterr().err
    for i in range(3):
        header = fits.getheader(out_dir / f"f{i}_rate_c.fits")
        assert header["NSC_BUFF"] is False and header["NSC_FC"] == 0.005
    # a second run refuses to overwrite, then --overwrite replaces
    assert main(["clean", str(files[0]), "--mask", str(mask_file), "-o", str(out_dir),
                 "--suffix", "_c"]) == 1
    assert "exists already" in capsys.readouterr().err
    assert main(["clean", str(files[0]), "--mask", str(mask_file), "-o", str(out_dir),
                 "--suffix", "_c", "--overwrite"]) == 0


def test_unfit_lines_are_reported(tmp_path, capsys):
    mask = np.ones((2048, 2048), bool)
    mask[:, 300:305] = False
    mask_file = write_nsclean_fits(tmp_path / "holes.fits", mask)
    good = write_product(tmp_path / "h_rate.fits", banded_frame(2))
    assert main(["clean", str(good), "--mask", str(mask_file)]) == 0
    assert "5 detector lines have fewer than 10 background samples" in capsys.readouterr().err


def test_bad_mask_and_options(tmp_path, mask_file, capsys):
    good = write_product(tmp_path / "m_rate.fits", banded_frame(3))
    small = write_nsclean_fits(tmp_path / "small.fits", np.ones((64, 64), bool))
    assert main(["clean", str(good), "--mask", str(small)]) == 1
    assert "does not match" in capsys.readouterr().err
    assert main(["clean", str(good), "--mask", str(tmp_path / "nope.fits")]) == 1
    assert "nope.fits" in capsys.readouterr().err
    assert main(["clean", str(good), "--mask", str(mask_file), "--fc", "0.9"]) == 1
    assert "fc" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["clean", str(good)])  # --mask is required: argparse explains and exits 2


def test_help_explains_parameters(capsys):
    with pytest.raises(SystemExit):
        main(["clean", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal
    for words in ("--fc", "cycles per pixel", "--sigrej", "--no-buff", "--weight-sigma"):
        assert words in text


def test_line_warnings_of_a_rateints_name_each_set_of_lines_once():
    from types import SimpleNamespace

    from app.cli.clean_workers import _line_warnings

    def diag(unfit, reduced=()):
        return SimpleNamespace(unfit_lines=np.array(unfit, int),
                               reduced_lines=np.array(reduced, int), min_samples=10)

    same = [diag([5, 6, 7]), diag([5, 6, 7], [900]), diag([5, 6, 7], [900]), diag([8])]
    warnings = _line_warnings(Path("x_rateints.fits"), same)
    assert warnings == [
        "x_rateints.fits integrations 1-3: warning: 3 detector lines have fewer than 10 "
        "background samples and were not fitted (buffing gives them part of the neighbours' "
        "model) (lines 5-7)",
        "x_rateints.fits integrations 2-3: warning: 1 detector line has its background in "
        "too few places for the Fourier fit; only the mean level was removed (lines 900)",
        "x_rateints.fits integration 4: warning: 1 detector line has fewer than 10 "
        "background samples and was not fitted (buffing gives it part of the neighbours' "
        "model) (lines 8)"]
    everywhere = _line_warnings(Path("y.fits"), [diag([1]), diag([1])])
    assert everywhere == ["y.fits (all 2 integrations): warning: 1 detector line has fewer "
                          "than 10 background samples and was not fitted (buffing gives it "
                          "part of the neighbours' model) (lines 1)"]
    assert _line_warnings(Path("z_rate.fits"), [diag([2])])[0].startswith(
        "z_rate.fits: warning: 1 detector line has")
