"""Read and write background masks: NSClean FITS, JWST pipeline masks, GIMP-style PNG.

All masks are boolean, DMS orientation (dispersion along rows), True = background.

- **NSClean FITS**: ``uint8`` image in the primary HDU, 1 = background,
  ``COMMENT Pixels = 1 are background`` (the published masks, ``.fits`` or ``.fits.gz``).
- **JWST pipeline**: what ``clean_flicker_noise --user_mask`` reads and ``--save_mask``
  writes: a FITS file that the JWST datamodels open by its primary ``DATAMODL`` keyword
  (``ImageModel``: one 2-D mask in ``SCI``; ``CubeModel``: one plane per integration).
  The pipeline uses ``data.astype(bool)``. We write ``ImageModel`` files with ``SCI`` as
  float32 0/1, like the pipeline's own ``_mask`` output; no ASDF extension is needed.
- **PNG (GIMP workflow)**: pure red RGB (255, 0, 0) is background; so is anything within
  :data:`RED_TOLERANCE` of it on every channel (GIMP's paintbrush anti-aliases its edges:
  a stroke's rim is (250, 10, 10), not pure red), and the import counts those pixels.
  The first PNG row is the top of the picture, i.e. the last FITS row; the reference
  border is off.

Every mask we write records the detector it was made for (``DETECTOR``: a primary header
keyword, or a PNG text chunk) when it is known; :attr:`MaskRead.detector` reads it back
(None for masks without it, such as the published ones).

Every written file carries provenance (``NSC_*`` keywords, or PNG text chunks) and is
written atomically. Problems raise :class:`~app.core.errors.MaskError` (bad content) or
:class:`~app.core.errors.InputError` (unreadable or unwritable path) naming the file.
"""

from __future__ import annotations

import gzip
import io
import os
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.core.clean import reference_sides
from app.core.errors import InputError, MaskError
from app.core.files.atomic import atomic_path
from app.core.files.fitstext import fits_text, fits_value
from app.core.mask.style import check_mask_array
from app.core.orientation import naxis_text
from app.core.version import __version__

if TYPE_CHECKING:  # astropy.io.fits takes ~0.5 s to import: only when a file is read
    from astropy.io import fits

NSCLEAN_COMMENT = "Pixels = 1 are background"
BACKGROUND_RGB = (255, 0, 0)
#: PNG pixels whose red is at least 255 - RED_TOLERANCE and whose green and blue are at
#: most RED_TOLERANCE count as background. 24 of 255 takes in anti-aliased and
#: JPEG-damaged red (GIMP's soft brush rim, (250, 10, 10)) while staying far from the
#: grays of the picture underneath, which have red = green = blue.
RED_TOLERANCE = 24
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class MaskInfo:
    """What a mask file holds, before choosing a plane.

    ``kind`` is ``"nsclean"``, ``"jwst-image"``, ``"jwst-cube"`` or ``"png"``.
    """

    path: Path
    kind: str
    shape: tuple[int, int]
    nplanes: int = 1


@dataclass
class MaskRead:
    """A mask read from disk: ``mask`` (bool, DMS), where it came from, its metadata."""

    mask: np.ndarray
    info: MaskInfo
    plane: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    #: NRS1/NRS2 as the file records it, None when it does not (published masks).
    detector: str | None = None
    #: PNG only: background pixels that were near pure red but not exactly (255, 0, 0).
    near_red: int = 0


# ---- reading ---------------------------------------------------------------------------


def _sniff(path: Path) -> str:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a mask file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            if head[:2] == b"\x1f\x8b":
                handle.seek(0)
                with gzip.open(handle) as unzipped:
                    head = unzipped.read(8)
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from exc
    if head.startswith(_PNG_MAGIC):
        return "png"
    if head.startswith(b"SIMPLE"):
        return "fits"
    raise MaskError(f"{path}: neither a FITS nor a PNG file")


def _open_fits(path: Path) -> fits.HDUList:
    from astropy.io import fits

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdul = fits.open(path, memmap=False, lazy_load_hdus=False)
            for hdu in hdul:
                _ = hdu.data
    except (OSError, ValueError, TypeError, IndexError, EOFError) as exc:
        raise MaskError(f"{path}: not a readable FITS file ({exc})") from exc
    return hdul


