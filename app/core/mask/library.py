"""The mask library shipped in ``lib/``: published hand-made masks and known-dark defaults.

Two kinds of entries, both NSClean FITS masks (DMS orientation, 1 = background):

- the four hand-made IFU masks distributed with the first public NSClean release
  (B. Rauscher; see ``lib/README.md`` for attribution), copied unchanged;
- "known-dark" starting masks per detector and mode, generated here from the fixed
  strips the first-generation NSClean used (behind the MSA's cruciform bars; for the
  IFU also at both edges). They are defined in detector coordinates (whole columns,
  rows 4–2043) and turned into DMS with :mod:`app.core.orientation`, where they become
  horizontal bands — for NRS1 and NRS2 alike.

Regenerate the defaults with ``python -m app.core.mask.library [folder]``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.mask.formats import read_mask, write_nsclean_fits
from app.core.orientation import DETECTORS, detector_to_dms
from app.core.paths import library_dir

FULL_FRAME = (2048, 2048)
REFERENCE_BORDER = 4
#: Known-dark detector columns (inclusive ranges) per mode, rows 4–2043 of each.
KNOWN_DARK_COLUMNS: dict[str, tuple[tuple[int, int], ...]] = {
    "MOS": ((830, 929), (1110, 1199)),
    "IFU": ((830, 915), (1110, 1195), (4, 89), (1958, 2043)),
}
#: EXP_TYPE values → library mode.
_EXP_TYPE_MODES = {"NRS_MSASPEC": "MOS", "NRS_IFU": "IFU"}


@dataclass(frozen=True)
class LibraryEntry:
    """One mask offered in the GUI's library menu."""

    name: str
    detector: str
    mode: str
    description: str
    path: Path
    generated: bool

    def load(self) -> np.ndarray:
        """The entry's background mask (bool, DMS)."""
        return read_mask(self.path).mask


_PUBLISHED = (
    ("nrs1_ifu_mask_thorough", "NRS1", "IFU",
     "Hand-made IFU mask, background marked between the slice traces too (B. Rauscher)"),
    ("nrs2_ifu_mask_thorough", "NRS2", "IFU",
     "Hand-made IFU mask, background marked between the slice traces too (B. Rauscher)"),
    ("20230306_nrs1_ifu_mask", "NRS1", "IFU",
     "Hand-made IFU mask, large dark areas only (B. Rauscher, 2023-03-06)"),
    ("20230306_nrs2_ifu_mask", "NRS2", "IFU",
     "Hand-made IFU mask, large dark areas only (B. Rauscher, 2023-03-06)"),
)


def known_dark_name(detector: str, mode: str) -> str:
    """File stem of the generated known-dark mask for a detector and mode."""
    return f"{detector.lower()}_{mode.lower()}_known_dark"


def known_dark_mask(detector: str, mode: str, shape: tuple[int, int] = FULL_FRAME) -> np.ndarray:
    """The known-dark background mask of a mode, in DMS orientation (bool).

    Built in detector coordinates (whole columns over the rows inside the reference
    border), then reoriented, so it doubles as a check of the orientation code.
    """
    if mode not in KNOWN_DARK_COLUMNS:
        raise ValueError(f"no known-dark regions for mode {mode!r}")
    ny, nx = shape
    detector_mask = np.zeros((nx, ny), dtype=bool)  # detector = DMS transposed
    rows = slice(REFERENCE_BORDER, detector_mask.shape[0] - REFERENCE_BORDER)
    for first, last in KNOWN_DARK_COLUMNS[mode]:
        detector_mask[rows, first : last + 1] = True
    return np.ascontiguousarray(detector_to_dms(detector_mask, detector))


def _description(mode: str) -> str:
    bands = ", ".join(f"{a}-{b}" for a, b in KNOWN_DARK_COLUMNS[mode])
    return f"Known-dark bands of {mode} exposures (DMS rows {bands}); a starting point"


def library_entries(folder: Path | None = None) -> list[LibraryEntry]:
    """Every library mask, generated defaults first, for the GUI menu."""
    folder = Path(folder) if folder is not None else library_dir()
    entries = [
        LibraryEntry(
            known_dark_name(det, mode), det, mode, _description(mode),
            folder / f"{known_dark_name(det, mode)}.fits.gz", True,
        )
        for mode in KNOWN_DARK_COLUMNS
        for det in DETECTORS
    ]
    entries += [
        LibraryEntry(name, det, mode, text, folder / f"{name}.fits.gz", False)
        for name, det, mode, text in _PUBLISHED
    ]
    return entries


def mode_from_exp_type(exp_type: str) -> str | None:
    """Library mode (``"MOS"``, ``"IFU"``) for a header ``EXP_TYPE``; None if none fits."""
    return _EXP_TYPE_MODES.get(str(exp_type).strip().upper())


def default_entry(detector: str | None, exp_type: str) -> LibraryEntry | None:
    """The generated starting mask for an exposure, or None when the library has none."""
    mode = mode_from_exp_type(exp_type)
    detector = (detector or "").strip().upper()
    for entry in library_entries():
        if entry.generated and entry.mode == mode and entry.detector == detector:
            return entry
    return None


def write_defaults(folder: Path) -> list[Path]:
    """Write the generated known-dark masks into ``folder``; return their paths."""
    written = []
    for entry in library_entries(folder):
        if not entry.generated:
            continue
        bands = ", ".join(f"{a}-{b}" for a, b in KNOWN_DARK_COLUMNS[entry.mode])
        written.append(
            write_nsclean_fits(
                entry.path,
                known_dark_mask(entry.detector, entry.mode),
                extra={
                    "DETECTOR": (entry.detector, "NIRSpec detector"),
                    "NSC_MODE": (entry.mode, "observing mode this mask suits"),
                    "NSC_LIB": (entry.name, "nsclean-gui library entry"),
                },
                history=[
                    f"Known-dark {entry.mode} regions: detector columns {bands},",
                    "detector rows 4-2043 (first-generation NSClean fixed strips),",
                    "written in DMS orientation by app.core.mask.library.",
                ],
            )
        )
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: regenerate the known-dark masks (into ``lib/`` by default)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=None)
    args = parser.parse_args(argv)
    for path in write_defaults(args.folder or library_dir()):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
