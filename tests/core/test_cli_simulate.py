"""``nsclean simulate``: exit codes, messages, files, and no debris on failure."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from app.cli import main
from app.core.files.products import read_product
from app.core.simulation.simulate import read_simulation, simulate_exposure


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_writes_a_rate_file_with_truth(tmp_path, capsys):
    target = tmp_path / "sim_bots_nrs2_rate.fits"
    code = main(["simulate", "--scene", "bots", "--detector", "nrs2", "--seed", "4",
                 "-o", str(target)])
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    product = read_product(target)
    header = product.primary_header
    assert not product.is_cube and product.shape == (32, 2048)
    assert (header["DETECTOR"], header["EXP_TYPE"], header["SUBARRAY"]) == (
        "NRS2", "NRS_BRIGHTOBJ", "SUB2048")
    # the file holds exactly what the in-memory API makes for the same arguments
    sim = simulate_exposure("bots", "NRS2", seed=4)
    back = read_simulation(target)
    np.testing.assert_array_equal(back.product.sci, sim.product.sci)
    np.testing.assert_array_equal(back.correlated_noise, sim.correlated_noise)
    np.testing.assert_array_equal(back.ideal_mask, sim.ideal_mask)
    assert _names(tmp_path) == [target.name]


def test_rateints_and_taller_subarray(tmp_path):
    target = tmp_path / "b_rateints.fits"
    assert main(["simulate", "--scene", "bots", "--subsize", "512", "--nints", "2",
                 "-o", str(target)]) == 0
    with fits.open(target) as hdul:
        assert hdul["SCI"].data.shape == (2, 512, 2048)
        assert hdul["TRUTH_NOISE"].data.shape == (2, 512, 2048)
        assert hdul["TRUTH_MASK"].data.dtype == np.uint8
        assert hdul[0].header["SUBSIZE2"] == 512


def test_full_frame_ifu(tmp_path):
    target = tmp_path / "ifu_rate.fits"
    assert main(["simulate", "--scene", "ifu", "-o", str(target)]) == 0
    product = read_product(target)
    assert product.shape == (2048, 2048) and product.exp_type == "NRS_IFU"
    assert product.primary_header["READPATT"] == "NRSIRS2RAPID"


def test_readpatt_sets_the_timing_and_header(tmp_path, capsys):
    target = tmp_path / "fs_rate.fits"
    assert main(["simulate", "--scene", "fs", "--readpatt", "nrsrapid", "-o",
                 str(target)]) == 0
    assert "NRSRAPID" in capsys.readouterr().out
    header = read_product(target).primary_header
    assert header["READPATT"] == "NRSRAPID" and "NRS_NORM" not in header


def test_refuses_to_overwrite(tmp_path, capsys):
    target = tmp_path / "a.fits"
    target.write_bytes(b"precious")
    assert main(["simulate", "--scene", "bots", "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert "exists" in err and "--overwrite" in err and "Traceback" not in err
    assert target.read_bytes() == b"precious"
    assert main(["simulate", "--scene", "bots", "-o", str(target), "--overwrite"]) == 0
    assert read_product(target).shape == (32, 2048)


@pytest.mark.parametrize(
    "argv",
    [
        ["--scene", "slitless"],
        ["--detector", "NRS3"],
        ["--nints", "0"],
        ["--seed", "-2"],
        ["--subsize", "64", "--scene", "bots"],
        ["--readpatt", "IRS3"],
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path, capsys, argv):
    target = tmp_path / "x.fits"
    with pytest.raises(SystemExit) as info:
        main(["simulate", *argv, "-o", str(target)])
    assert info.value.code == 2
    assert "error" in capsys.readouterr().err
    assert _names(tmp_path) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scene", "ifu", "--subsize", "32"], "bots only"),
        (["--scene", "bots"], "must end in .fits"),
        (["--scene", "bots", "--readpatt", "NRSIRS2"], "full 2048-pixel detector lines"),
    ],
)
def test_bad_combinations_exit_1(tmp_path, capsys, argv, message):
    target = tmp_path / ("x.txt" if "must end" in message else "x.fits")
    assert main(["simulate", *argv, "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert _names(tmp_path) == []


def test_unwritable_destination(tmp_path, capsys):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    assert main(["simulate", "--scene", "bots", "-o", str(blocker / "a.fits")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["simulate", "--scene", "bots", "-o", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err
    assert _names(tmp_path) == ["not_a_folder"]


def test_failed_write_leaves_nothing(tmp_path, capsys, monkeypatch):
    def fail(self, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"SIMPLE  = half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fits.HDUList, "writeto", fail)
    target = tmp_path / "a.fits"
    assert main(["simulate", "--scene", "bots", "-o", str(target)]) == 1
    assert "No space left" in capsys.readouterr().err
    assert _names(tmp_path) == []