def _fits_mask_hdu(path: Path, hdul: fits.HDUList) -> tuple[str, np.ndarray, fits.Header]:
    primary = hdul[0]
    if primary.data is not None and primary.data.ndim > 0:
        if primary.data.ndim != 2:
            raise MaskError(f"{path}: the primary image is {primary.data.ndim}-D; a mask is 2-D")
        return "nsclean", primary.data, primary.header
    if "SCI" in hdul and hdul["SCI"].data is not None:
        data = hdul["SCI"].data
        if data.ndim == 2:
            return "jwst-image", data, primary.header
        if data.ndim == 3:
            # Checked before anyone is asked to choose a plane: a rateints file passed as
            # a mask is refused at once, not after its integration was chosen.
            _checked(path, data.reshape(-1, data.shape[-1]), None)
            return "jwst-cube", data, primary.header
        raise MaskError(
            f"{path}: SCI is {data.ndim}-D; a mask is 2-D (or 3-D, one per integration)"
        )
    raise MaskError(f"{path}: no mask found (no image in the primary HDU or a SCI extension)")


def inspect_mask(path: str | os.PathLike[str]) -> MaskInfo:
    """Say what kind of mask ``path`` holds, its shape and number of planes."""
    path = Path(path)
    if _sniff(path) == "png":
        width, height = _png_image(path).size
        return MaskInfo(path, "png", (height, width))
    with _open_fits(path) as hdul:
        kind, data, _header = _fits_mask_hdu(path, hdul)
        nplanes = data.shape[0] if data.ndim == 3 else 1
        return MaskInfo(path, kind, tuple(data.shape[-2:]), nplanes)


def read_mask(
    path: str | os.PathLike[str],
    plane: int | None = None,
    *,
    shape: tuple[int, int] | None = None,
    border: int = 4,
    all_planes: bool = False,
) -> MaskRead:
    """Read a background mask of any supported format (the format is sniffed).

    Parameters
    ----------
    path : path-like
        NSClean FITS, JWST ImageModel/CubeModel FITS, or PNG.
    plane : int, optional
        Which integration of a CubeModel mask to use; needed when it has several.
    shape : tuple of int, optional
        The image shape the mask must match.
    border : int
        Reference border forced off for PNG masks (their convention), along the axes on
        which the picture spans the whole detector (a subarray has no reference rows;
        :func:`app.core.clean.reference_sides`).
    all_planes : bool
        With no ``plane``, return every plane of a CubeModel mask as a 3-D mask (one
        plane per integration) instead of asking for one.

    Returns
    -------
    MaskRead
        The boolean mask (True = background) and its provenance.

    Raises
    ------
    MaskError
        Unknown format, no mask inside, values other than 0/1, wrong shape, bad plane.
    """
    path = Path(path)
    if _sniff(path) == "png":
        _choose_plane(path, 1, plane, False)  # a picture is one mask: refuse another plane
        return _read_png(path, shape, border)
    with _open_fits(path) as hdul:
        kind, data, header = _fits_mask_hdu(path, hdul)
        nplanes = data.shape[0] if data.ndim == 3 else 1
        info = MaskInfo(path, kind, tuple(data.shape[-2:]), nplanes)
        if all_planes and plane is None and data.ndim == 3:
            planes = np.stack([_checked(path, layer, shape) for layer in data])
            metadata = {k: str(v) for k, v in header.items() if k.startswith("NSC_")}
            return MaskRead(planes, info, None, metadata)
        chosen = _choose_plane(path, nplanes, plane, data.ndim == 3)
        if data.ndim == 3:
            data = data[chosen]
        mask = _checked(path, data, shape)
        metadata = {k: str(v) for k, v in header.items() if k.startswith("NSC_")}
        return MaskRead(mask, info, chosen if kind == "jwst-cube" else None, metadata,
                        _detector_of(header.get("DETECTOR")))


def _detector_of(value: object) -> str | None:
    """``NRS1``/``NRS2`` from a header value or PNG text; None when absent or other."""
    name = str(value or "").strip().upper()
    return name if name in ("NRS1", "NRS2") else None


def _choose_plane(path: Path, nplanes: int, plane: int | None, cube: bool) -> int:
    if not cube:
        if plane not in (None, 0):
            raise MaskError(f"{path}: holds a single mask; there is no plane {plane}")
        return 0
    if plane is None:
        if nplanes == 1:
            return 0
        raise MaskError(
            f"{path}: holds {nplanes} masks (one per integration); choose a plane 0–{nplanes - 1}"
        )
    if not 0 <= plane < nplanes:
        raise MaskError(f"{path}: has planes 0–{nplanes - 1}; there is no plane {plane}")
    return int(plane)


