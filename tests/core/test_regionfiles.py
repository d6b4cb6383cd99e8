"""DS9/CRTF region files into masks, and mask outlines out as DS9 regions."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from app.core.errors import MaskError
from app.core.mask.regionfiles import outlines, read_regions, write_ds9

pytest.importorskip("regions")
SHAPE = (60, 80)


def blobs() -> np.ndarray:
    """Light pixels with a hole, an island in the hole, diagonal neighbours and the edge."""
    mask = np.zeros(SHAPE, dtype=bool)
    mask[5:30, 10:40] = True
    mask[10:25, 15:35] = False  # hole
    mask[14:18, 20:24] = True  # island inside the hole
    mask[40, 50] = mask[41, 51] = mask[42, 50] = True  # touching at corners only
    mask[50:60, 70:80] = True  # at the image's corner
    rng = np.random.default_rng(1)
    mask[45:58, 5:30] = rng.random((13, 25)) < 0.5  # ragged
    return mask


def test_ds9_circle_and_exclusion_in_image_coordinates(tmp_path) -> None:
    path = tmp_path / "slits.reg"
    path.write_text("# Region file format: DS9 version 4.1\nimage\n"
                    "circle(11,21,3.2)\nbox(40,30,9,5,0)\n-box(40,30,3,1,0)\n"
                    "text(5,5) # text={label}\n")
    read = read_regions(path, SHAPE)
    y, x = np.mgrid[0:SHAPE[0], 0:SHAPE[1]] + 1.0  # DS9 pixel centres are 1-based
    circle = (x - 11) ** 2 + (y - 21) ** 2 < 3.2 ** 2
    box = (np.abs(x - 40) < 4.5) & (np.abs(y - 30) < 2.5)
    hole = (np.abs(x - 40) < 1.5) & (np.abs(y - 30) < 0.5)
    np.testing.assert_array_equal(read.mask, circle | (box & ~hole))
    assert read.used == 3 and "has no area" in read.notes[0]


def test_crtf_box_in_pixels(tmp_path) -> None:
    path = tmp_path / "box.crtf"
    path.write_text("#CRTF\nbox[[1.5pix, 2.5pix], [6.5pix, 9.5pix]]\n")
    y, x = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]  # CASA pixels are 0-based
    expected = (x >= 2) & (x <= 6) & (y >= 3) & (y <= 9)
    np.testing.assert_array_equal(read_regions(path, SHAPE).mask, expected)


def test_outlines_run_along_pixel_edges() -> None:
    mask = np.zeros((5, 5), dtype=bool)
    mask[1:3, 1:4] = True
    (square,) = outlines(mask)
    assert sorted(map(tuple, square)) == sorted([(0.5, 0.5), (3.5, 0.5), (3.5, 2.5),
                                                 (0.5, 2.5)])
    mask[3, 4] = True  # touches the block at a corner only: its own outline
    assert len(outlines(mask)) == 2


def test_outlines_round_trip_through_ds9(tmp_path) -> None:
    mask = blobs()
    path = write_ds9(tmp_path / "light.reg", mask)
    text = path.read_text()
    assert "\nimage\n" in text and "-polygon(" in text  # the hole is an exclude region
    np.testing.assert_array_equal(read_regions(path, SHAPE).mask, mask)


def tan_header() -> fits.Header:
    header = fits.Header()
    header.update(CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRPIX1=40.0, CRPIX2=30.0,
                  CRVAL1=150.1, CRVAL2=2.2, CDELT1=-2.8e-5, CDELT2=2.8e-5, CUNIT1="deg",
                  CUNIT2="deg")
    return header


def test_outlines_round_trip_in_sky_coordinates(tmp_path) -> None:
    from astropy.wcs import WCS

    mask = blobs()
    header = tan_header()
    path = write_ds9(tmp_path / "light_sky.reg", mask, WCS(header))
    assert "\nicrs\n" in path.read_text()
    np.testing.assert_array_equal(read_regions(path, SHAPE, header).mask, mask)
    with pytest.raises(MaskError, match="no celestial WCS"):
        read_regions(path, SHAPE, fits.Header())


def test_bad_files_say_what_is_wrong(tmp_path) -> None:
    junk = tmp_path / "junk.reg"
    junk.write_text("this is not a region file\n")
    with pytest.raises(MaskError, match="not a DS9 or CRTF region file"):
        read_regions(junk, SHAPE)
    outside = tmp_path / "outside.reg"
    outside.write_text("image\ncircle(500,500,3)\n")
    with pytest.raises(MaskError, match="cover no pixel"):
        read_regions(outside, SHAPE)
    with pytest.raises(MaskError, match="empty"):
        write_ds9(tmp_path / "none.reg", np.zeros(SHAPE, bool))
    assert not (tmp_path / "none.reg").exists()


def test_polygon_scanlines_agree_with_a_point_in_polygon_test() -> None:
    from matplotlib.path import Path as MplPath

    from app.core.mask.regionfiles import polygon_mask

    rng = np.random.default_rng(5)
    for _ in range(5):  # star-shaped polygons with arbitrary slopes
        angles = np.sort(rng.uniform(0, 2 * np.pi, 12))
        radii = rng.uniform(5, 25, 12)
        xy = np.column_stack([40.3 + radii * np.cos(angles), 30.1 + radii * np.sin(angles)])
        y, x = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
        expected = MplPath(xy).contains_points(np.column_stack([x.ravel(), y.ravel()]))
        got = polygon_mask(xy, SHAPE).ravel()
        assert np.count_nonzero(got != expected) <= 2  # only centres on the outline may differ
