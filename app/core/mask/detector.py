"""A mask belongs to one detector: refuse it on the other one.

NRS1 and NRS2 see the spectra at different places (NRS2 is also read in the opposite
direction), so a mask thresholded on one detector's exposure marks the wrong pixels as
background on the other's, and nothing in the pixels says so. Every mask we write records
``DETECTOR``; masks that do not (the published NSClean masks) are accepted as they are.
"""

from __future__ import annotations

from app.core.errors import MaskError


def detector_mismatch(mask_detector: str | None, image_detector: str | None) -> bool:
    """True when both detectors are known and differ."""
    mask_name = str(mask_detector or "").strip().upper()
    image_name = str(image_detector or "").strip().upper()
    return bool(mask_name and image_name and mask_name != image_name)


def mismatch_text(mask_name: str, mask_detector: str | None, image_name: str,
                  image_detector: str | None) -> str:
    """The sentence naming both detectors."""
    return (f"{mask_name}: the mask was made for {str(mask_detector).upper()} but "
            f"{image_name} is {str(image_detector).upper()}")


def check_mask_detector(mask_detector: str | None, image_detector: str | None, *,
                        mask_name: str, image_name: str, override: str | None = None,
                        allow: bool = False) -> None:
    """Raise :class:`MaskError` when a mask made for one detector meets the other.

    Parameters
    ----------
    mask_detector, image_detector : str or None
        What the mask file and the image say; None (unknown) never refuses.
    mask_name, image_name : str
        How the message names them (file names).
    override : str, optional
        How the user can insist (for example ``"pass --any-mask-detector"``).
    allow : bool
        The user insisted: never raise.
    """
    if allow or not detector_mismatch(mask_detector, image_detector):
        return
    hint = f" ({override} to use it anyway)" if override else ""
    raise MaskError(mismatch_text(mask_name, mask_detector, image_name, image_detector) + hint)
