"""The pipeline step's per-file options: subarray frequencies and the median image.

- ``subarray_fc``: the step fits subarrays with an apodizer whose first corners are 1061
  and 1211 Hz, but 150 and 200 Hz for ``SUBARRAY = 'ALLSLITS'`` (less aggressive at higher
  frequencies). A value the user set is kept.
- ``background = "median_image"`` (time series): a median image across integrations,
  scaled per integration by its median flux relative to the median of those, is
  subtracted before the fit and restored after, so the fit sees only what changes from
  integration to integration. (For TSO spectra the step scales by an extracted
  white-light flux instead; we scale every mode by the image median, as the step does
  for modes other than TSO spectra and imaging.)
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
from astropy.io import fits

from app.core.clean import CleanParams
from app.core.engine.subarray import SUBARRAY_FC
from app.core.errors import InputError

#: The step's apodizer corners (Hz) for ALLSLITS subarrays.
ALLSLITS_FC = (150.0, 200.0, SUBARRAY_FC[2], SUBARRAY_FC[3])


def params_for_file(params: CleanParams, header: fits.Header) -> CleanParams:
    """``params`` with the subarray frequencies the step would use for this file."""
    if params.subarray_fc is not None:
        return params
    subarray = str(header.get("SUBARRAY", "")).strip().upper()
    return replace(params, subarray_fc=ALLSLITS_FC if subarray == "ALLSLITS" else SUBARRAY_FC)


def check_median_image(path, params: CleanParams, nints: int) -> None:
    """Raise :class:`InputError` when ``median_image`` is asked of a single integration."""
    if params.background == "median_image" and nints <= 1:
        raise InputError(f"{path}: background 'median_image' needs several integrations "
                         f"(a time series); this file has {nints}")


def flux_scale(per_integration: np.ndarray) -> np.ndarray:
    """Each integration's median over the median of those (1 where not finite).

    Parameters
    ----------
    per_integration : ndarray, shape (nints, ny, nx)
        Images whose typical flux scales the median image.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        medians = np.array([np.nanmedian(frame) for frame in per_integration])
        scale = medians / np.nanmedian(medians)
    bad = ~np.isfinite(scale)
    if bad.all():
        raise InputError("no finite flux to scale the median image by")
    scale[bad] = np.median(scale[~bad])
    return scale


def median_frames(frames: np.ndarray) -> np.ndarray:
    """NaN-ignoring median across axis 0 of ``frames`` (nints, ...), float32, computed
    a plane of axis 1 at a time so that it needs no copy of the whole cube."""
    out = np.empty(frames.shape[1:], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for k in range(frames.shape[1]):
            out[k] = np.nanmedian(frames[:, k], axis=0)
    return out
