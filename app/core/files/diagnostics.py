"""The step's diagnostic products: the mask used, the fitted background, the fitted noise.

``clean_flicker_noise`` writes, on request, beside its output and named after the input
with its product suffix (``_rate``, ``_rateints``, ``_ramp``, ``_cal``) replaced:

- ``<name>_mask.fits``: the background mask, an ``ImageModel`` (2-D) or ``CubeModel``
  (one plane per integration);
- ``<name>_flicker_bkg.fits``: the background level removed before each fit and restored
  after, shaped like SCI (``ImageModel``, ``CubeModel`` or ``RampModel``; 0 in the first
  group of a ramp, which is not fitted);
- ``<name>_flicker_noise.fits``: the noise removed, cleaned − input, shaped like SCI.

Ours are written the same way (SCI holds the data; the primary header is the input's,
with DATAMODL naming the model), atomically, and never over an existing file without
``overwrite``. Comparing the background with the cleaned data shows over-subtraction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from app.core.errors import InputError
from app.core.files.atomic import atomic_path
from app.core.files.fitstext import fits_text

#: Product kind -> the suffix the step gives its file.
SUFFIXES = {"mask": "mask", "background": "flicker_bkg", "noise": "flicker_noise"}
#: Product suffixes of the input replaced by the diagnostic's.
_PRODUCT_SUFFIXES = ("_rateints", "_rate", "_ramp", "_cal", "_uncal")
_MODELS = {2: "ImageModel", 3: "CubeModel", 4: "RampModel"}


def check_kinds(kinds) -> tuple[str, ...]:
    """The requested kinds, checked against :data:`SUFFIXES`."""
    unknown = [k for k in kinds if k not in SUFFIXES]
    if unknown:
        raise InputError(f"unknown diagnostic product(s) {unknown}; expected {list(SUFFIXES)}")
    return tuple(kinds)


def diagnostic_path(source: str | Path, folder: str | Path | None, kind: str) -> Path:
    """``<input name without its product suffix>_<suffix>.fits`` in ``folder``.

    ``folder`` None means beside the input.
    """
    source = Path(source)
    name = source.name
    for ext in (".fits.gz", ".fits", ".fit", ".fts"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    for suffix in _PRODUCT_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return Path(folder if folder is not None else source.parent) / (
        f"{name}_{SUFFIXES[kind]}.fits")


def refuse_existing(source: str | Path, folder: str | Path | None, kinds,
                    overwrite: bool) -> None:
    """Raise :class:`InputError` if a requested diagnostic exists and may not be replaced
    (checked before any cleaning, so that nothing is written)."""
    if overwrite:
        return
    for kind in kinds:
        target = diagnostic_path(source, folder, kind)
        if target.exists():
            raise InputError(f"{target}: exists already (pass --overwrite to replace it)")


def write_diagnostic(header: fits.Header, data: np.ndarray, target: str | Path, kind: str,
                     *, overwrite: bool = False) -> Path:
    """Write one diagnostic product: the input's primary header, SCI = ``data``."""
    target = Path(target)
    primary = header.copy()
    primary["DATAMODL"] = (_MODELS[data.ndim], "Type of data model")
    primary["FILENAME"] = fits_text(target.name)
    primary["NSC_DIAG"] = (SUFFIXES[kind], "nsclean-gui diagnostic product")
    hdul = fits.HDUList([fits.PrimaryHDU(header=primary),
                         fits.ImageHDU(np.asarray(data, dtype=np.float32), name="SCI")])
    with atomic_path(target, overwrite=overwrite) as tmp:
        hdul.writeto(tmp, overwrite=True, output_verify="silentfix")
    return target


def background_cube(shape: tuple[int, ...], levels) -> np.ndarray:
    """A float32 array of ``shape`` (SCI's) filled with per-image background levels.

    ``levels`` maps an index into the leading axes (an integration, or ``(integration,
    group)``) to a number or an image; images not named stay 0.
    """
    cube = np.zeros(shape, dtype=np.float32)
    for index, level in levels:
        cube[index] = level
    return cube


def write_requested(kinds, source: Path, folder: Path | None, header: fits.Header, *,
                    mask: np.ndarray, background, noise, overwrite: bool) -> list[Path]:
    """Write each requested product; ``background`` and ``noise`` are called lazily."""
    written = []
    for kind in kinds:
        data = {"mask": lambda: np.asarray(mask, dtype=np.float32),
                "background": background, "noise": noise}[kind]()
        written.append(write_diagnostic(header, data, diagnostic_path(source, folder, kind),
                                        kind, overwrite=overwrite))
    return written
