"""Before a mask leaves the app: is the published fit stable with it, and if not, fix it?

Exported masks go to the JWST pipeline (``clean_flicker_noise --user_mask``) and NSClean
1.x, whose fit is unstable on lines with clustered background or orphan samples
(:mod:`app.core.mask.published`). The export asks what to do, once per export, with
the count and the lines: write the remedied mask (:func:`app.core.mask.safe.make_safe`,
the default button), write it as painted, or cancel. The painted layers never change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PyQt6.QtWidgets import QMessageBox, QWidget

from app.core.mask.published import provenance_cards, published_fit

#: Button texts of the question (tests press them by text).
SAFE_TEXT = "Make it safe"
AS_IS_TEXT = "Export as painted"


@dataclass
class ExportChoice:
    """The mask to write, the provenance it carries and what the status bar says."""

    mask: np.ndarray
    cards: dict[str, object] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    note: str = ""


def choose_export(parent: QWidget, mask: np.ndarray, detector: str | None,
                  allowed: np.ndarray | None) -> ExportChoice | None:
    """Check ``mask`` (DMS) for the published fit; ask when it is unstable somewhere.

    Returns None when the user cancels. Subarrays and masks of an unknown detector are
    written as they are (the published subarray fit has no per-line matrices).
    """
    if detector not in ("NRS1", "NRS2") or mask.shape != (2048, 2048):
        return ExportChoice(mask)
    fit = published_fit(mask, detector)
    if fit.stable:
        cards, history = provenance_cards(fit)
        return ExportChoice(mask, cards, history, fit.summary())
    from app.core.mask.safe import make_safe  # scipy.ndimage: only when it is needed

    safe = make_safe(mask, detector, allowed=allowed)
    box = QMessageBox(QMessageBox.Icon.Warning, "Published fit unstable",
                      f"{fit.summary()}.\n\nThe JWST pipeline's NSClean and NSClean 1.x would "
                      "swing across the gaps of these lines with this mask (our own cleaning "
                      "fits their mean level instead).\n\n"
                      f"{SAFE_TEXT}: {safe.summary()}. The borrowed pixels are the gaps "
                      "that the nearest stable lines on both sides share; excluded and "
                      "unusable pixels are never borrowed. Your layers do not change.\n\n"
                      f"{AS_IS_TEXT}: write the mask as it is.", parent=parent)
    make = box.addButton(SAFE_TEXT, QMessageBox.ButtonRole.AcceptRole)
    as_is = box.addButton(AS_IS_TEXT, QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(make)
    box.exec()
    clicked = box.clickedButton()
    if clicked is make:
        cards, history = provenance_cards(safe.after)
        return ExportChoice(safe.mask, cards, [safe.summary(), *history],
                            f"{safe.summary()}; {safe.after.summary()}")
    if clicked is as_is:
        cards, history = provenance_cards(fit)
        return ExportChoice(mask, cards, history, fit.summary())
    return None
