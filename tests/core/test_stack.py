"""Image stack: compatibility checks, loading, combining against slow pixel-by-pixel sums."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from app.core.errors import InputError
from app.core.files.products import DO_NOT_USE, Product
from app.core.files.stack import (
    ImageStack,
    combine,
    iter_combine,
    iter_load,
    partition_compatible,
)


def make_product(
    name: str, nints: int = 1, shape: tuple[int, int] = (7, 5), detector: str = "NRS1",
    seed: int = 0,
) -> Product:
    rng = np.random.default_rng(seed)
    sci = rng.normal(1.0, 0.5, (nints, *shape)).astype(np.float32)
    sci[rng.uniform(size=sci.shape) < 0.1] = np.nan
    sci[rng.uniform(size=sci.shape) < 0.05] += 50.0  # cosmic-ray-like outliers
    dq = np.zeros(sci.shape, np.uint32)
    dq[rng.uniform(size=sci.shape) < 0.1] = DO_NOT_USE | 4
    dq[rng.uniform(size=sci.shape) < 0.1] |= 2  # other flags do not exclude a pixel
    header = fits.Header({"DETECTOR": detector, "EXP_TYPE": "NRS_IFU"})
    return Product(Path(name), sci, dq, header, fits.Header(), nints > 1)


def usable_values(products: list[Product], y: int, x: int) -> list[float]:
    values = []
    for p in products:
        for i in range(p.nints):
            v = float(p.sci[i, y, x])
            if np.isfinite(v) and not int(p.dq[i, y, x]) & DO_NOT_USE:
                values.append(v)
    return values


def clipped_mean(values: list[float], sigma: float = 3.0, maxiters: int = 5) -> float:
    """σ-clipping by hand: median centre, population std, until nothing changes."""
    kept = list(values)
    for _ in range(maxiters):
        centre, std = statistics.median(kept), float(np.std(kept))
        new = [v for v in kept if centre - sigma * std <= v <= centre + sigma * std]
        if len(new) == len(kept):
            break
        kept = new
    return statistics.fmean(kept)


REFERENCE = {"mean": statistics.fmean, "median": statistics.median, "clipped": clipped_mean}


@pytest.mark.parametrize("method", ["mean", "median", "clipped"])
def test_combine_matches_pixel_by_pixel_reference(method: str) -> None:
    products = [make_product("a.fits", 4, seed=1), make_product("b.fits", 5, seed=2),
                make_product("c.fits", 1, seed=3)]
    result = combine(products, method, chunk_rows=3)  # chunk boundary inside the image
    assert result.dtype == np.float32 and result.flags.c_contiguous
    for y in range(7):
        for x in range(5):
            values = usable_values(products, y, x)
            if not values:
                assert np.isnan(result[y, x])
            else:
                assert result[y, x] == pytest.approx(REFERENCE[method](values), rel=1e-5)


def test_clipping_removes_an_outlier_that_the_mean_keeps() -> None:
    products = [make_product(f"{i}.fits", seed=10 + i) for i in range(8)]
    for p in products:
        p.sci[0, 3, 2], p.dq[0, 3, 2] = 1.0, 0
    products[0].sci[0, 3, 2] = 1000.0
    assert combine(products, "mean")[3, 2] == pytest.approx((1000.0 + 7.0) / 8)
    assert combine(products, "clipped")[3, 2] == pytest.approx(1.0)


def test_single_frame_only_blanks_unusable_pixels() -> None:
    p = make_product("one.fits")
    expected = np.where(p.dq[0] & DO_NOT_USE, np.nan, p.sci[0])
    for method in ("mean", "median", "clipped"):
        np.testing.assert_array_equal(combine([p], method), expected)


def test_combine_yields_progress_up_to_one() -> None:
    steps = list(iter_combine([make_product("a.fits", 2)], "median", chunk_rows=2))
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(steps) == 4


def test_mixing_detectors_or_shapes_is_refused_with_the_file_name() -> None:
    nrs1 = make_product("nrs1_rate.fits")
    nrs2 = make_product("nrs2_rate.fits", detector="NRS2")
    small = make_product("small_rate.fits", shape=(4, 5))
    accepted, refused = partition_compatible([nrs1], [nrs2, small, make_product("ok.fits")])
    assert [p.path.name for p in accepted] == ["ok.fits"]
    assert "nrs2_rate.fits" in refused[0] and "NRS2" in refused[0] and "NRS1" in refused[0]
    assert "small_rate.fits" in refused[1] and "shape" in refused[1]
    with pytest.raises(InputError, match=r"nrs2_rate\.fits"):
        combine([nrs1, nrs2])


def test_stack_model_generations_drop_stale_results() -> None:
    stack = ImageStack()
    events: list[frozenset[str]] = []
    stack.changed.connect(events.append)
    stack.set_products([make_product("a.fits"), make_product("b.fits")])
    started_for = stack.generation
    stack.set_method("median")  # the user switched while a mean was being computed
    assert not stack.set_image(np.zeros((7, 5), np.float32), started_for)
    assert stack.image is None
    assert stack.set_image(np.ones((7, 5), np.float32), stack.generation)
    assert events == [frozenset({"products"}), frozenset({"method"}), frozenset({"image"})]
    stack.remove([0])
    assert [p.path.name for p in stack.products] == ["b.fits"] and stack.image is None
    accepted, refused = stack.accept([make_product("c.fits", detector="NRS2")], replace=False)
    assert not accepted and "c.fits" in refused[0]
    accepted, refused = stack.accept([make_product("c.fits", detector="NRS2")], replace=True)
    assert len(accepted) == 1 and not refused
    with pytest.raises(InputError):
        stack.set_method("mode")


def test_load_reports_bad_files_and_keeps_the_good(tmp_path: Path) -> None:
    good = tmp_path / "good_rate.fits"
    fits.HDUList([fits.PrimaryHDU(header=fits.Header({"DETECTOR": "NRS1"})),
                  fits.ImageHDU(np.ones((6, 4), np.float32), name="SCI")]).writeto(good)
    no_sci = tmp_path / "nosci.fits"
    fits.PrimaryHDU(np.ones((6, 4), np.float32)).writeto(no_sci)
    junk = tmp_path / "junk.fits"
    junk.write_text("not a FITS file at all")
    gen = iter_load([good, no_sci, junk, tmp_path / "missing.fits"])
    progress = []
    while True:
        try:
            progress.append(next(gen))
        except StopIteration as stop:
            products, errors = stop.value
            break
    assert [p.path for p in products] == [good]
    assert len(progress) == 4 and "good_rate.fits" in progress[0][1]
    assert "nosci.fits" in errors[0] and "SCI" in errors[0]
    assert "junk.fits" in errors[1] and "missing.fits" in errors[2]
