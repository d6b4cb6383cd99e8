"""The one table of mask formats: what the Mask menu, the file dialogs, ``nsclean mask
--format`` and the README's table are made from.

Adding a format means writing its writer (and teaching :func:`~app.core.mask.formats.read_mask`
to recognise it) in :mod:`app.core.mask.formats`, and adding one :class:`MaskFormat` row
here; the menu item, the export dialog's filter, the import filter, the CLI's choices and
help, and the README table (checked by a test) follow.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.mask import formats


@dataclass(frozen=True)
class MaskFormat:
    """One mask format.

    Attributes
    ----------
    name : str
        The key (``nsclean mask --format NAME``).
    label : str
        Human name (menu, dialogs, README).
    suffixes : tuple of str
        File name endings this format is written with (the first is the default).
    export_suffix : str
        The ending of the name the export dialog suggests after the image's stem.
    writer : callable
        ``writer(path, mask, **options)`` (atomic, with provenance).
    reader : callable
        ``reader(path, plane, shape=..., border=...)`` returning a
        :class:`~app.core.mask.formats.MaskRead`.
    options : tuple of str
        The writer's options of this format that a caller supplies when it has them
        (``detector``, ``gray``: the GUI computes the picture only for a format that
        takes it); every writer also takes ``extra`` provenance and ``overwrite``.
    brief : str
        A few words for the CLI's help.
    convention : str
        What the pixels mean (README).
    """

    name: str
    label: str
    suffixes: tuple[str, ...]
    export_suffix: str
    writer: Callable[..., Path]
    reader: Callable[..., Any]
    options: tuple[str, ...]
    brief: str
    convention: str

    @property
    def file_filter(self) -> str:
        """A Qt file-dialog filter, e.g. ``NSClean FITS (*.fits *.fits.gz)``."""
        return f"{self.label} ({' '.join('*' + s for s in self.suffixes)})"


MASK_FORMATS: dict[str, MaskFormat] = {f.name: f for f in (
    MaskFormat(
        "nsclean", "NSClean FITS", (".fits", ".fits.gz", ".fit"), ".fits",
        formats.write_nsclean_fits, formats.read_mask, (), "uint8 FITS, 1 = background",
        "uint8 in the primary HDU, 1 = background (the published masks)"),
    MaskFormat(
        "jwst", "JWST pipeline user_mask", (".fits",), "_user_mask.fits",
        formats.write_jwst_mask, formats.read_mask, ("detector",),
        "ImageModel for the pipeline's --user_mask",
        "an `ImageModel` (mask in `SCI`): pass it to `clean_flicker_noise --user_mask`; the "
        "step's own `*_mask.fits` (ImageModel or CubeModel, pick the integration) imports too"),
    MaskFormat(
        "png", "GIMP PNG", (".png",), ".png",
        formats.write_png, formats.read_mask, ("gray",), "GIMP convention, pure red = background",
        "red = background (written pure red; see PNG red below), first row = top of the "
        "picture, reference border off"),
)}


def format_for_name(path: str | Path) -> str:
    """The format a file name implies when none is chosen: the first in table order whose
    endings match (NSClean FITS for ``.fits``; NSClean FITS for anything else too)."""
    name = str(path).lower()
    for fmt in MASK_FORMATS.values():
        if name.endswith(fmt.suffixes):
            return fmt.name
    return "nsclean"


def import_filter() -> str:
    """The import dialog's filter: every format's endings, then all files."""
    endings = sorted({s for fmt in MASK_FORMATS.values() for s in fmt.suffixes},
                     key=lambda s: (s.endswith(".png"), s))
    return f"Masks ({' '.join('*' + s for s in endings)});;All files (*)"


def readme_table() -> str:
    """The README's format table (Markdown), one row per format."""
    rows = ["| format | file | convention |", "| --- | --- | --- |"]
    for fmt in MASK_FORMATS.values():
        files = ", ".join(f"`{s}`" for s in fmt.suffixes)
        rows.append(f"| {fmt.label} | {files} | {fmt.convention} |")
    return "\n".join(rows)


def cli_help() -> str:
    """The help of ``nsclean mask --format``."""
    parts = [f"{fmt.name}: {fmt.brief}" for fmt in MASK_FORMATS.values()]
    return "; ".join(parts) + " (default: the format the file name implies, else nsclean)"


def write_mask(path: str | Path, mask: Any, kind: str | None = None,
               **available: object) -> Path:
    """Write ``mask`` as ``kind`` (by default the format the name implies), passing those
    of the ``available`` options that its writer takes (a PNG has no FITS ``history``)."""
    from app.core.errors import InputError

    kind = kind or format_for_name(path)
    fmt = MASK_FORMATS.get(kind)
    if fmt is None:
        raise InputError(f"unknown mask format {kind!r}; expected one of "
                         f"{', '.join(MASK_FORMATS)}")
    takes = inspect.signature(fmt.writer).parameters
    return fmt.writer(path, mask, **{k: v for k, v in available.items() if k in takes})
