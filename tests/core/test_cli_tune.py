"""``nsclean tune`` and ``nsclean clean --tune/--tune-once`` as a user runs them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits

from app.cli import main
from app.core.mask.formats import write_nsclean_fits
from tests.core.products_factory import write_product

N = 2048
#: Every 8th run of lines and one fold: a full-frame tune in about a second.
FAST = ["--tune-lines", "8", "--tune-folds", "1"]


def noisy_frame(seed: int, kmax: int) -> np.ndarray:
    """White noise plus independent smooth banding of 1 … kmax cycles per DMS column."""
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * np.outer(np.arange(N) / N, np.arange(1, kmax + 1))
    basis = np.hstack([np.cos(phase), np.sin(phase)]).astype(np.float32)
    amplitude = np.tile(1.5 / np.sqrt(np.arange(1, kmax + 1)), 2)[:, None]
    coefficients = (rng.standard_normal((2 * kmax, N)) * amplitude).astype(np.float32)
    return rng.standard_normal((N, N), dtype=np.float32) + basis @ coefficients


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A narrow-band and a wide-band exposure, a gappy mask and a nearly empty one."""
    root = tmp_path_factory.mktemp("tune")
    rng = np.random.default_rng(5)
    mask = np.ones((N, N), dtype=bool)
    for start in range(40, N - 60, 90):  # horizontal "traces" across part of the lines
        mask[start:start + rng.integers(15, 40), rng.integers(0, 600):rng.integers(1400, N)] = 0
    tiny = np.zeros((N, N), dtype=bool)
    tiny[:, 100:108] = True
    return {
        "narrow": write_product(root / "narrow_rate.fits", noisy_frame(1, 3)),
        "wide": write_product(root / "wide_rate.fits", noisy_frame(2, 30)),
        "mask": write_nsclean_fits(root / "mask.fits", mask),
        "tiny": write_nsclean_fits(root / "tiny.fits", tiny),
        "root": root,
    }


def test_tune_prints_a_table_whose_options_clean_accepts(files, capsys):
    args = ["tune", str(files["wide"]), "--mask", str(files["mask"]), *FAST]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("nsclean tune: ")
    rows = [line.split() for line in out.splitlines()
            if line.split() and line.split()[0] in ("buff_sigma", "fit", "fc", "kw",
                                                      "weight_sigma", "sigrej", "ridge")]
    assert {"buff_sigma", "fit", "fc", "kw", "weight_sigma", "sigrej"} <= {r[0] for r in rows}
    # every stage keeps exactly one value, and it is a value of that stage's rows
    stages = out.split("\n\n")[1:-1]
    assert stages and all(stage.count(" *") == 1 for stage in stages)
    options = out.split("options for nsclean clean: ")[1].split()
    assert main(["tune", str(files["wide"]), "--mask", str(files["mask"]), *FAST,
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["options"].split() == options
    assert summary["best_score"][0] < summary["start_score"][0]
    # wide-band noise: a higher cut-off than the default 1/256 is chosen
    assert summary["best"]["fc"] > 1 / 256
    out_dir = files["root"] / "tuned"
    out_dir.mkdir()
    assert main(["clean", str(files["wide"]), "--mask", str(files["mask"]), "-o",
                 str(out_dir), *options]) == 0
    header = fits.getheader(out_dir / "wide_rate_nsclean.fits")
    assert header["NSC_FC"] == pytest.approx(summary["best"]["fc"], rel=1e-5)
    assert header["NSC_SREJ"] == summary["best"]["sigrej"]


def test_tune_with_too_little_background_says_so_in_one_line(files, capsys):
    assert main(["tune", str(files["narrow"]), "--mask", str(files["tiny"]), *FAST]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "too little background" in lines[0]
    assert "Traceback" not in captured.err


def test_clean_tune_keeps_defaults_when_it_cannot_tune(files, capsys):
    out_dir = files["root"] / "kept"
    out_dir.mkdir()
    assert main(["clean", str(files["narrow"]), "--mask", str(files["tiny"]), "--tune",
                 "-o", str(out_dir), *FAST]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "not tuned" in line]
    assert len(warnings) == 1 and "too little background" in warnings[0]
    header = fits.getheader(out_dir / "narrow_rate_nsclean.fits")
    assert header["NSC_FC"] == pytest.approx(1 / 256) and header["NSC_BUFF"] is True


def test_clean_tune_per_file_and_once_for_the_set(files, capsys):
    sources = [str(files["narrow"]), str(files["wide"])]
    each, once = files["root"] / "each", files["root"] / "once"
    each.mkdir()
    once.mkdir()
    assert main(["clean", *sources, "--mask", str(files["mask"]), "--tune", "-o", str(each),
                 *FAST]) == 0
    assert capsys.readouterr().err.count("tuned in") == 2
    fc_each = [fits.getheader(each / f"{name}_rate_nsclean.fits")["NSC_FC"]
               for name in ("narrow", "wide")]
    assert fc_each[1] > fc_each[0]  # each file gets the cut-off its own noise needs
    # --tune-once: an unreadable first file is passed over (and reported), the next decides
    bad = files["root"] / "bad_rate.fits"
    bad.write_text("not FITS")
    assert main(["clean", str(bad), *sources, "--mask", str(files["mask"]), "--tune-once",
                 "-o", str(once), *FAST]) == 1
    err = capsys.readouterr().err
    assert err.count("tuned in") == 1 and "bad_rate.fits: warning: not tuned" in err
    assert "1 of 3 files failed" in err and "Traceback" not in err
    keys = ("NSC_FC", "NSC_KW", "NSC_SREJ", "NSC_WSIG", "NSC_BUFF", "NSC_BSIG")
    first = fits.getheader(each / "narrow_rate_nsclean.fits")
    for name in ("narrow", "wide"):  # the first file's choice, for both
        header = fits.getheader(once / f"{name}_rate_nsclean.fits")
        assert [header[k] for k in keys] == [first[k] for k in keys]
