"""Mask files: every format round-trips, the conventions hold, bad input is explained."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from app.core.errors import InputError, MaskError
from app.core.mask import formats as maskio
from app.core.mask.layers import MaskLayers

SHAPE = (2048, 2048)
PUBLISHED_FRACTIONS = {
    "nrs1_ifu_mask_thorough.fits.gz": 0.357,
    "nrs2_ifu_mask_thorough.fits.gz": 0.355,
    "20230306_nrs1_ifu_mask.fits.gz": 0.152,
    "20230306_nrs2_ifu_mask.fits.gz": 0.151,
}


def bordered_random_mask(shape=SHAPE, seed=0, fraction=0.3):
    mask = np.random.default_rng(seed).random(shape) < fraction
    mask[:4] = mask[-4:] = False
    mask[:, :4] = mask[:, -4:] = False
    return mask


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize(
    ("name", "kind", "detected"),
    [
        ("m.fits", "nsclean", "nsclean"),
        ("m.fits.gz", "nsclean", "nsclean"),
        ("m_mask.fits", "jwst", "jwst-image"),
        ("m.png", "png", "png"),
    ],
)
def test_export_then_import_gives_the_identical_mask(tmp_path, name, kind, detected):
    mask = bordered_random_mask()
    path = maskio.write_mask(tmp_path / name, mask, kind, extra={"NSC_SRC": "x_rate.fits"})
    assert maskio.inspect_mask(path).kind == detected
    back = maskio.read_mask(path, shape=SHAPE)
    assert back.mask.dtype == bool
    assert np.array_equal(back.mask, mask)
    assert back.metadata["NSC_VER"] and back.metadata["NSC_SRC"] == "x_rate.fits"
    assert leftovers(tmp_path) == []


def test_round_trip_through_the_layers(tmp_path):
    layers = MaskLayers(SHAPE)
    layers.rectangle("light", (800, 10), (900, 2040))
    layers.begin_stroke("exclude", 6)
    layers.stroke_to(100, 100)
    layers.stroke_to(300, 700)
    layers.end_stroke()
    for name in ("a.fits", "a.png", "a_user.fits"):
        kind = "jwst" if "user" in name else None
        maskio.write_mask(tmp_path / name, layers.background(), kind)
        other = MaskLayers(SHAPE)
        other.import_background(maskio.read_mask(tmp_path / name, shape=SHAPE).mask)
        assert np.array_equal(other.background(), layers.background())


def test_nsclean_fits_layout(tmp_path):
    mask = bordered_random_mask()
    path = maskio.write_nsclean_fits(tmp_path / "m.fits", mask, history=["painted by hand"])
    with fits.open(path) as hdul:
        assert len(hdul) == 1
        assert hdul[0].data.dtype == np.uint8
        assert np.array_equal(hdul[0].data, mask.astype(np.uint8))
        header = hdul[0].header
        assert "Pixels = 1 are background" in str(header["COMMENT"])
        assert "painted by hand" in str(header["HISTORY"])
        assert header["NSC_ORNT"] == "DMS"
        assert header["NSC_BKGF"] == pytest.approx(mask.mean(), abs=1e-6)


def test_jwst_user_mask_layout(tmp_path):
    mask = bordered_random_mask()
    path = maskio.write_jwst_mask(tmp_path / "m.fits", mask, detector="nrs2")
    with fits.open(path) as hdul:
        assert hdul[0].data is None
        assert hdul[0].header["DATAMODL"] == "ImageModel"
        assert hdul[0].header["TELESCOP"] == "JWST"
        assert hdul[0].header["DETECTOR"] == "NRS2"
        # what the pipeline does with it: data.astype(bool)
        assert np.array_equal(hdul["SCI"].data.astype(bool), mask)


def test_png_follows_the_gimp_convention(tmp_path):
    ny, nx = 40, 30
    picture = np.full((ny, nx, 3), 128, dtype=np.uint8)  # grey canvas, row 0 = top
    picture[10, 12] = (255, 0, 0)  # background
    picture[10, 13] = (230, 0, 0)  # red, but beyond the tolerance: not background
    picture[11, 12] = (255, 25, 0)
    Image.fromarray(picture, "RGB").save(tmp_path / "p.png")
    read = maskio.read_mask(tmp_path / "p.png", shape=(ny, nx))
    expected = np.zeros((ny, nx), bool)
    expected[ny - 1 - 10, 12] = True  # first PNG row is the last FITS row
    assert np.array_equal(read.mask, expected)
    assert read.near_red == 0


def test_png_near_red_counts_as_background_and_is_counted(tmp_path):
    # GIMP's soft brush leaves (250, 10, 10) around a stroke; random colours around the
    # tolerance, checked against a per-pixel rule written out here
    ny, nx = 40, 30
    rng = np.random.default_rng(3)
    picture = rng.integers(0, 256, (ny, nx, 3)).astype(np.uint8)
    picture[:, :, 0] = rng.choice([255, 250, 231, 230, 200], (ny, nx))
    picture[:, :, 1] = rng.choice([0, 10, 24, 25], (ny, nx))
    picture[:, :, 2] = rng.choice([0, 10, 24, 25, 128], (ny, nx))
    picture[5:9, 5:9] = (250, 10, 10)
    Image.fromarray(picture, "RGB").save(tmp_path / "p.png")
    read = maskio.read_mask(tmp_path / "p.png", shape=(ny, nx), border=0)
    expected = np.zeros((ny, nx), bool)
    near = 0
    for y in range(ny):
        for x in range(nx):
            r, g, b = (int(v) for v in picture[y, x])
            ok = 255 - r <= maskio.RED_TOLERANCE and g <= maskio.RED_TOLERANCE \
                and b <= maskio.RED_TOLERANCE
            expected[ny - 1 - y, x] = ok
            near += ok and (r, g, b) != (255, 0, 0)
    assert maskio.RED_TOLERANCE == 24  # the README states it
    assert np.array_equal(read.mask, expected)
    assert read.mask[ny - 1 - 6, 6] and read.near_red == near >= 16


def test_png_reference_border_is_off_where_the_picture_spans_the_detector(tmp_path):
    # a 2048-wide subarray stripe: reference columns, no reference rows
    ny, nx = 16, 2048
    picture = np.zeros((ny, nx, 3), dtype=np.uint8)
    picture[..., 0] = 255  # all red: all background
    Image.fromarray(picture, "RGB").save(tmp_path / "s.png")
    mask = maskio.read_mask(tmp_path / "s.png", shape=(ny, nx)).mask
    expected = np.ones((ny, nx), bool)
    expected[:, :4] = expected[:, -4:] = False
    assert np.array_equal(mask, expected)
    full = np.zeros((2048, 2048, 3), dtype=np.uint8)
    full[..., 0] = 255
    Image.fromarray(full, "RGB").save(tmp_path / "f.png")
    mask = maskio.read_mask(tmp_path / "f.png").mask
    assert not mask[:4].any() and not mask[-4:].any()
    assert not mask[:, :4].any() and not mask[:, -4:].any() and mask[4:-4, 4:-4].all()


@pytest.mark.parametrize("mode", ["RGBA", "P", "L"])
def test_png_in_other_pixel_modes(tmp_path, mode):
    picture = np.zeros((20, 20, 3), dtype=np.uint8)
    picture[5:8, 6:9] = (255, 0, 0)
    image = Image.fromarray(picture, "RGB").convert(mode)
    image.save(tmp_path / "p.png")
    mask = maskio.read_mask(tmp_path / "p.png").mask
    expected = np.zeros((20, 20), bool)
    if mode != "L":  # a greyscale picture cannot hold pure red
        expected[20 - 8 : 20 - 5, 6:9] = True
    assert np.array_equal(mask, expected)


def test_png_export_draws_red_over_the_given_greyscale(tmp_path):
    mask = np.zeros((20, 30), bool)
    mask[6, 7] = True
    gray = np.arange(600, dtype=np.uint8).reshape(20, 30)
    maskio.write_png(tmp_path / "p.png", mask, gray=gray)
    rgb = np.asarray(Image.open(tmp_path / "p.png").convert("RGB"))[::-1]
    assert tuple(rgb[6, 7]) == (255, 0, 0)
    assert tuple(rgb[6, 8]) == (gray[6, 8],) * 3
    with pytest.raises(InputError, match="uint8"):
        maskio.write_png(tmp_path / "q.png", mask, gray=gray.astype(float))


def test_published_masks_import_with_their_stated_fractions(published_masks_dir):
    for name, fraction in PUBLISHED_FRACTIONS.items():
        read = maskio.read_mask(published_masks_dir / name, shape=SHAPE)
        assert read.info.kind == "nsclean"
        layers = MaskLayers(SHAPE)
        dropped = layers.import_background(read.mask)
        assert dropped == 0  # the reference border is already off
        assert layers.background_fraction() == pytest.approx(fraction, abs=0.001)


def write_pipeline_like(path, data, model):
    primary = fits.PrimaryHDU()
    primary.header["DATAMODL"] = model
    fits.HDUList([primary, fits.ImageHDU(data.astype(np.float32), name="SCI")]).writeto(path)


def test_pipeline_cube_mask_needs_a_plane(tmp_path):
    planes = np.zeros((3, 50, 60), bool)
    planes[0, 10:20] = True
    planes[1, 30:40] = True
    planes[2] = True
    write_pipeline_like(tmp_path / "x_mask.fits", planes, "CubeModel")
    info = maskio.inspect_mask(tmp_path / "x_mask.fits")
    assert (info.kind, info.shape, info.nplanes) == ("jwst-cube", (50, 60), 3)
    with pytest.raises(MaskError, match="3 masks"):
        maskio.read_mask(tmp_path / "x_mask.fits")
    for k in range(3):
        read = maskio.read_mask(tmp_path / "x_mask.fits", plane=k)
        assert read.plane == k and np.array_equal(read.mask, planes[k])
    with pytest.raises(MaskError, match="no plane 3"):
        maskio.read_mask(tmp_path / "x_mask.fits", plane=3)


def test_a_rateints_cube_is_refused_before_any_plane_is_chosen(tmp_path):
    """A rateints file given as a mask: told it is an image, not asked for an integration."""
    rng = np.random.default_rng(3)
    write_pipeline_like(tmp_path / "x_rateints.fits", rng.normal(size=(3, 50, 60)), "CubeModel")
    for attempt in (maskio.inspect_mask, maskio.read_mask):
        with pytest.raises(MaskError, match="image rather than a mask"):
            attempt(tmp_path / "x_rateints.fits")


def test_pipeline_image_mask_and_plane_on_a_2d_file(tmp_path):
    mask = bordered_random_mask((50, 60))
    write_pipeline_like(tmp_path / "x_mask.fits", mask, "ImageModel")
    assert np.array_equal(maskio.read_mask(tmp_path / "x_mask.fits").mask, mask)
    with pytest.raises(MaskError, match="single mask"):
        maskio.read_mask(tmp_path / "x_mask.fits", plane=2)


def test_user_mask_opens_as_an_imagemodel_in_stdatamodels(tmp_path):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    mask = bordered_random_mask()
    path = maskio.write_jwst_mask(tmp_path / "user_mask.fits", mask, detector="NRS1")
    with datamodels.open(path) as model:
        assert isinstance(model, datamodels.ImageModel)
        assert model.meta.instrument.detector == "NRS1"
        assert np.array_equal(model.data.astype(bool), mask)


def test_masks_saved_by_stdatamodels_import(tmp_path):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    planes = np.random.default_rng(7).random((2, 64, 80)) < 0.5
    with datamodels.CubeModel(data=planes) as cube:
        cube.save(tmp_path / "cube_mask.fits")
    with datamodels.ImageModel(data=planes[1]) as image:
        image.save(tmp_path / "image_mask.fits")
    assert maskio.inspect_mask(tmp_path / "cube_mask.fits").nplanes == 2
    for k in range(2):
        read = maskio.read_mask(tmp_path / "cube_mask.fits", plane=k)
        assert np.array_equal(read.mask, planes[k])
    assert np.array_equal(maskio.read_mask(tmp_path / "image_mask.fits").mask, planes[1])


@pytest.mark.parametrize(
    ("content", "error", "words"),
    [
        (None, InputError, "no such file"),
        (b"just some text, not an image\n", MaskError, "neither a FITS nor a PNG"),
        (b"SIMPLE  =                    T / truncated", MaskError, "not a readable FITS"),
        (b"\x89PNG\r\n\x1a\ntruncated", MaskError, "not a readable PNG"),
    ],
)
def test_unreadable_files_are_explained(tmp_path, content, error, words):
    path = tmp_path / "bad.fits"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=words) as info:
        maskio.read_mask(path)
    assert str(path) in str(info.value)


def test_images_that_are_not_masks_are_refused(tmp_path):
    rate = np.random.default_rng(1).normal(size=(40, 40)).astype(np.float32)
    write_pipeline_like(tmp_path / "x_rate.fits", rate, "ImageModel")
    with pytest.raises(MaskError, match="values other than 0 and 1"):
        maskio.read_mask(tmp_path / "x_rate.fits")
    fits.PrimaryHDU(np.zeros((2, 8, 8), np.uint8)).writeto(tmp_path / "cube.fits")
    with pytest.raises(MaskError, match="3-D"):
        maskio.read_mask(tmp_path / "cube.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros(3), name="DQ")]).writeto(
        tmp_path / "empty.fits"
    )
    with pytest.raises(MaskError, match="no mask found"):
        maskio.read_mask(tmp_path / "empty.fits")


def test_wrong_sizes_are_explained(tmp_path):
    maskio.write_nsclean_fits(tmp_path / "small.fits", np.zeros((1024, 1024), bool))
    with pytest.raises(MaskError, match=r"1024×1024 pixels \(NAXIS1×NAXIS2\), but the image is "
                       r"2048×2048"):
        maskio.read_mask(tmp_path / "small.fits", shape=SHAPE)
    # FITS order: NAXIS1 (x, the last NumPy axis) first
    maskio.write_nsclean_fits(tmp_path / "strip.fits", np.zeros((32, 2048), bool))
    with pytest.raises(MaskError, match="is 2048×32 pixels"):
        maskio.read_mask(tmp_path / "strip.fits", shape=SHAPE)
    Image.new("RGB", (300, 200)).save(tmp_path / "small.png")
    with pytest.raises(MaskError, match=r"PNG is 300×200 pixels"):
        maskio.read_mask(tmp_path / "small.png", shape=(100, 300))


def test_bad_masks_are_not_written(tmp_path):
    with pytest.raises(MaskError, match="2-D"):
        maskio.write_nsclean_fits(tmp_path / "m.fits", np.zeros((2, 5, 5), bool))
    with pytest.raises(MaskError, match="values other than 0 and 1"):
        maskio.write_png(tmp_path / "m.png", np.full((5, 5), 2))
    with pytest.raises(InputError, match="unknown mask format"):
        maskio.write_mask(tmp_path / "m.x", np.zeros((5, 5), bool), kind="tiff")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_targets_are_explained(tmp_path):
    mask = np.zeros((8, 8), bool)
    with pytest.raises(InputError, match="does not exist"):
        maskio.write_mask(tmp_path / "missing" / "m.fits", mask)
    maskio.write_mask(tmp_path / "m.fits", mask)
    with pytest.raises(InputError, match="exists already"):
        maskio.write_mask(tmp_path / "m.fits", mask, overwrite=False)


@pytest.mark.parametrize("name", ["m.fits", "m.fits.gz", "m.png"])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch, name):
    target = tmp_path / name
    old = bordered_random_mask((32, 32), seed=1)
    maskio.write_mask(target, old)
    before = target.read_bytes()

    def broken(self, file, *args, **kwargs):
        if hasattr(file, "write"):
            file.write(b"half a file")
        else:
            with open(file, "wb") as handle:
                handle.write(b"half a file")
        raise OSError("No space left on device")

    monkeypatch.setattr(fits.HDUList, "writeto", broken)
    monkeypatch.setattr(Image.Image, "save", broken)
    with pytest.raises(InputError, match="No space left"):
        maskio.write_mask(target, bordered_random_mask((32, 32), seed=2))
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == []
