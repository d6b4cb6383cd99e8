"""Which files NSClean can clean: whole detector frames, not yet cleaned by us.

NSClean models the read noise along the detector's readout lines, so it needs the frame
as the detector read it: a ``rate`` or ``rateints`` file (or an IFU ``cal``, which is
still a full frame). A MOS or fixed-slit ``cal`` file holds slit cutouts instead, one
SCI extension per slit (with ``SLTNAME``): the first cutout is not a subarray readout,
and the other slits would be left untouched. A file that carries our cleaning
provenance (``NSC_METH``) has been cleaned already; cleaning it again fits the residual
of a residual and is refused unless the user insists.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from app.core.errors import InputError

if TYPE_CHECKING:  # annotations only: astropy.io.fits costs ~0.5 s of the GUI's start-up
    from astropy.io import fits

#: The keyword :func:`app.core.files.batch.provenance` writes into every cleaned file
#: (simulated files carry other NSC_* keywords but not this one).
CLEANED_KEYWORD = "NSC_METH"

NEEDS_FRAMES = ("NSClean needs detector frames: clean the rate or rateints file instead "
                "(an IFU cal file is a full frame and is accepted)")


def refuse_cutouts(path: Path, hdul: fits.HDUList) -> None:
    """Raise :class:`InputError` if ``hdul`` holds slit cutouts (several SCI, or SLTNAME)."""
    sci = [hdu for hdu in hdul if str(hdu.header.get("EXTNAME", "")).strip().upper() == "SCI"]
    slit = next((str(h.header["SLTNAME"]).strip() for h in sci if "SLTNAME" in h.header), None)
    if len(sci) > 1:
        what = f"{len(sci)} slit cutouts (SCI extensions)"
    elif slit is not None:
        what = f"a slit cutout (SLTNAME = {slit!r})"
    else:
        return
    raise InputError(f"{path}: holds {what}, as a MOS/FS cal file does; {NEEDS_FRAMES}")


def cleaned_already(header: fits.Header) -> bool:
    """True when the primary ``header`` says nsclean-gui cleaned this file."""
    return CLEANED_KEYWORD in header


def cleaned_note(header: fits.Header) -> str:
    """What is said of a cleaned file (its version and date when recorded)."""
    when = header.get("NSC_DATE")
    version = header.get("NSC_VER")
    by = f"nsclean-gui {version}" if version else "nsclean-gui"
    return f"was cleaned already by {by}{f' on {when}' if when else ''} (NSC_* keywords)"


def refuse_cleaned(path: Path, header: fits.Header, force: bool,
                   hint: str = "pass --force to clean it again") -> None:
    """Raise :class:`InputError` if the file was cleaned by us and ``force`` is False."""
    if not force and cleaned_already(header):
        raise InputError(f"{path}: {cleaned_note(header)}; {hint}")
