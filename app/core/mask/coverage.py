"""Background coverage per detector line: which lines can NSClean constrain?

NSClean fits each detector line (one DMS column, read along DMS y) with a low-order
Fourier series through that line's background samples. A line with no more samples than
fitted coefficients cannot be fit at all (the engine leaves it uncleaned), and a line
whose samples bunch together is unconstrained in its long gaps: the fitted series may
swing freely there. :func:`line_coverage` measures both for a mask, so the user can free
some background where it is missing, before cleaning. Which lines are too clustered is
judged by the fit actually in use (the cleaning parameters' method and fit: the
conditioning of its normal matrices, a 1/f prior included), by running it; and, apart
from it, by the published fit (:mod:`app.core.mask.published`), which the mask meets
when it is passed to the JWST pipeline or NSClean 1.x.

Per line it reports the number of samples, the fraction of each of :data:`SEGMENTS`
equal segments that is background (how the samples spread along the line) and the
longest run without any background sample. Lines are indexed in detector order (for
NRS2 the reverse of DMS column order); :meth:`LineCoverage.columns` maps them back.

The read-time fit (method "time") sees a line as the four outputs read it, at the same
ticks: a tick is covered when *any* output has background there, so a trace over one
output leaves no gap if another output sees background at those ticks. For it the
longest gap is counted in read steps (ticks) without background in any output, and
every line with a sample is cleaned (at least its mean level).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.engine.conditioning import COND_LIMIT
from app.core.errors import MaskError
from app.core.mask.published import PublishedFit, checked, published_fit

#: Segments along a line for the spread diagnostic (2048 / 8 = 256 samples each).
SEGMENTS = 8
#: Read-time fit: read steps without background in any output beyond which the common
#: series is set by its 1/f prior alone (a quarter of an output's 512 reads).
TIME_GAP_LIMIT = 128


@dataclass
class LineCoverage:
    """Background coverage of every detector line (index = detector line).

    Attributes
    ----------
    detector : str
        ``NRS1`` or ``NRS2``.
    shape : tuple of int
        DMS image shape.
    samples : ndarray of int
        Usable background samples per line.
    segments : ndarray of float, shape (nlines, SEGMENTS)
        Fraction of each segment of the line (along the fast axis) that is background.
    max_gap : ndarray of int
        Longest run of samples without background (within the fitted part of the line).
    fitted : ndarray of bool
        Lines the engine fits at all (False for the reference lines).
    min_samples : int
        Samples a line needs to be fit (the engine's ``Diagnostics.min_samples``).
    gap_limit : int
        Gaps longer than this (one period of the cut-off frequency, ``1/fc``) leave the
        fitted series unconstrained.
    """

    detector: str
    shape: tuple[int, int]
    samples: np.ndarray
    segments: np.ndarray
    max_gap: np.ndarray
    fitted: np.ndarray
    min_samples: int
    gap_limit: int
    windowed: np.ndarray | None = None
    #: Per detector line: the fit in use removes only the mean level (too clustered).
    reduced: np.ndarray | None = None
    #: The criterion that decides ``reduced``, in words.
    criterion: str = ""
    #: The published fit's conditioning (full frames), or None.
    published: PublishedFit | None = None

    @property
    def unfit_lines(self) -> np.ndarray:
        """Fitted-range lines the engine leaves uncleaned: fewer than ``min_samples``
        samples or, for a subarray (``windowed``: lines covered by a fit window), no fit
        window (the subarray fit shares windows of lines, so a line without samples
        between lines with samples is still cleaned)."""
        if self.windowed is not None:
            return np.flatnonzero(self.fitted & ~self.windowed)
        return np.flatnonzero(self.fitted & (self.samples < self.min_samples))

    @property
    def sparse_lines(self) -> np.ndarray:
        """Lines that can be fit but are too clustered for the fit in use (``reduced``);
        without that measurement, lines with a gap longer than ``gap_limit``."""
        ok = self.fitted & (self.samples >= self.min_samples)
        if self.windowed is not None:
            ok = self.fitted & self.windowed
        if self.reduced is not None:
            return np.flatnonzero(ok & self.reduced)
        return np.flatnonzero(ok & (self.max_gap > self.gap_limit))

    @property
    def published_unstable_lines(self) -> np.ndarray:
        """Lines where the published fit (jwst, NSClean 1.x) is unstable."""
        if self.published is None:
            return np.zeros(0, dtype=np.int64)
        return self.published.unstable_lines

    def columns(self, lines: np.ndarray) -> np.ndarray:
        """DMS columns of detector ``lines`` (the same for NRS1, mirrored for NRS2)."""
        from app.core.orientation import detector_to_dms_coords

        lines = np.asarray(lines, dtype=np.int64)
        return np.asarray(detector_to_dms_coords(lines, 0, self.detector, self.shape)[0],
                          dtype=np.int64)

    def summary(self, max_ranges: int = 8) -> str:
        """A few lines of text for the CLI and the GUI."""
        fitted = self.samples[self.fitted]
        unfit, sparse = self.unfit_lines, self.sparse_lines
        need = (f"a line needs at least {self.min_samples} sample"
                f"{'s' if self.min_samples != 1 else ''}")
        if self.windowed is not None:
            need = "subarray: neighbouring lines are fitted together"
        lines = [f"background coverage ({self.detector}, {fitted.size} detector lines fitted, "
                 f"{need}):"]
        if fitted.size:
            lines.append(f"  samples per line: min {fitted.min()}, median "
                         f"{int(np.median(fitted))}, max {fitted.max()}")
        if unfit.size:
            lines.append(f"  {unfit.size} lines cannot be fit and stay uncleaned: "
                         f"{format_ranges(unfit, max_ranges)}")
        if sparse.size and self.reduced is not None:
            lines.append(f"  {sparse.size} lines are too clustered for the fit in use "
                         f"(only their mean level is removed): {format_ranges(sparse, max_ranges)}")
        elif sparse.size:
            lines.append(f"  {sparse.size} lines have a gap longer than {self.gap_limit} "
                         f"samples (poorly constrained): {format_ranges(sparse, max_ranges)}")
        if not unfit.size and not sparse.size:
            lines.append("  every line has enough, well-spread background")
        if self.criterion:
            lines.append(f"  criterion: {self.criterion}")
        if self.published is not None:
            lines.append("  " + self.published.summary(max_ranges))
        return "\n".join(lines)


def format_ranges(values: np.ndarray, max_ranges: int = 8) -> str:
    """``[1, 2, 3, 7]`` → ``"1-3, 7"``; more than ``max_ranges`` ranges end in ``...``."""
    values = np.asarray(values, dtype=np.int64)
    if values.size == 0:
        return ""
    breaks = np.flatnonzero(np.diff(values) != 1) + 1
    parts = [f"{r[0]}" if r.size == 1 else f"{r[0]}-{r[-1]}" for r in np.split(values, breaks)]
    return ", ".join(parts[:max_ranges]) + (" ..." if len(parts) > max_ranges else "")


def min_samples(shape: tuple[int, int], detector: str, params: object | None = None) -> int:
    """Samples a detector line needs for the engine to fit it, for ``params`` (CleanParams).

    Full frame, Fourier fit: more than the number of fitted frequencies (``nvec + 1`` of
    :class:`app.core.engine.fourier.LineFitter`); median and subarray variants: one.
    """
    from app.core.clean import FULL_FRAME, CleanParams
    from app.core.engine.fourier import LineFitter

    params = params if isinstance(params, CleanParams) else CleanParams()
    if params.method in ("median", "time") or tuple(shape) != FULL_FRAME:
        return 1  # "time": any sample gives at least the line's mean level
    return LineFitter(FULL_FRAME, detector, params.fit_settings()).nvec + 1


def line_coverage(mask: np.ndarray, detector: str, *, image: np.ndarray | None = None,
                  dq: np.ndarray | None = None, params: object | None = None,
                  fit_in_use: bool = True, published: PublishedFit | bool = True,
                  readpatt: str | None = None) -> LineCoverage:
    """Measure how well ``mask`` covers every detector line.

    Parameters
    ----------
    mask : ndarray of bool, shape (ny, nx)
        Background mask, DMS orientation.
    detector : {"NRS1", "NRS2"}
        Fixes which DMS column is which detector line.
    image, dq : ndarray, optional
        When given, NaN and DO_NOT_USE pixels do not count (as in the engine).
    params : CleanParams, optional
        Cleaning parameters (``fc`` and the method decide what a line needs).
    fit_in_use : bool
        Run the fit of ``params`` on the mask to find the lines it can only fit by their
        mean (``reduced``); False falls back to the gap criterion (faster).
    published : PublishedFit or bool
        The published fit's conditioning: measured (True), given, or not (False).
    readpatt : str, optional
        Readout pattern, for the read-time method.

    Raises
    ------
    MaskError, InputError
        Not a 2-D mask, a mask that does not match the image, an unknown detector.
    """
    from app.core.clean import FULL_FRAME, CleanParams, reference_pixels, usable_background
    from app.core.engine.fourier_basis import BORDER
    from app.core.orientation import dms_to_detector_coords

    mask, name = checked(mask, detector)
    if image is not None and np.shape(image) != mask.shape:
        raise MaskError(f"mask shape {mask.shape} does not match image shape {np.shape(image)}")
    data = np.zeros(mask.shape, np.float32) if image is None else np.asarray(image)
    usable = usable_background(data, mask.astype(bool), dq)
    params = params if isinstance(params, CleanParams) else CleanParams()
    ny, nx = mask.shape
    start, stop = (BORDER, ny - BORDER) if ny == 2048 else (0, ny)
    inner = usable[start:stop]
    per_column = np.count_nonzero(inner, axis=0)
    bounds = np.linspace(0, inner.shape[0], SEGMENTS + 1).astype(np.int64)
    covered = np.add.reduceat(inner.astype(np.int32), bounds[:-1], axis=0)
    segments = (covered / np.maximum(np.diff(bounds), 1)[:, None]).T
    gaps = longest_false_run(inner)
    gap_limit = round(1.0 / params.fc)
    if params.method == "time" and tuple(mask.shape) == FULL_FRAME:
        gaps, gap_limit = longest_false_run(_read_order(usable)), TIME_GAP_LIMIT
    lines = np.asarray(dms_to_detector_coords(np.arange(nx), 0, name, mask.shape)[0])
    fitted_columns = ~reference_pixels(mask.shape)[ny // 2]
    out = [np.empty_like(a) for a in (per_column, segments, gaps, fitted_columns)]
    for target, source in zip(out, (per_column, segments, gaps, fitted_columns), strict=True):
        target[lines] = source
    windowed = None
    if params.method != "median" and tuple(mask.shape) != FULL_FRAME:
        windowed = subarray_windowed(out[0], ny)
    reduced, criterion = None, ""
    if params.method == "time":  # its own criterion: gaps in read time (issue 18)
        criterion = (f"read-time fit: gaps longer than {gap_limit} reads in read order leave "
                     "the line poorly constrained")
    elif fit_in_use and usable.any():
        reduced, criterion = fit_in_use_reduced(data, mask, name, dq, params, readpatt)
    if published is True:
        published = published_fit(mask, name, image=image, dq=dq) if tuple(mask.shape) == \
            FULL_FRAME else None
    return LineCoverage(name, (ny, nx), out[0], out[1], out[2], out[3],
                        min_samples(mask.shape, name, params), gap_limit, windowed, reduced,
                        criterion, published or None)


def fit_in_use_reduced(image: np.ndarray, mask: np.ndarray, detector: str,
                       dq: np.ndarray | None, params: object, readpatt: str | None = None
                       ) -> tuple[np.ndarray, str]:
    """Per detector line, whether the fit of ``params`` removes only the mean level there
    (it runs that fit), and the criterion it applies, in words."""
    from app.core.clean import FULL_FRAME, clean

    data = np.where(np.isfinite(image), 0.0, np.nan).astype(np.float32)  # mask matters only
    result = clean(data, mask, detector, params.method, dq=dq, params=params, readpatt=readpatt)
    reduced = np.zeros(mask.shape[1], dtype=bool)
    reduced[result.diagnostics.reduced_lines] = True
    if params.method == "median":
        return reduced, "median method: every line with a sample gets its median; no gaps to span"
    if tuple(mask.shape) != FULL_FRAME:
        return reduced, "subarray fit: neighbouring lines are fitted together in windows"
    if params.method == "time":
        return reduced, ("read-time fit: its 1/f prior keeps lines with gaps stable; lines with "
                         "fewer samples than its unknowns are fitted by their mean level")
    if params.fit == "real" and params.ridge > 0:
        return reduced, (f"real fit with a 1/f prior (ridge {params.ridge:g}): the prior keeps "
                         "every fittable line stable, none is reduced to its mean")
    return reduced, (f"{params.fit} fit: lines whose normal matrix has a condition number "
                     f"above {COND_LIMIT:g} are fitted by their mean level only")


def _read_order(usable: np.ndarray) -> np.ndarray:
    """Per read step and line: whether any output sees background (the first steps read
    reference pixels in two outputs only, mid-frame pixels in the other two)."""
    from app.core.engine.readtime import line_timing, read_order_coverage

    return read_order_coverage(usable, line_timing(usable.shape[0]))


def subarray_windowed(samples: np.ndarray, line_length: int) -> np.ndarray:
    """Per detector line: whether a window of :func:`app.core.engine.subarray.subarray_model`
    that is dense enough to be fit covers it (its defaults: ``npix``, ``minfrac``).

    The subarray fit solves windows of consecutive lines holding a few hundred samples
    together, so only lines outside every such window stay uncleaned (before the first or
    after the last line with samples, or where the background is too sparse).
    """
    import inspect

    from app.core.engine.subarray import _windows, subarray_model

    defaults = inspect.signature(subarray_model).parameters
    npix, minfrac = defaults["npix"].default, defaults["minfrac"].default
    samples = np.asarray(samples, dtype=np.int64)
    cumulative = np.concatenate([[0], np.cumsum(samples)])
    covered = np.zeros(samples.size, dtype=bool)
    for start, stop in _windows(samples, npix):
        if (cumulative[stop] - cumulative[start]) / ((stop - start) * line_length) > minfrac:
            covered[start:stop] = True
    return covered


def longest_false_run(values: np.ndarray) -> np.ndarray:
    """Per column, the longest run of consecutive False values (ends included)."""
    n = values.shape[0]
    index = np.arange(n, dtype=np.int32)[:, None]
    last_true = np.where(values, index, np.int32(-1))
    np.maximum.accumulate(last_true, axis=0, out=last_true)
    if n == 0:
        return np.zeros(values.shape[1], dtype=np.int64)
    return (index - last_true).max(axis=0).astype(np.int64)
