"""``nsclean mask``: masks from simulated rate files checked against the simulation's truth."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from app.cli import main
from app.core.mask.formats import read_mask
from app.core.simulation.simulate import simulate_exposure, write_simulation
from app.core.threshold.traces import ThresholdSettings

SHAPE = (256, 768)  # a window of the detector: the whole command runs in about a second


@pytest.fixture(scope="module")
def sim():
    return simulate_exposure("mos", "NRS1", nints=2, seed=5, shape=SHAPE)


@pytest.fixture
def rates(tmp_path, sim):
    """Two files (the same exposure twice: what matters is that both are read)."""
    paths = [tmp_path / "a_rateints.fits", tmp_path / "b_rateints.fits"]
    for path in paths:
        write_simulation(sim, path)
    return paths


def test_mask_from_two_files_matches_the_truth(tmp_path, rates, sim, capsys):
    out = tmp_path / "mask.fits"
    assert main(["mask", *map(str, rates), "-o", str(out), "--combine", "median"]) == 0
    printed = capsys.readouterr().out
    assert "4 frame(s)" in printed and "background coverage (NRS1" in printed
    mask = read_mask(out).mask
    ideal = sim.ideal_mask
    contamination = np.count_nonzero(mask & ~ideal) / np.count_nonzero(mask)
    completeness = np.count_nonzero(mask & ideal) / np.count_nonzero(ideal)
    assert contamination < 0.005 and completeness > 0.75  # the targets of issue 7
    header = fits.getheader(out)
    assert header["NSC_NSRC"] == 2 and header["NSC_THR"] == pytest.approx(ThresholdSettings().sigma)
    history = "".join(str(line) for line in header["HISTORY"])  # FITS wraps long lines
    assert "a_rateints.fits, b_rateints.fits" in history


def test_formats_hold_the_same_mask(tmp_path, rates):
    reference = tmp_path / "m.fits"
    assert main(["mask", str(rates[0]), "-o", str(reference)]) == 0
    expected = read_mask(reference).mask
    for kind, name in (("jwst", "m_jwst.fits"), ("png", "m.png")):
        path = tmp_path / name
        assert main(["mask", str(rates[0]), "-o", str(path), "--format", kind]) == 0
        np.testing.assert_array_equal(read_mask(path, border=0).mask, expected)
    with fits.open(tmp_path / "m_jwst.fits") as hdul:
        assert hdul[0].header["DATAMODL"] == "ImageModel"
        assert hdul[0].header["DETECTOR"] == "NRS1"


def test_settings_reach_the_threshold(tmp_path, rates):
    paths = {}
    for label, extra in (("default", []), ("strict", ["--sigma", "6", "--grow", "0",
                                                      "--bright-grow", "0", "--smooth",
                                                      "median:1"])):
        paths[label] = tmp_path / f"{label}.fits"
        assert main(["mask", str(rates[0]), "-o", str(paths[label]), *extra]) == 0
    default, strict = (read_mask(p).mask for p in paths.values())
    assert np.count_nonzero(strict) > np.count_nonzero(default)  # less light, more background
    assert fits.getheader(paths["strict"])["NSC_THR"] == 6


def _one_error_line(capsys, *text):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("nsclean: error:"), err
    for part in text:
        assert part in err, err


def test_existing_output_needs_overwrite(tmp_path, rates, capsys):
    out = tmp_path / "mask.fits"
    out.write_bytes(b"keep me")
    assert main(["mask", str(rates[0]), "-o", str(out)]) == 1
    _one_error_line(capsys, "exists already", "--overwrite")
    assert out.read_bytes() == b"keep me"
    assert main(["mask", str(rates[0]), "-o", str(out), "--overwrite"]) == 0
    assert read_mask(out).mask.any()


def test_an_input_is_never_overwritten(tmp_path, rates, capsys):
    before = rates[1].read_bytes()
    assert main(["mask", *map(str, rates), "-o", str(rates[1]), "--overwrite"]) == 1
    _one_error_line(capsys, "is one of the input files")
    assert rates[1].read_bytes() == before


def test_all_nan_input_is_refused(tmp_path, sim, capsys):
    path = tmp_path / "nan_rate.fits"
    write_simulation(sim, path)
    with fits.open(path, mode="update") as hdul:
        hdul["SCI"].data[...] = np.nan
    out = tmp_path / "mask.fits"
    assert main(["mask", str(path), "-o", str(out)]) == 1
    _one_error_line(capsys, "nan_rate.fits", "no usable pixel")
    assert not out.exists()


def test_a_threshold_that_finds_nothing_writes_nothing(tmp_path, rates, capsys):
    out = tmp_path / "mask.fits"
    assert main(["mask", str(rates[0]), "-o", str(out), "--sigma", "1e6"]) == 1
    _one_error_line(capsys, "a_rateints.fits", "nothing rises above")
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["--sigma", "0"], "sigma must be positive"),
    (["--grow", "-2"], "grow must be a whole number"),
    (["-o", "{tmp}/mask.txt"], "needs a name ending in"),
    (["-o", "{tmp}"], "is a folder"),
])
def test_bad_options(tmp_path, rates, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "-o" not in argv:
        argv += ["-o", str(tmp_path / "mask.fits")]
    assert main(["mask", str(rates[0]), *argv]) == 1
    _one_error_line(capsys, message)


def test_missing_file_and_bad_smoothing(tmp_path, capsys):
    assert main(["mask", str(tmp_path / "nope.fits"), "-o", str(tmp_path / "m.fits")]) == 1
    _one_error_line(capsys, "nope.fits")
    with pytest.raises(SystemExit) as exit_info:
        main(["mask", "x.fits", "-o", "m.fits", "--smooth", "box"])
    assert exit_info.value.code == 2
    assert "expected gaussian, median, none" in capsys.readouterr().err


def test_a_missing_output_folder_is_refused_before_thresholding(tmp_path, capsys, monkeypatch):
    import app.core.threshold.traces as traces
    from app.cli import main
    from tests.core.products_factory import banded_frame, write_product

    rate = write_product(tmp_path / "a_rate.fits", banded_frame(0, (32, 2048)))
    monkeypatch.setattr(traces.Thresholder, "threshold", lambda *a, **k: 1 / 0)
    assert main(["mask", str(rate), "-o", str(tmp_path / "nope" / "m.fits")]) == 1
    err = capsys.readouterr().err
    assert "nope/m.fits: cannot write into" in err and "does not exist" in err, err
