"""The published fit's conditioning, against jwst's own NSClean, and the remedy."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from app.core.engine.conditioning import COND_LIMIT
from app.core.mask.published import published_fit, to_detector
from app.core.mask.safe import make_safe

SHAPE = (2048, 2048)


def a_mask(seed: int = 0) -> np.ndarray:
    """Background in 15-pixel gaps between traces, some lines clustered, one orphan."""
    mask = np.zeros(SHAPE, bool)
    mask[4:-4, 4:-4] = True
    rows = np.arange(2048)
    mask[(rows % 48) >= 15, :] = False  # traces 33 px wide, gaps of 15 px (DMS rows)
    mask[:4] = mask[-4:] = False
    mask[:, 600:640] = False
    mask[1000:1060, 600:640] = True  # 40 lines with one short stretch: clustered
    mask[:, 900] = False
    mask[1500:1515, 900] = True  # and one line more
    mask[:, 1200] = False  # an empty line: skipped by the published fit
    return mask


def slow_conditions(mask: np.ndarray, detector: str) -> np.ndarray:
    """Per detector line, with jwst's own weights and the published basis, line by line."""
    nsclean = pytest.importorskip("jwst.clean_flicker_noise.nsclean")
    cleaner = nsclean.NSClean(detector, mask.copy())
    out = np.full(2048, np.nan)
    for y in range(4, 2044):
        used = cleaner.mask[y]
        if not used.any():
            continue
        m = np.arange(2048)[used][:, None]
        k = np.arange(cleaner.nvec)[None, :]
        a = np.exp(2j * np.pi * m * k / 2048) * cleaner.p_matrix[y][used][:, None]
        gram = a.conj().T @ a
        try:
            inverse = np.linalg.inv(gram)
        except np.linalg.LinAlgError:
            out[y] = np.inf
            continue
        out[y] = np.abs(gram).sum(axis=0).max() * np.abs(inverse).sum(axis=0).max()
    return out


@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
def test_condition_numbers_match_the_pipelines_own_weights(detector):
    mask = a_mask()
    fit = published_fit(mask, detector)
    slow = slow_conditions(mask, detector)
    fitted = ~np.isnan(slow)
    np.testing.assert_array_equal(fitted, ~np.isnan(fit.condition))
    finite = fitted & np.isfinite(slow) & (slow < 1e8)  # beyond, float64 inverses differ
    np.testing.assert_allclose(fit.condition[finite], slow[finite], rtol=1e-3)
    lines = to_detector(np.arange(2048)[None, :].repeat(2048, 0), detector)[:, 0]
    clustered = set(lines[[*range(600, 640), 900]].tolist())
    unstable = set(fit.unstable_lines.tolist())
    assert clustered <= unstable
    assert fit.skipped_lines.tolist() == [int(lines[1200])]
    well = set(lines[range(100, 500)].tolist())
    assert not well & unstable


def test_unstable_lines_are_where_the_pipeline_swings():
    """Pipeline model of white noise: large across the gaps of the flagged lines only."""
    nsclean = pytest.importorskip("jwst.clean_flicker_noise.nsclean")
    mask = a_mask()
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 1, SHAPE).astype(np.float32)
    model = noise - nsclean.NSClean("NRS1", mask.copy()).clean(noise.copy(), buff=False)
    fit = published_fit(mask, "NRS1")
    swing = np.abs(model).max(axis=0)  # per DMS column = detector line (NRS1)
    flagged = fit.unstable_lines
    calm = np.setdiff1d(np.arange(100, 500), flagged)
    assert np.median(swing[flagged]) > 5 * np.max(swing[calm])
    assert np.max(swing[calm]) < 3  # a stable fit of σ = 1 noise stays within a few σ


def test_make_safe_leaves_no_unstable_line_and_says_what_it_did():
    mask = a_mask()
    safe = make_safe(mask, "NRS1")
    assert safe.before.unstable_lines.size > 40
    assert safe.after.stable, safe.after.summary()
    assert safe.added > 0
    # the clustered lines borrowed the gaps their neighbours share, nothing else
    borrowed = safe.mask & ~mask
    assert borrowed[:, 600:640].any() and not borrowed[:, 100:500].any()
    rows = np.flatnonzero(borrowed[:, 620])
    assert ((rows % 48) < 15).all()  # inside the gaps between traces
    assert safe.mask[:, 3].sum() == safe.mask[:, 4].sum()  # guard line copies line 4
    assert "unstable lines before, 0 after" in safe.summary()


def test_make_safe_respects_allowed_pixels():
    mask = a_mask()
    allowed = np.ones(SHAPE, bool)
    allowed[:, 610:620] = False
    safe = make_safe(mask, "NRS1", allowed=allowed)
    assert not (safe.mask & ~mask)[:, 610:620].any()


def test_limit_is_the_engines():
    assert published_fit(a_mask(), "NRS1").limit == COND_LIMIT


def test_nsclean_mask_writes_a_safe_mask_and_reports(tmp_path, capsys):
    """Held-out simulated IFU frame whose threshold leaves orphan samples."""
    from app.cli import main
    from app.core.mask.formats import read_mask
    from app.core.mask.safe import excess
    from app.core.simulation.simulate import simulate_exposure, write_simulation

    sim = simulate_exposure("ifu", "NRS2", seed=6)
    rate = tmp_path / "ifu_rate.fits"
    write_simulation(sim, rate)
    assert main(["mask", str(rate), "-o", str(tmp_path / "raw.fits"),
                 "--published-fit", "as-is"]) == 0
    raw_out = capsys.readouterr().out
    assert main(["mask", str(rate), "-o", str(tmp_path / "safe.fits")]) == 0
    safe_out = capsys.readouterr().out
    raw = published_fit(read_mask(tmp_path / "raw.fits").mask, "NRS2")
    safe = published_fit(read_mask(tmp_path / "safe.fits").mask, "NRS2")
    assert raw.unstable_lines.size and f"{raw.unstable_lines.size} lines unstable" in raw_out
    assert "made safe for the published fit" in safe_out and "published fit" in safe_out
    assert excess(safe) < 0.5 * excess(raw)
    assert np.nanmax(safe.condition[5:-5]) < 1e3  # no orphan-weighted line left
    # the file records what the pipeline step sees: NaN and DO_NOT_USE pixels dropped
    # (the reference pixels too, so there line 4 keeps its round-off weights)
    usable = np.where(sim.product.usable(0), 0.0, np.nan)
    seen = published_fit(read_mask(tmp_path / "safe.fits").mask, "NRS2", image=usable)
    assert fits.getheader(tmp_path / "safe.fits")["NSC_PUBU"] == seen.unstable_lines.size
    # nsclean clean says so when it is handed the raw mask
    assert main(["clean", str(rate), "--mask", str(tmp_path / "raw.fits"), "-o",
                 str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "raw.fits: published fit" in err and "unsafe for the JWST pipeline" in err
