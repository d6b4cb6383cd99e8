"""Clean whole pipeline products: every integration, provenance, atomic output.

This is what ``nsclean clean`` and the GUI's "save cleaned" both call, so the files
they write are identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.clean import CleanParams, Diagnostics, clean
from app.core.errors import InputError, MaskError
from app.core.files.frames import refuse_cleaned
from app.core.files.products import Product, read_product, resolve_detector, write_cleaned
from app.core.mask.detector import check_mask_detector
from app.core.version import __version__

DEFAULT_SUFFIX = "_nsclean"


@dataclass
class ProductResult:
    """The outcome of cleaning one product."""

    product: Product
    cleaned: np.ndarray
    diagnostics: list[Diagnostics]
    detector: str


def clean_product(product: Product, mask: np.ndarray, params: CleanParams | None = None,
                  detector: str | None = None) -> ProductResult:
    """Clean every integration of ``product`` with the same background mask.

    Parameters
    ----------
    product : Product
        A rate (one integration), rateints or cal product.
    mask : ndarray of bool
        Background mask in DMS orientation, the shape of one integration.
    params : CleanParams, optional
        Cleaning parameters (defaults if omitted).
    detector : str, optional
        Overrides the DETECTOR keyword.

    Returns
    -------
    ProductResult
    """
    params = params or CleanParams()
    name = resolve_detector(product, detector)
    if mask.shape != product.shape:
        raise MaskError(f"{product.path}: mask shape {mask.shape} does not match the image "
                        f"shape {product.shape}")
    cleaned = np.empty_like(product.sci)
    diagnostics = []
    for i in range(product.nints):
        dq = None if product.dq is None else product.dq[i]
        try:
            result = clean(product.sci[i], mask, name, params.method, dq=dq, params=params,
                           readpatt=product.readpatt)
        except InputError as exc:
            where = f" integration {i + 1}" if product.nints > 1 else ""
            raise type(exc)(f"{product.path}{where}: {exc}") from exc
        cleaned[i] = result.cleaned
        diagnostics.append(result.diagnostics)
    return ProductResult(product, cleaned, diagnostics, name)


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


def exists_message(target: Path) -> str:
    """What is said of an output that exists already and may not be replaced."""
    return f"{target}: exists already (pass --overwrite to replace it)"


def provenance(params: CleanParams, mask_name: str, result: ProductResult
               ) -> tuple[dict[str, object], list[str]]:
    """Header keywords and HISTORY lines that record how a file was cleaned."""
    unfit = max((len(d.unfit_lines) for d in result.diagnostics), default=0)
    cards: dict[str, object] = {
        "NSC_METH": (result.diagnostics[0].method, "nsclean-gui cleaning method"),
        "NSC_FC": (params.fc, "[1/pixel] low-pass half-power frequency"),
        "NSC_KW": (params.kill_width, "[1/pixel] low-pass roll-off width"),
        "NSC_SREJ": (params.sigrej, "outlier rejection threshold [sigma]"),
        "NSC_WSIG": (params.weight_sigma, "[pixel] weight density kernel sigma"),
        "NSC_BUFF": (params.buff, "model smoothed across lines (buffing)"),
        "NSC_BSIG": (params.buff_sigma, "[line] buffing kernel sigma"),
        "NSC_LEGK": (params.legacy_kernels, "legacy (off-by-one) kernels used"),
        "NSC_BKG": (params.background, "background level removed and restored"),
        "NSC_FIT": (params.fit, "least squares: complex (published) or real"),
        "NSC_RIDG": (params.ridge, "real fit: strength of the 1/f amplitude prior"),
        "NSC_MASK": (Path(mask_name).name[-60:], "mask file"),
        "NSC_DET": (result.detector, "detector orientation used"),
        "NSC_UNFT": (unfit, "lines not fitted (too little background)"),
    }
    history = [
        f"Cleaned with nsclean-gui {__version__} (NSClean, Rauscher 2023), method "
        f"{result.diagnostics[0].method}, fc={params.fc:g}, kw={params.kill_width:g}, "
        f"sigrej={params.sigrej:g}, weight_sigma={params.weight_sigma:g}, "
        f"buff={params.buff}, buff_sigma={params.buff_sigma:g}, "
        f"legacy_kernels={params.legacy_kernels}, background={params.background}, "
        f"fit={params.fit}, ridge={params.ridge:g}",
        f"Background mask: {mask_name}",
    ]
    return cards, history


def clean_file(source: str | Path, mask: np.ndarray, target: str | Path, *,
               params: CleanParams | None = None, detector: str | None = None,
               mask_name: str = "(in memory)", overwrite: bool = False,
               mask_detector: str | None = None, any_mask_detector: bool = False,
               force: bool = False) -> ProductResult:
    """Read, clean and write one product atomically; the input is never modified.

    A file we cleaned already is refused unless ``force``; a mask whose recorded
    ``mask_detector`` is not the file's detector unless ``any_mask_detector``.

    Returns
    -------
    ProductResult
        What was written, with the per-integration diagnostics.
    """
    params = params or CleanParams()
    target = Path(target)
    if not overwrite and target.exists():
        raise InputError(exists_message(target))
    product = read_product(source)
    refuse_cleaned(product.path, product.primary_header, force)
    check_mask_detector(mask_detector, resolve_detector(product, detector),
                        mask_name=mask_name, image_name=str(product.path),
                        override="pass --any-mask-detector", allow=any_mask_detector)
    result = clean_product(product, mask, params, detector)
    cards, history = provenance(params, mask_name, result)
    write_cleaned(product, result.cleaned, target, cards, history, overwrite=overwrite)
    return result