def _checked(path: Path, data: np.ndarray, shape: tuple[int, int] | None) -> np.ndarray:
    if shape is not None and tuple(data.shape) != tuple(shape):
        raise MaskError(
            f"{path}: the mask is {naxis_text(data.shape)} pixels (NAXIS1×NAXIS2), "
            f"but the image is {naxis_text(shape)}"
        )
    try:
        return check_mask_array(np.asarray(data), tuple(data.shape), "mask").copy()
    except MaskError as exc:
        raise MaskError(f"{path}: {exc}") from None


def _png_image(path: Path):  # -> PIL.Image.Image (pillow imported lazily: slow import)
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
        image.load()
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise MaskError(f"{path}: not a readable PNG image ({exc})") from exc
    return image


def _read_png(path: Path, shape: tuple[int, int] | None, border: int) -> MaskRead:
    image = _png_image(path)
    width, height = image.size
    if shape is not None and (height, width) != tuple(shape):
        raise MaskError(
            f"{path}: the PNG is {width}×{height} pixels (width×height), but the image is "
            f"{shape[1]}×{shape[0]}; export the picture at the image's full size"
        )
    rgb = np.asarray(image.convert("RGB"))
    red, near = red_pixels(rgb)
    mask = np.ascontiguousarray(red[::-1])  # first PNG row = top of picture = last FITS row
    rows, columns = reference_sides(mask.shape)
    if border and rows:
        mask[:border, :] = mask[-border:, :] = False
    if border and columns:
        mask[:, :border] = mask[:, -border:] = False
    metadata = {str(k): str(v) for k, v in getattr(image, "text", {}).items()}
    return MaskRead(mask, MaskInfo(path, "png", (height, width)), None, metadata,
                    _detector_of(metadata.get("DETECTOR")), near)


def red_pixels(rgb: np.ndarray, tolerance: int = RED_TOLERANCE) -> tuple[np.ndarray, int]:
    """Background pixels of a GIMP-convention picture and how many were not pure red.

    Parameters
    ----------
    rgb : ndarray of uint8, shape (ny, nx, 3)
    tolerance : int
        How far (per channel, out of 255) from (255, 0, 0) a pixel may be.

    Returns
    -------
    background : ndarray of bool
    near : int
        Background pixels that differ from (255, 0, 0).
    """
    rgb = np.asarray(rgb)
    r, g, b = (rgb[..., i].astype(np.int16) for i in range(3))
    background = (r >= 255 - tolerance) & (g <= tolerance) & (b <= tolerance)
    exact = (r == 255) & (g == 0) & (b == 0)
    return background, int(np.count_nonzero(background & ~exact))


# ---- writing ---------------------------------------------------------------------------


def provenance(mask: np.ndarray, extra: dict[str, object] | None = None) -> dict[str, object]:
    """Provenance keywords for a written mask: version, date, background fraction, extras.

    ``extra`` keys are 8-character FITS keywords (for example ``NSC_SRC``: the image the
    mask was painted on); values may be ``(value, comment)`` tuples.
    """
    cards: dict[str, object] = {
        "NSC_VER": (__version__, "nsclean-gui version that wrote this mask"),
        "NSC_DATE": (
            datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"), "UTC time written"
        ),
        "NSC_BKGF": (round(float(np.mean(mask)), 6), "fraction of pixels that are background"),
        "NSC_ORNT": ("DMS", "orientation: DMS (dispersion along rows)"),
    }
    cards.update(extra or {})
    return cards


def _as_mask(mask: np.ndarray) -> np.ndarray:
    array = np.asarray(mask)
    if array.ndim != 2:
        raise MaskError(f"a mask must be a 2-D image, not {array.ndim}-D {array.shape}")
    return check_mask_array(array, array.shape)


def _apply_cards(header: fits.Header, cards: dict[str, object], history: list[str]) -> None:
    for key, value in cards.items():
        header[key] = fits_value(value)
    for line in history:
        header.add_history(fits_text(line))


def write_nsclean_fits(
    path: str | os.PathLike[str],
    mask: np.ndarray,
    *,
    extra: dict[str, object] | None = None,
    history: list[str] | None = None,
    overwrite: bool = True,
    detector: str | None = None,
) -> Path:
    """Write an NSClean mask: uint8 primary image, 1 = background (``.fits`` or ``.fits.gz``);
    ``DETECTOR`` records which detector it was made for."""
    from astropy.io import fits

    mask = _as_mask(mask)
    hdu = fits.PrimaryHDU(mask.astype(np.uint8))
    if detector:
        hdu.header["DETECTOR"] = (str(detector).upper(), "detector this mask was made for")
    hdu.header.add_comment(NSCLEAN_COMMENT)
    hdu.header.add_comment("DMS orientation (as pipeline rate files); written by nsclean-gui")
    _apply_cards(hdu.header, provenance(mask, extra), history or [])
    return _write_fits(path, fits.HDUList([hdu]), overwrite)


