"""The public cleaning API: ``clean`` for arrays, ``clean_product`` for pipeline files.

>>> result = clean(image, mask, detector="NRS1")          # doctest: +SKIP
>>> result.cleaned, result.model, result.diagnostics.unfit_lines  # doctest: +SKIP

Images and masks are in DMS orientation (as in ``*_rate.fits``); the mapping to detector
lines happens inside. A full 2048×2048 frame is cleaned with the per-line Fourier fit
("fft"); any other shape with the subarray variant; "median" is the simple baseline;
"time" fits each line in read time with the four outputs together
(:mod:`app.core.engine.time_fit`; subarrays, read by one output, fall back to "fft").

:class:`CleanParams` (with ``METHODS``, ``BACKGROUNDS`` and ``PARAM_RANGES``) is defined
in :mod:`app.core.clean_params` and re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from app.core.clean_params import (  # noqa: F401  (re-exported: the public spelling)
    BACKGROUNDS,
    METHODS,
    PARAM_RANGES,
    CleanParams,
)
from app.core.engine.fourier import LineFitter
from app.core.engine.fourier_basis import BORDER
from app.core.engine.median import median_model
from app.core.engine.readtime import line_timing
from app.core.engine.robust import masked_median
from app.core.engine.subarray import SUBARRAY_FC, subarray_model
from app.core.engine.time_fit import TimeFitter
from app.core.errors import InputError, MaskError
from app.core.files.products import DO_NOT_USE
from app.core.orientation import DETECTORS, dms_to_detector_coords

FULL_FRAME = (2048, 2048)


@dataclass
class Diagnostics:
    """What the fit could and could not do, per detector line.

    Attributes
    ----------
    samples_per_line : ndarray of int
        Usable background samples on each detector line (index = detector line).
    unfit_lines : ndarray of int
        Detector lines (outside the reference border) with too few samples to be fit.
        Their own fit is zero; with buffing on they receive the smoothed model of their
        neighbours (a line between two fitted ones about 73 %: all but the kernel's
        central weight, 1 − 1/(1.5·√(2π)), as in the published code, which skips empty
        lines the same way); without buffing they are left as they were.
    min_samples : int
        Samples a line needs to be fit (more than the number of fitted frequencies).
        "time": ticks at which some output sees background, for more than the mean.
    background_level : float
        The level removed before the fit and restored after.
    method : str
        "fft", "fft-subarray", "median" or "time".
    reduced_lines : ndarray of int
        Detector lines whose background is too clustered for the Fourier fit to be
        trusted across their gaps (ill-conditioned normal matrix): only their mean level
        was fitted and removed (see :mod:`app.core.engine.conditioning`). "time": lines
        with background at fewer than ``min_samples`` ticks (its 1/f prior keeps the
        others stable across gaps).
    """

    samples_per_line: np.ndarray
    unfit_lines: np.ndarray
    min_samples: int
    background_level: float
    method: str
    notes: list[str] = field(default_factory=list)
    reduced_lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass
class CleanResult:
    """The outcome of :func:`clean`: all arrays in DMS orientation."""

    cleaned: np.ndarray
    model: np.ndarray
    diagnostics: Diagnostics
    params: CleanParams
    detector: str
    coefficients: np.ndarray | None = None  # fft: g_k per DMS column, for incremental refits
    background: float | np.ndarray = 0.0  # the level removed before the fit and restored


def usable_background(image: np.ndarray, mask: np.ndarray, dq: np.ndarray | None = None
                      ) -> np.ndarray:
    """Background samples the fit may use: mask ∧ finite ∧ not DO_NOT_USE ∧ not border."""
    usable = np.asarray(mask, dtype=bool) & np.isfinite(image)
    if dq is not None:
        usable &= (dq & DO_NOT_USE) == 0
    return usable & ~reference_pixels(usable.shape)


def reference_sides(shape: tuple[int, int]) -> tuple[bool, bool]:
    """Whether an image of ``shape`` has reference rows (top and bottom) and columns.

    The border lies along an axis only where the image spans the whole detector (2048
    pixels) along it: a 2048×32 subarray has reference columns but no reference rows.
    """
    return shape[0] == FULL_FRAME[0], shape[1] == FULL_FRAME[1]


def reference_pixels(shape: tuple[int, int]) -> np.ndarray:
    """True on the 4-pixel reference border (see :func:`reference_sides`)."""
    border = np.zeros(shape, dtype=bool)
    rows, columns = reference_sides(shape)
    if rows:
        border[:BORDER] = border[-BORDER:] = True
    if columns:
        border[:, :BORDER] = border[:, -BORDER:] = True
    return border


def check_inputs(image: np.ndarray, mask: np.ndarray, detector: str) -> str:
    """Validate shapes, type and detector; return the detector name in upper case."""
    if image.ndim != 2:
        raise InputError(f"image must be 2-D, got shape {image.shape}")
    mask = np.asarray(mask)
    if mask.shape != image.shape:
        raise MaskError(f"mask shape {mask.shape} does not match image shape {image.shape}")
    if mask.dtype != bool and not np.issubdtype(mask.dtype, np.integer):
        raise MaskError(f"mask must be boolean or integer, got {mask.dtype}")
    name = str(detector or "").strip().upper()
    if name not in DETECTORS:
        raise InputError(f"detector must be NRS1 or NRS2, got {detector!r}")
    if min(image.shape) <= 2 * BORDER:
        raise InputError(f"image shape {image.shape} is too small to clean")
    return name


def clean(
    image: np.ndarray,
    mask: np.ndarray,
    detector: str = "NRS1",
    method: str = "fft",
    *,
    dq: np.ndarray | None = None,
    params: CleanParams | None = None,
    readpatt: str | None = None,
    **overrides: object,
) -> CleanResult:
    """Remove correlated read noise from one DMS-oriented image.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        Count rates in DMS orientation; NaN pixels are never background and stay NaN.
    mask : ndarray of bool, same shape
        True where the pixel is background (dark): the samples the model is fit to.
    detector : {"NRS1", "NRS2"}
        Which detector the image comes from (fixes the mapping to detector lines).
    method : {"fft", "median", "time"}
        See :class:`CleanParams`.
    dq : ndarray of int, optional
        DQ flags; DO_NOT_USE pixels are never background.
    params : CleanParams, optional
        All parameters at once; keyword ``overrides`` (``fc=``, ``buff=`` ...) replace
        single fields.
    readpatt : str, optional
        The exposure's readout pattern (header ``READPATT``); only "time" uses it:
        NRSIRS2/NRSIRS2RAPID read with IRS² timing, anything else (None included) with
        the traditional timing (:mod:`app.core.engine.readtime`).

    Returns
    -------
    CleanResult
        Cleaned image, fitted model and per-line diagnostics.

    Raises
    ------
    InputError, MaskError
        For wrong shapes, an unknown detector or method, or a mask without any usable
        background sample.
    """
    params = replace(params or CleanParams(), method=method, **overrides).validated()
    name = check_inputs(image, mask, detector)
    data = np.asarray(image, dtype=np.float32)
    # the step decides background from the user mask alone, never from DQ
    usable = usable_background(data, mask, None if params.like_pipeline else dq)
    if not usable.any():
        raise MaskError("the mask leaves no usable background pixel (all False, NaN or border)")
    subtract_level = params.background == "median"
    # Clipping, a 2-D level or the step's statistics need the level before the fit.
    prepared = params.like_pipeline or params.n_sigma > 0 or params.background == "model"
    # The full-frame complex fit measures the level in its own sort of the lines (faster).
    fits_level = data.shape == FULL_FRAME and not prepared and (
        params.method == "time" or (params.method == "fft" and params.fit == "complex"))
    if prepared:
        level = prepared_level(data, usable, params)  # trims usable in place
    else:
        level = masked_median(data, usable) if subtract_level and not fits_level else 0.0
    shifted = data if fits_level else data - np.asarray(level, dtype=np.float32)
    coeffs, reduced = None, None
    if params.method == "time" and data.shape == FULL_FRAME:
        timing = line_timing(data.shape[0], readpatt)
        time_fitter = TimeFitter.cached(data.shape, name, timing, params.time_settings())
        # the fitter measures the level in its own sort of the lines, unless prepared
        fit, reduced = time_fitter.fit(data if fits_level else shifted, usable,
                                       subtract_level and fits_level)
        model = time_fitter.model(fit.theta)
        level = fit.level if fits_level else level
        counts, needed, kind = fit.counts, time_fitter.min_samples, "time"
        unfit = ~fit.fitted
    elif params.method == "median":
        model, counts, unfit = median_model(shifted, usable, by_channel=params.by_channel)
        needed, kind = 1, "median"
    elif data.shape == FULL_FRAME:
        # kept per thread: a rateints or a batch with one mask reuses weights and matrices
        fitter = LineFitter.cached(data.shape, name, params.fit_settings())
        if params.fit == "real":
            from app.core.engine.fourier_real import fit_lines_real
            reduced = np.zeros(data.shape[1], dtype=bool)
            coeffs, counts = fit_lines_real(fitter, shifted, usable, ridge=params.ridge,
                                            reduced=reduced)
        else:
            fit = fitter.fit_frame(shifted, usable, subtract_level and fits_level)
            coeffs, counts, reduced = fit.coeffs, fit.counts, fit.reduced
            if fits_level:
                level = fit.level
        model = fitter.model(coeffs)
        needed, kind = fitter.nvec + 1, "fft"
        unfit = counts < needed
    else:
        model, counts, unfit = subarray_model(shifted, usable, name,
                                              legacy_kernels=params.legacy_kernels,
                                              corners=params.subarray_fc or SUBARRAY_FC)
        needed, kind = 1, "fft-subarray"
    model, unfit = _finite_model(model, data, unfit)
    cleaned = data - model
    diagnostics = line_diagnostics(counts, unfit, needed, name, data.shape,
                                   float(np.median(level)), kind, reduced)
    if params.method == "time" and kind != "time":
        diagnostics.notes.append("time: a subarray is read by one output, so there is no "
                                 "second output to share the noise with; fitted as fft")
    return CleanResult(cleaned.astype(np.float32, copy=False), model, diagnostics, params, name,
                       coeffs, background=level)


def prepared_level(data: np.ndarray, usable: np.ndarray, params: CleanParams
                   ) -> float | np.ndarray:
    """The background level (a number, or an image for ``model``) and, in place, the
    background samples left once residual signal is clipped (``n_sigma``).

    With ``like_pipeline`` the level is measured as the step measures it, after a 3σ
    lower-half clip that also trims ``usable`` (:func:`app.core.engine.levels.background_level`).
    """
    from app.core.engine.levels import background_level, clip_signal

    if params.background == "model" or (params.like_pipeline and params.background == "median"):
        values = np.nan_to_num(data, nan=0.0)  # NaN are never in usable; 0 as the step has
        level = background_level(values, usable, params.background, params.background_box_size)
    elif params.background == "median":
        level = masked_median(data, usable)
    else:  # "none", or "median_image" (the caller subtracted the median image)
        level = 0.0
    if params.n_sigma > 0 and usable.any():
        residual = data - np.asarray(level, dtype=np.float32)
        # the step's user-mask path clips without the histogram fit
        clip_signal(residual, usable, lower=params.n_sigma, upper=params.n_sigma,
                    lower_half=True, fit_histogram=params.fit_histogram
                    and not params.like_pipeline)
        if params.background == "median" and not params.like_pipeline and usable.any():
            # the level of what is left: signal the clip removed no longer lifts it
            level = masked_median(data, usable)
    return level


def _finite_model(model: np.ndarray, data: np.ndarray, unfit: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Leave uncleaned (model 0, reported unfit) every line whose model is not finite
    where the data are: extreme data or parameters must never turn a finite pixel into
    NaN or infinity in the output."""
    bad = np.isfinite(data)
    np.logical_and(bad, ~np.isfinite(model), out=bad)
    columns = bad.any(axis=0)
    if not columns.any():
        return model, unfit
    model = np.array(model, copy=True)
    model[:, columns] = 0
    return model, np.asarray(unfit, dtype=bool) | columns


def line_diagnostics(counts: np.ndarray, unfit_columns: np.ndarray, needed: int, detector: str,
                     shape: tuple[int, int], level: float, method: str,
                     reduced_columns: np.ndarray | None = None) -> Diagnostics:
    """Per-detector-line sample counts and the lines (outside the border) left unfit or
    fitted by their mean level only (``reduced_columns``: bool per DMS column)."""
    columns = np.arange(shape[1])
    lines = np.asarray(dms_to_detector_coords(columns, 0, detector, shape)[0])
    per_line = np.zeros(shape[1], dtype=np.int64)
    per_line[lines] = counts
    unfit = np.zeros(shape[1], dtype=bool)
    unfit[lines] = unfit_columns
    if shape[1] == FULL_FRAME[1]:  # the reference lines are never fit: not a failure
        unfit[:BORDER] = unfit[-BORDER:] = False
    reduced = np.zeros(shape[1], dtype=bool)
    if reduced_columns is not None:
        reduced[lines] = reduced_columns
    return Diagnostics(per_line, np.flatnonzero(unfit), needed, level, method,
                       reduced_lines=np.flatnonzero(reduced & ~unfit))
