"""Bad options and unexpected failures of ``nsclean``: one line on stderr, exit 1, no output."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from app.cli import main
from app.core.clean import CleanParams
from app.core.errors import InputError
from app.core.mask.formats import write_nsclean_fits
from tests.core.products_factory import banded_frame, write_product


@pytest.fixture
def bots(tmp_path):
    """A small subarray exposure and its all-background mask (cleaned in milliseconds)."""
    rate = write_product(tmp_path / "s_rate.fits", banded_frame(0, (32, 2048)))
    mask = write_nsclean_fits(tmp_path / "m.fits", np.ones((32, 2048), bool))
    return rate, mask


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Warning" not in err, err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1, err
    return errors[0]


@pytest.mark.parametrize(("option", "message"), [
    (["--sigrej", "inf"], "sigrej must be between 0.5 and 1e+06"),
    (["--weight-sigma", "inf"], "weight_sigma must be between 0.5 and 2048 pixels"),
    (["--buff-sigma", "inf"], "buff_sigma must be between 0.5 and 256 lines"),
    (["--fit", "real", "--ridge", "inf"], "ridge must be between 0 and 10000"),
    # inside float range, but the kernels underflow or overflow: NaN or nothing cleaned
    (["--buff-sigma", "1e-300"], "buff_sigma must be between"),
    (["--buff-sigma", "1e300"], "buff_sigma must be between"),
    (["--weight-sigma", "1e-300"], "weight_sigma must be between"),
    (["--weight-sigma", "1e300"], "weight_sigma must be between"),
    (["--fit", "real", "--ridge", "1e308"], "ridge must be between"),
    (["--sigrej", "nan"], "sigrej must be between"),
    (["--fc", "0.004", "--kw", "0.01"], "need 0 ≤ fc - kw/2")])
def test_parameters_out_of_range_are_refused_before_cleaning(tmp_path, bots, capsys, option,
                                                             message):
    rate, mask = bots
    assert main(["clean", str(rate), "--mask", str(mask), *option]) == 1
    assert message in one_error_line(capsys)
    assert not (tmp_path / "s_rate_nsclean.fits").exists()


def test_kw_up_to_twice_fc_is_accepted():
    assert CleanParams(fc=0.004, kw=0.008).validated().kill_width == 0.008
    with pytest.raises(InputError, match="fc - kw/2") as info:
        CleanParams(fc=0.004, kw=0.0081).validated()
    assert "8.192 and 16.5888 cycles per 2048-pixel line" in str(info.value)  # the form's unit


@pytest.mark.parametrize("name", ["sigrej", "weight_sigma", "buff_sigma", "ridge"])
def test_the_ends_of_each_parameter_range_clean_to_finite_output(name):
    from dataclasses import replace

    from app.core.clean import PARAM_RANGES, clean

    rng = np.random.default_rng(5)
    image = rng.normal(size=(2048, 2048)).astype(np.float32)
    mask = np.ones(image.shape, bool)
    mask[:, 900:1100] = False
    for value in PARAM_RANGES[name][:2]:
        params = replace(CleanParams(fit="real" if name == "ridge" else "complex"),
                         **{name: value})
        result = clean(image, mask, "NRS1", params=params)
        assert np.isfinite(result.cleaned).all(), (name, value)
        # the model stays of the order of the noise: no kernel amplifies it
        assert np.abs(result.model).max() < 3, (name, value)


def test_a_line_whose_model_is_not_finite_is_left_uncleaned(monkeypatch):
    import app.core.clean as core_clean

    def broken_median(data, usable, by_channel=False):
        model = np.zeros(data.shape, np.float32)
        model[:, 7] = np.nan
        model[:, 9] = np.inf
        return model, np.full(data.shape[1], 100), np.zeros(data.shape[1], bool)

    monkeypatch.setattr(core_clean, "median_model", broken_median)
    image = np.ones((64, 64), np.float32)
    result = core_clean.clean(image, np.ones(image.shape, bool), "NRS1", "median")
    assert np.array_equal(result.cleaned, image)
    assert np.isfinite(result.model).all()
    assert len(result.diagnostics.unfit_lines) == 2


def test_an_unexpected_exception_is_one_line(monkeypatch, tmp_path, capsys):
    import app.cli.simulate

    def broken(args):
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr(app.cli.simulate, "run", broken)
    monkeypatch.delenv("NSCLEAN_DEBUG", raising=False)
    assert main(["simulate", "-o", str(tmp_path / "x.fits")]) == 1
    line = one_error_line(capsys)
    assert "RuntimeError: something nobody foresaw" in line and "NSCLEAN_DEBUG" in line


@pytest.mark.parametrize(("option", "message"), [
    (["--smooth", "gaussian:inf"], "smooth_size must be a finite number"),
    (["--elongation", "inf"], "elongation must be a finite number"),
    (["--low-sigma", "inf"], "low_sigma must be a finite number"),
    (["--smooth", "median:1e9"], "too large"),
    (["--smooth", "median:5000"], "too large")])
def test_mask_smoothing_out_of_range_is_one_line(tmp_path, bots, capsys, option, message):
    rate, _ = bots
    assert main(["mask", str(rate), "-o", str(tmp_path / "out.fits"), *option]) == 1
    assert message in one_error_line(capsys)
    assert not (tmp_path / "out.fits").exists()


def test_negative_tune_seed_is_refused(tmp_path, bots, capsys):
    rate, mask = bots
    for command in (["tune", str(rate)], ["clean", str(rate), "--tune-once"],
                    ["clean", str(rate), "--tune"]):
        assert main([*command, "--mask", str(mask), "--tune-seed", "-1"]) == 1
        assert "seed must be a whole number ≥ 0" in one_error_line(capsys)
    assert not (tmp_path / "s_rate_nsclean.fits").exists()


def test_tune_names_the_file_it_cannot_tune(bots, capsys):
    rate, mask = bots  # a subarray: nothing to tune
    assert main(["tune", str(rate), "--mask", str(mask)]) == 1
    line = one_error_line(capsys)
    assert line.startswith(f"nsclean: error: {rate}: auto-tune applies")
    out = rate.parent / "out"
    out.mkdir()
    assert main(["clean", str(rate), "--mask", str(mask), "--tune", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count(str(rate)) == 2, err  # the warning and the progress line name it once


def test_fc_and_kw_accept_the_fractions_the_help_shows(tmp_path, bots, capsys):
    rate, mask = bots
    assert main(["clean", str(rate), "--mask", str(mask), "--fc", "1/128", "--kw", "1/1024"]
                ) == 0, capsys.readouterr().err
    header = fits.getheader(tmp_path / "s_rate_nsclean.fits")
    assert header["NSC_FC"] == 1 / 128 and header["NSC_KW"] == 1 / 1024
    with pytest.raises(SystemExit):
        main(["clean", str(rate), "--mask", str(mask), "--fc", "1/0"])
    assert "not a number or a fraction" in capsys.readouterr().err


def test_output_folder_that_is_a_file(tmp_path, bots, capsys):
    rate, mask = bots
    assert main(["clean", str(rate), "--mask", str(mask), "-o", str(mask)]) == 1
    assert "m.fits: is a file; -o takes the folder" in one_error_line(capsys)


def test_mask_summary_counts_one_region_in_the_singular(tmp_path, capsys):
    frame = banded_frame(1, (32, 2048)) * 0.01
    frame[14:18, 100:1900] += 5.0  # one bright trace
    rate = write_product(tmp_path / "one_rate.fits", frame)
    assert main(["mask", str(rate), "-o", str(tmp_path / "m.fits")]) == 0
    out = capsys.readouterr().out
    assert "1 light region above" in out, out


def test_an_empty_mask_is_refused_once_naming_the_mask(tmp_path, bots, capsys):
    rate, _ = bots
    empty = write_nsclean_fits(tmp_path / "empty.fits", np.zeros((32, 2048), bool))
    other = write_product(tmp_path / "t_rate.fits", banded_frame(1, (32, 2048)))
    assert main(["clean", str(rate), str(other), "--mask", str(empty)]) == 1
    assert "empty.fits: the mask has no background pixel" in one_error_line(capsys)


def test_a_png_mask_has_no_other_plane(tmp_path, bots, capsys):
    from app.core.mask.formats import write_png

    rate, _ = bots
    png = write_png(tmp_path / "m.png", np.ones((32, 2048), bool))
    assert main(["clean", str(rate), "--mask", str(png), "--mask-plane", "3"]) == 1
    assert "m.png: holds a single mask; there is no plane 3" in one_error_line(capsys)
    assert main(["clean", str(rate), "--mask", str(png), "--mask-plane", "0"]) == 0


def test_non_ascii_file_names_reach_the_headers_escaped(tmp_path, capsys):
    folder = tmp_path / "données é"
    folder.mkdir()
    rate = folder / "bøts_rate.fits"
    assert main(["simulate", "--scene", "bots", "-o", str(rate)]) == 0, capsys.readouterr().err
    assert fits.getheader(rate)["FILENAME"] == "b\\xf8ts_rate.fits"
    mask = folder / "mäsk.fits"
    assert main(["mask", str(rate), "--format", "jwst", "-o", str(mask)]) == 0, \
        capsys.readouterr().err
    header = fits.getheader(mask)
    assert header["FILENAME"] == "m\\xe4sk.fits" and header["NSC_SRC"] == "b\\xf8ts_rate.fits"
    assert main(["clean", str(rate), "--mask", str(mask)]) == 0, capsys.readouterr().err
    header = fits.getheader(folder / "bøts_rate_nsclean.fits")
    assert header["NSC_MASK"] == "m\\xe4sk.fits"
    assert "\\xe4" in "".join(header["HISTORY"])  # the mask's path, escaped


def test_an_unwritable_folder_is_found_before_cleaning(tmp_path, bots, capsys, monkeypatch):
    """Files whose output folder cannot be written fail at once; the others are cleaned."""
    import app.cli.clean_workers
    import app.core.files.atomic

    rate, mask = bots
    locked = tmp_path / "locked"
    locked.mkdir()
    other = write_product(locked / "t_rate.fits", banded_frame(1, (32, 2048)))
    real_mkstemp = app.core.files.atomic.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):  # root ignores permission bits: fake the folder
        if dir is not None and Path(dir).resolve() == locked.resolve():
            raise PermissionError(13, "Permission denied")
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(app.core.files.atomic.tempfile, "mkstemp", mkstemp)
    cleaned = []
    real_clean_one = app.cli.clean_workers.clean_one
    monkeypatch.setattr(app.cli.clean_workers, "clean_one",
                        lambda s, t: cleaned.append(s) or real_clean_one(s, t))
    assert main(["clean", str(other), str(rate), "--mask", str(mask)]) == 1
    line = one_error_line(capsys)
    assert "t_rate.fits: cannot write t_rate_nsclean.fits" in line and "Permission" in line
    assert cleaned == [rate]  # the unwritable one was never cleaned
    assert (tmp_path / "s_rate_nsclean.fits").exists()
    assert not any(p.name.startswith(".nsclean-probe") for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("suffix", ["/nowhere/x", "/../../esc", "_" * 300])
def test_a_suffix_with_a_separator_or_too_long_is_refused_before_cleaning(tmp_path, bots,
                                                                          capsys, suffix):
    rate, mask = bots
    before = set(tmp_path.parent.rglob("*"))
    assert main(["clean", str(rate), "--mask", str(mask), "--suffix", suffix]) == 1
    line = one_error_line(capsys)
    assert "--suffix" in line and ("path separator" in line or "at most 64" in line), line
    assert set(tmp_path.parent.rglob("*")) == before  # nothing written anywhere


def test_a_name_too_long_for_its_output_fails_alone(tmp_path, bots, capsys):
    """255 bytes is a legal input name whose output name is not; the good file beside
    it is still cleaned, whatever the order. 240 bytes leaves room for the suffix (the
    temporary name is short whatever the target's length)."""
    rate, mask = bots
    long = rate.with_name("L" * (255 - len("_rate.fits")) + "_rate.fits")
    fits_240 = rate.with_name("M" * (240 - len("_rate.fits")) + "_rate.fits")
    long.write_bytes(rate.read_bytes())
    fits_240.write_bytes(rate.read_bytes())
    assert main(["clean", str(long), str(rate), str(fits_240), "--mask", str(mask)]) == 1
    err = capsys.readouterr().err
    assert "internal error" not in err and "Errno" not in err, err
    assert f"{long}: the output name would be 263 bytes long" in err
    assert err.endswith("1 of 3 files failed\n"), err
    assert (tmp_path / "s_rate_nsclean.fits").exists()
    assert fits_240.with_name(fits_240.name.replace("_rate", "_rate_nsclean")).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_newline_in_a_file_name_does_not_split_the_error_line(tmp_path, bots, capsys):
    _rate, mask = bots
    odd = tmp_path / "two\nlines_rate.fits"
    odd.write_text("not fits")
    assert main(["clean", str(odd), "--mask", str(mask)]) == 1
    line = one_error_line(capsys)
    assert "two\\nlines_rate.fits: not a readable FITS file" in line


def test_a_mask_of_another_shape_is_reported_once_naming_the_mask(tmp_path, bots, capsys):
    rate, _mask = bots
    small = write_nsclean_fits(tmp_path / "small.fits", np.ones((64, 64), bool))
    others = [tmp_path / f"o{i}_rate.fits" for i in range(3)]
    for other in others:
        other.write_bytes(rate.read_bytes())
    assert main(["clean", str(rate), *map(str, others), "--mask", str(small)]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith(f"nsclean: error: {small}: the mask is "
                                                     "64×64 pixels, which does not match"), err
    assert err.count("FAILED (image 32×2048, not the mask's 64×64)") == 4, err


def test_a_product_without_dq_is_cleaned_with_a_warning(tmp_path, bots, capsys):
    rate, mask = bots
    with fits.open(rate) as hdul:
        cut = fits.HDUList([hdul[0].copy(), hdul["SCI"].copy()])  # cut after SCI
        cut.writeto(tmp_path / "cut_rate.fits")
    assert main(["clean", str(tmp_path / "cut_rate.fits"), "--mask", str(mask)]) == 0
    err = capsys.readouterr().err
    assert "cut_rate.fits: warning: no DQ extension" in err, err


@pytest.mark.parametrize(("option", "words"), [
    (["--tune-folds", "0"], "--tune-folds must be between 1 and 6"),
    (["--tune-folds", "1000"], "--tune-folds must be between 1 and 6"),
    (["--tune-lines", "0"], "--tune-lines must be 1 or more"),
])
def test_tune_options_are_refused_in_their_own_words(bots, capsys, option, words):
    rate, mask = bots
    assert main(["clean", str(rate), "--mask", str(mask), "--tune", *option]) == 1
    line = one_error_line(capsys)
    assert words in line and "groups" not in line and "score_clip" not in line, line


def test_more_jobs_than_cpus_says_how_many_are_used(bots, capsys, monkeypatch):
    import app.cli.clean

    rate, mask = bots
    monkeypatch.setattr(app.cli.clean.os, "cpu_count", lambda: 1)
    assert main(["clean", str(rate), "--mask", str(mask), "-j", "8"]) == 0
    assert "-j 8 but this machine has 1 CPU(s); using 1" in capsys.readouterr().err


def test_an_existing_output_is_refused_before_tuning(tmp_path, bots, capsys, monkeypatch):
    import app.cli.tune

    rate, mask = bots
    other = write_product(tmp_path / "t_rate.fits", banded_frame(1, (32, 2048)))
    (tmp_path / "s_rate_nsclean.fits").write_bytes(b"kept")
    tuned = []
    monkeypatch.setattr(app.cli.tune, "tune_file",
                        lambda source, mask, params, *rest: tuned.append(source) or (params, []))
    assert main(["clean", str(rate), str(other), "--mask", str(mask), "--tune"]) == 1
    line = one_error_line(capsys)
    assert "s_rate_nsclean.fits: exists already (pass --overwrite" in line, line
    assert tuned == [other]  # the file whose output exists was not tuned first
    assert (tmp_path / "s_rate_nsclean.fits").read_bytes() == b"kept"
    assert (tmp_path / "t_rate_nsclean.fits").exists()


def test_a_closed_pipe_on_stdout_is_not_an_internal_error(tmp_path, capsys, monkeypatch):
    class ClosedPipe:  # what `nsclean ... | head -1` leaves once head has exited
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):  # not the test runner's real stdout, which must stay open
            raise io.UnsupportedOperation("fileno")

    rate = tmp_path / "p_rate.fits"
    monkeypatch.setattr("sys.stdout", ClosedPipe())
    assert main(["simulate", "--scene", "bots", "-o", str(rate)]) == 141
    assert capsys.readouterr().err == ""
    assert rate.exists()  # the work was done before the report could not be printed