def write_jwst_mask(
    path: str | os.PathLike[str],
    mask: np.ndarray,
    *,
    detector: str | None = None,
    extra: dict[str, object] | None = None,
    history: list[str] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write a mask for the pipeline's ``clean_flicker_noise --user_mask`` (an ImageModel)."""
    from astropy.io import fits

    mask = _as_mask(mask)
    primary = fits.PrimaryHDU()
    header = primary.header
    header["DATAMODL"] = ("ImageModel", "Type of data model")
    header["TELESCOP"] = ("JWST", "Telescope used to acquire the data")
    header["INSTRUME"] = ("NIRSPEC", "Instrument used to acquire the data")
    if detector:
        header["DETECTOR"] = (str(detector).upper(), "Name of detector used to acquire the data")
    header["FILENAME"] = (fits_text(Path(path).name), "Name of the file")
    header.add_comment("Background mask for clean_flicker_noise: SCI = 1 are background")
    _apply_cards(header, provenance(mask, extra), history or [])
    sci = fits.ImageHDU(mask.astype(np.float32), name="SCI")
    return _write_fits(path, fits.HDUList([primary, sci]), overwrite)


def _write_fits(path: str | os.PathLike[str], hdul: fits.HDUList, overwrite: bool) -> Path:
    from astropy.io import fits

    target = Path(path)
    with atomic_path(target, overwrite=overwrite) as tmp:
        try:
            if target.name.lower().endswith(".gz"):
                # astropy compresses at level 9, which takes seconds on noisy masks; level 6
                # is nearly as small. mtime=0 keeps the bytes reproducible.
                buffer = io.BytesIO()
                hdul.writeto(buffer, output_verify="exception")
                with open(tmp, "wb") as raw, gzip.GzipFile(
                    filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0
                ) as packed:
                    packed.write(buffer.getvalue())
            else:
                hdul.writeto(tmp, overwrite=True, output_verify="exception")
        except (ValueError, fits.VerifyError) as exc:
            raise InputError(f"{target}: cannot write the mask ({exc})") from exc
    return target


def write_png(
    path: str | os.PathLike[str],
    mask: np.ndarray,
    *,
    gray: np.ndarray | None = None,
    extra: dict[str, object] | None = None,
    overwrite: bool = True,
    detector: str | None = None,
) -> Path:
    """Write a GIMP-convention PNG: background pure red over ``gray`` (uint8, DMS) or black.

    The picture is flipped so its top row is the last FITS row, as DS9 exports it.
    """
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    mask = _as_mask(mask)
    if gray is None:
        canvas = np.zeros(mask.shape, dtype=np.uint8)
    else:
        canvas = np.asarray(gray)
        if canvas.shape != mask.shape or canvas.dtype != np.uint8:
            raise InputError(
                f"the grayscale picture must be uint8 of shape {mask.shape}, "
                f"not {canvas.dtype} {canvas.shape}"
            )
    rgb = np.repeat(canvas[:, :, None], 3, axis=2)
    rgb[mask] = BACKGROUND_RGB
    info = PngInfo()
    info.add_text("Software", f"nsclean-gui {__version__}")
    info.add_text("Description", "NSClean background mask: pure red (255, 0, 0) = background")
    if detector:
        info.add_text("DETECTOR", str(detector).upper())
    for key, value in provenance(mask, extra).items():
        info.add_text(key, str(value[0] if isinstance(value, tuple) else value))
    target = Path(path)
    with atomic_path(target, overwrite=overwrite) as tmp:
        Image.fromarray(np.ascontiguousarray(rgb[::-1]), "RGB").save(tmp, "PNG", pnginfo=info)
    return target


def write_mask(
    path: str | os.PathLike[str], mask: np.ndarray, kind: str | None = None, **options: object
) -> Path:
    """Write ``mask`` as ``kind`` (a name of :data:`app.core.mask.format_table.MASK_FORMATS`);
    by default ``.png`` files are PNG and everything else NSClean FITS."""
    from app.core.mask.format_table import write_mask as write  # the table imports this module

    return write(path, mask, kind, **options)
