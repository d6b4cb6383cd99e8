"""Clean whole pipeline products: every integration, provenance, atomic output.

This is what ``nsclean clean`` and the GUI's "save cleaned" both call, so the files
they write are identical.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core.clean import CleanParams, Diagnostics, clean
from app.core.errors import InputError
from app.core.files.frames import refuse_cleaned
from app.core.files.planes import check_mask_planes, mask_plane
from app.core.files.products import Product, read_product, resolve_detector, write_cleaned
from app.core.files.stepoptions import (
    check_median_image,
    flux_scale,
    median_frames,
    params_for_file,
)
from app.core.mask.detector import check_mask_detector
from app.core.parameters import history_text, provenance_cards
from app.core.version import __version__

DEFAULT_SUFFIX = "_nsclean"


@dataclass
class ProductResult:
    """The outcome of cleaning one product."""

    product: Product
    cleaned: np.ndarray
    diagnostics: list[Diagnostics]
    detector: str
    backgrounds: list = field(default_factory=list)  # per integration: level or image


def clean_product(product: Product, mask: np.ndarray, params: CleanParams | None = None,
                  detector: str | None = None) -> ProductResult:
    """Clean every integration of ``product`` with the same background mask.

    Parameters
    ----------
    product : Product
        A rate (one integration), rateints or cal product.
    mask : ndarray of bool
        Background mask in DMS orientation, the shape of one integration, or one plane
        per integration (3-D).
    params : CleanParams, optional
        Cleaning parameters (defaults if omitted).
    detector : str, optional
        Overrides the DETECTOR keyword.

    Returns
    -------
    ProductResult
    """
    params = params_for_file(params or CleanParams(), product.primary_header)
    name = resolve_detector(product, detector)
    mask = np.asarray(mask)
    check_mask_planes(product.path, mask, product.nints, product.shape)
    check_median_image(product.path, params, product.nints)
    median = None
    if params.background == "median_image":  # subtracted before the fit, restored after
        median = median_frames(product.sci[:, None])[0]
        scale = flux_scale(product.sci)
    cleaned = np.empty_like(product.sci)
    diagnostics, backgrounds = [], []
    for i in range(product.nints):
        dq = None if product.dq is None else product.dq[i]
        image = product.sci[i] if median is None else product.sci[i] - scale[i] * median
        try:
            result = clean(image, mask_plane(mask, i), name, params.method, dq=dq,
                           params=params, readpatt=product.readpatt)
        except InputError as exc:
            where = f" integration {i + 1}" if product.nints > 1 else ""
            raise type(exc)(f"{product.path}{where}: {exc}") from exc
        cleaned[i] = result.cleaned if median is None else result.cleaned + scale[i] * median
        diagnostics.append(result.diagnostics)
        backgrounds.append(result.background if median is None else scale[i] * median)
    return ProductResult(product, cleaned, diagnostics, name, backgrounds)


def output_path(source: Path, out_dir: Path | None = None, suffix: str = DEFAULT_SUFFIX) -> Path:
    """Name of the cleaned file: ``<stem><suffix>.fits[.gz]`` in ``out_dir`` or beside it."""
    name = source.name
    for ext in (".fits.gz", ".fits", ".fit", ".fts"):
        if name.lower().endswith(ext):
            stem, ext_kept = name[: -len(ext)], name[-len(ext):]
            break
    else:
        stem, ext_kept = name, ".fits"
    return (out_dir or source.parent) / f"{stem}{suffix}{ext_kept}"


#: A --suffix longer than this is surely a mistake (and eats the file name's 255 bytes).
MAX_SUFFIX_BYTES = 64


def check_suffix(suffix: str) -> None:
    """Refuse a suffix that would move the output elsewhere or make names absurdly long."""
    if any(sep and sep in suffix for sep in ("/", os.sep, os.altsep, "\0")):
        raise InputError(f"--suffix {suffix!r} contains a path separator; outputs are "
                         "written beside their input (or in -o DIR), never elsewhere")
    if len(os.fsencode(suffix)) > MAX_SUFFIX_BYTES:
        raise InputError(f"--suffix is {len(os.fsencode(suffix))} bytes long; at most "
                         f"{MAX_SUFFIX_BYTES}")


def name_problem(source: Path, target: Path) -> str | None:
    """Why ``target``'s name cannot be created (too long for its file system), or None."""
    try:
        limit = os.pathconf(target.parent if str(target.parent) else ".", "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # folder missing, or not POSIX
        limit = 255
    size = len(os.fsencode(target.name))
    if limit and size > limit:
        return (f"{source}: the output name would be {size} bytes long, more than the "
                f"{limit} its file system allows; rename the file or use a shorter --suffix")
    return None


def exists_message(target: Path) -> str:
    """What is said of an output that exists already and may not be replaced."""
    return f"{target}: exists already (pass --overwrite to replace it)"


def provenance(params: CleanParams, mask_name: str, result: ProductResult
               ) -> tuple[dict[str, object], list[str]]:
    """Header keywords and HISTORY lines that record how a file was cleaned."""
    unfit = max((len(d.unfit_lines) for d in result.diagnostics), default=0)
    cards: dict[str, object] = {
        **provenance_cards(params),  # one keyword per parameter (app.core.parameters)
        # the method actually used (a subarray gets the subarray variant)
        "NSC_METH": (result.diagnostics[0].method, "nsclean-gui cleaning method"),
        "NSC_MASK": (Path(mask_name).name[-60:], "mask file"),
        "NSC_DET": (result.detector, "detector orientation used"),
        "NSC_UNFT": (unfit, "lines not fitted (too little background)"),
    }
    history = [
        f"Cleaned with nsclean-gui {__version__} (NSClean, Rauscher 2023), method "
        f"{result.diagnostics[0].method}; parameters {history_text(params)}",
        f"Background mask: {mask_name}",
    ]
    return cards, history


def clean_file(source: str | Path, mask: np.ndarray, target: str | Path, *,
               params: CleanParams | None = None, detector: str | None = None,
               mask_name: str = "(in memory)", overwrite: bool = False,
               save: tuple[str, ...] = (), mask_detector: str | None = None,
               any_mask_detector: bool = False, force: bool = False):
    """Read, clean and write one product atomically; the input is never modified.

    A ramp (``*_ramp.fits``, 4-D SCI) is cleaned group difference by group difference
    (:mod:`app.core.files.ramps`); rate, rateints and cal files image by image.

    ``save`` names the step's diagnostic products to write beside ``target``
    (``"mask"``, ``"background"``, ``"noise"``: :mod:`app.core.files.diagnostics`).

    A file we cleaned already is refused unless ``force``; a mask whose recorded
    ``mask_detector`` is not the file's detector unless ``any_mask_detector``.

    Returns
    -------
    ProductResult or RampResult
        What was written, with the per-integration diagnostics.
    """
    from app.core.files import diagnostics as diag

    params = params or CleanParams()
    target = Path(target)
    if not overwrite and target.exists():
        raise InputError(exists_message(target))
    save = diag.check_kinds(save)
    diag.refuse_existing(source, target.parent, save, overwrite)
    from app.core.files.ramps import clean_ramp_file, is_ramp

    if is_ramp(source):
        return clean_ramp_file(source, mask, target, params=params, detector=detector,
                               mask_name=mask_name, overwrite=overwrite, save=save,
                               mask_detector=mask_detector,
                               any_mask_detector=any_mask_detector, force=force)
    product = read_product(source)
    refuse_cleaned(product.path, product.primary_header, force)
    check_mask_detector(mask_detector, resolve_detector(product, detector),
                        mask_name=mask_name, image_name=str(product.path),
                        override="pass --any-mask-detector", allow=any_mask_detector)
    result = clean_product(product, mask, params, detector)
    cards, history = provenance(params, mask_name, result)
    write_cleaned(product, result.cleaned, target, cards, history, overwrite=overwrite)

    def as_read(cube: np.ndarray) -> np.ndarray:
        return cube if product.is_cube else cube[0]

    diag.write_requested(
        save, Path(source), target.parent, product.primary_header, mask=mask,
        background=lambda: as_read(diag.background_cube(
            product.sci.shape, enumerate(result.backgrounds))),
        noise=lambda: as_read(result.cleaned - product.sci), overwrite=overwrite)
    return result
