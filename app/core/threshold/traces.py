"""Threshold the traces of a rate image into a light (signal) mask.

Painting every trace of an IFU or MOS exposure by hand takes an hour; this finds them in
seconds. The steps (each a field of :class:`ThresholdSettings`):

1. Background: the column, channel and row levels of the correlated read noise are
   fitted and removed (:func:`app.core.threshold.background.fit_background`), so banding and
   picture frame are not mistaken for light.
2. Smoothing (``gaussian``, ``median`` or ``none``): ``smooth_size`` pixels across the
   dispersion (DMS rows) and ``elongation`` times more along it, because traces run along
   rows: faint continua add up along the trace while the trace edges stay sharp.
3. Noise: σ-clipped centre and σ (astropy) of the smoothed image over the background
   candidates.
4. Light: smoothed pixels above ``centre + sigma·σ``; connected regions smaller than
   ``min_size`` pixels are dropped (noise peaks) and gaps along the dispersion shorter
   than ``2·CLOSE_ALONG_DISPERSION + 1`` pixels are closed. Light grows by ``grow``
   pixels where it is faint and by ``bright_grow`` where it is brighter than
   ``bright_sigma``: a faint trace fades into the noise inside its true edge (its last
   pixels are below the threshold), while the blur of a bright one already reaches past
   it. One growth for both would either leave faint edges in the background or eat the
   narrow gaps between bright IFU slices.
5. Low side: pixels below ``centre − low_sigma·σ`` (smoothed: negative nod traces;
   single pixels: bad pixels), grown by one pixel, are never background either.

:class:`Thresholder` caches step 1 per image, steps 2–3 per smoothing and the light
before growth per σ and size (and its labelled regions per σ), so a σ slider move costs
step 4 (60–70 ms on a full frame), a size move the size filter and gap closing (about
25 ms) and a growth move only the growth (about 10 ms). Filters live in
:mod:`app.core.threshold.smoothing`, the morphology in :mod:`app.core.threshold.regions`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from app.core.errors import InputError
from app.core.files.products import DO_NOT_USE
from app.core.threshold.background import Background, fit_background, robust_stats
from app.core.threshold.regions import dilate, fill_row_gaps, keep_large_regions, label_regions
from app.core.threshold.smoothing import SMOOTHING, smooth_residual

__all__ = ["SMOOTHING", "ThresholdResult", "ThresholdSettings", "Thresholder",
           "limit_to_region", "smooth_residual"]

#: Light regions are closed along the dispersion over gaps up to 2·15 + 1 pixels: a
#: faint trace dipping below the threshold for a few pixels is still one trace.
CLOSE_ALONG_DISPERSION = 15

#: Largest smoothing accepted, in pixels across and along the dispersion (σ or half-width
#: of the median box; the GUI offers up to 10 × 12). Beyond, a median box exhausts memory.
MAX_SMOOTH = 64.0
MAX_REACH = 1024.0


@dataclass(frozen=True)
class ThresholdSettings:
    """Every threshold parameter, named and defaulted (see the module docstring).

    Attributes
    ----------
    sigma : float
        Light is what the smoothed image shows above ``centre + sigma·σ``.
    smoothing : {"gaussian", "median", "none"}
        Filter applied before thresholding.
    smooth_size : float
        Gaussian σ, or median half-width, across the dispersion (pixels).
    elongation : float
        The filter is this many times longer along the dispersion (DMS x).
    grow : int
        Pixels added around faint light (below ``bright_sigma``).
    bright_grow : int
        Pixels added around bright light.
    bright_sigma : float
        Light above ``centre + bright_sigma·σ`` counts as bright.
    min_size : int
        Light regions smaller than this (pixels, before growing) are noise and dropped.
    low_sigma : float
        Pixels below ``centre − low_sigma·σ`` are rejected; 0 disables the low side.
    """

    sigma: float = 2.3
    smoothing: str = "gaussian"
    smooth_size: float = 0.7
    elongation: float = 12.0
    grow: int = 3
    bright_grow: int = 1
    bright_sigma: float = 5.0
    min_size: int = 600
    low_sigma: float = 4.0

    def validated(self) -> ThresholdSettings:
        """Return self after checking ranges; raise :class:`InputError` with the reason."""
        if self.smoothing not in SMOOTHING:
            raise InputError(f"unknown smoothing {self.smoothing!r}; expected one of "
                             f"{', '.join(SMOOTHING)}")
        for name in ("sigma", "smooth_size", "elongation", "bright_sigma", "low_sigma"):
            if not np.isfinite(getattr(self, name)):  # inf reached scipy and crashed there
                raise InputError(f"{name} must be a finite number, got {getattr(self, name)}")
        if not self.sigma > 0:
            raise InputError(f"sigma must be positive, got {self.sigma}")
        if self.smoothing != "none" and not self.smooth_size > 0:
            raise InputError(f"smoothing size must be positive, got {self.smooth_size}")
        if not self.elongation >= 1:
            raise InputError(f"elongation must be at least 1, got {self.elongation}")
        if self.smoothing != "none" and not (self.smooth_size <= MAX_SMOOTH
                                             and self.smooth_size * self.elongation <= MAX_REACH):
            # a larger median box exhausts memory in scipy; light is never that wide
            raise InputError(f"smoothing size {self.smooth_size:g} × elongation "
                             f"{self.elongation:g} is too large: at most {MAX_SMOOTH:g} px "
                             f"across and {MAX_REACH:g} px along the dispersion")
        for name in ("grow", "bright_grow", "min_size"):
            value = getattr(self, name)
            if int(value) != value or value < 0:
                raise InputError(f"{name} must be a whole number ≥ 0, got {value}")
        if not self.bright_sigma > 0:
            raise InputError(f"bright_sigma must be positive, got {self.bright_sigma}")
        if not self.low_sigma >= 0:
            raise InputError(f"low_sigma must be ≥ 0 (0 disables it), got {self.low_sigma}")
        return self

    @property
    def smoothing_key(self) -> tuple[str, float, float]:
        """What the cached smoothed image depends on."""
        if self.smoothing == "none":
            return ("none", 0.0, 1.0)
        return (self.smoothing, float(self.smooth_size), float(self.elongation))

    def as_dict(self) -> dict[str, object]:
        """Plain dict (headers, sessions, JSON)."""
        return asdict(self)

    def replace(self, **changes: object) -> ThresholdSettings:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass
class ThresholdResult:
    """The outcome of one threshold (all arrays DMS, boolean).

    Attributes
    ----------
    signal : ndarray
        Light regions after size filter and growth.
    low : ndarray
        Low-side outliers (grown by one pixel).
    usable : ndarray
        Pixels that can be background at all (finite, not DO_NOT_USE, not border).
    centre, noise : float
        Centre and σ of the smoothed image.
    settings : ThresholdSettings
    regions : int
        Light regions kept.
    """

    signal: np.ndarray
    low: np.ndarray
    usable: np.ndarray
    centre: float
    noise: float
    settings: ThresholdSettings
    regions: int

    @property
    def light(self) -> np.ndarray:
        """What goes into the light layer: signal and low-side outliers."""
        return self.signal | self.low

    @property
    def background(self) -> np.ndarray:
        """The background mask: usable and not light."""
        return self.usable & ~self.light

    def problem(self) -> str | None:
        """A message when the threshold selects everything or nothing, else None."""
        kept = int(np.count_nonzero(self.background))
        if kept == 0:
            s = self.settings
            return (f"the threshold marks every usable pixel as light (σ = {s.sigma:g}, grow "
                    f"{s.grow}, bright grow {s.bright_grow}): raise σ or reduce the growth")
        if not self.signal.any():
            return (f"nothing rises above {self.settings.sigma:g}σ of the background: "
                    "lower σ, smooth more, or paint the traces by hand")
        return None

    def check(self) -> ThresholdResult:
        """Return self, or raise :class:`InputError` with :meth:`problem`'s message."""
        problem = self.problem()
        if problem:
            raise InputError(problem)
        return self


class Thresholder:
    """Threshold one image repeatedly, caching what slider moves do not change.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        Count rates in DMS orientation (e.g. the working image or a rate file's SCI).
    dq : ndarray of int, optional
        DQ flags; DO_NOT_USE pixels are never background.
    border : int
        Reference-pixel border: 4 on sides spanning the full 2048-pixel detector.

    Raises
    ------
    InputError
        Not a 2-D image, or no usable (finite, flagged-good) pixel at all.
    """

    def __init__(self, image: np.ndarray, dq: np.ndarray | None = None) -> None:
        from app.core.clean import reference_pixels

        data = np.asarray(image)
        if data.ndim != 2 or min(data.shape) < 1:
            raise InputError(f"thresholding needs a 2-D image, got shape {data.shape}")
        if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
            raise InputError(f"the image holds {data.dtype} values, not count rates")
        self.image = np.ascontiguousarray(data, dtype=np.float32)
        usable = np.isfinite(self.image) & ~reference_pixels(self.image.shape)
        if dq is not None:
            if np.shape(dq) != self.image.shape:
                raise InputError(f"DQ shape {np.shape(dq)} differs from image shape "
                                 f"{self.image.shape}")
            usable &= (np.asarray(dq) & DO_NOT_USE) == 0
        if not usable.any():
            raise InputError("the image has no usable pixel (all NaN, DO_NOT_USE or border)")
        self.usable = usable
        self._background: Background | None = None
        self._smoothed: dict[tuple, tuple[np.ndarray, float, float]] = {}
        self._low: dict[tuple, np.ndarray] = {}
        self._core: tuple[tuple, np.ndarray, np.ndarray, int] | None = None
        self._labels: tuple[tuple, np.ndarray, np.ndarray] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape ``(ny, nx)``."""
        return self.image.shape  # type: ignore[return-value]

    @property
    def background(self) -> Background:
        """The fitted background (computed on first use: a few seconds per full frame)."""
        return self.fit()

    def fit(self) -> Background:
        """Fit the background now (slow step; call it off the GUI thread) and return it."""
        if self._background is None:
            self._background = fit_background(self.image, self.usable)
        return self._background

    def smoothed(self, settings: ThresholdSettings) -> tuple[np.ndarray, float, float]:
        """``(smoothed residual, centre, σ)`` for the smoothing of ``settings`` (cached)."""
        key = settings.smoothing_key
        if key not in self._smoothed:
            bg = self.background
            image = smooth_residual(bg.residual, bg.usable, *key)
            centre, noise = robust_stats(image[bg.candidates], lower_half=True)
            if not np.isfinite(noise) or noise <= 0:
                raise InputError("the image has no measurable noise (constant values?): "
                                 "nothing to threshold")
            while len(self._smoothed) >= 2:  # keep the last two: toggling costs nothing
                self._smoothed.pop(next(iter(self._smoothed)))
            self._smoothed[key] = (image, centre, noise)
        return self._smoothed[key]

    def low_side(self, settings: ThresholdSettings) -> np.ndarray:
        """Pixels rejected on the low side (cached per smoothing and ``low_sigma``)."""
        key = (*settings.smoothing_key, float(settings.low_sigma))
        if key not in self._low:
            low = np.zeros(self.shape, dtype=bool)
            if settings.low_sigma > 0:
                image, centre, noise = self.smoothed(settings)
                bg = self.background
                with np.errstate(invalid="ignore"):
                    low = image < centre - settings.low_sigma * noise
                    low |= bg.residual < -settings.low_sigma * bg.noise
                low = dilate(low & bg.usable, 1, 1) & bg.usable
            if len(self._low) >= 4:
                self._low.pop(next(iter(self._low)))
            self._low[key] = low
        return self._low[key]

    def light_core(self, settings: ThresholdSettings) -> tuple[np.ndarray, np.ndarray, int]:
        """``(core, faint core, regions)`` before growth (the last one is cached).

        Core: smoothed pixels above the threshold, small regions dropped, gaps along the
        dispersion closed. Faint: the part below ``bright_sigma``. Growth-only slider
        moves reuse it.
        """
        key = (*settings.smoothing_key, float(settings.sigma), int(settings.min_size),
               float(settings.bright_sigma))
        if self._core is None or self._core[0] != key:
            image, centre, noise = self.smoothed(settings)
            core, regions = keep_large_regions(*self._regions(settings), settings.min_size)
            core = fill_row_gaps(core, 2 * CLOSE_ALONG_DISPERSION)
            with np.errstate(invalid="ignore"):
                faint = core & ~(image > centre + settings.bright_sigma * noise)
            self._core = (key, core, faint, regions)
        return self._core[1], self._core[2], self._core[3]

    def _regions(self, settings: ThresholdSettings) -> tuple[np.ndarray, np.ndarray]:
        """Labels and sizes of the regions above the threshold (the last ones are cached:
        a minimum-size slider move skips the labelling, two thirds of a σ move)."""
        key = (*settings.smoothing_key, float(settings.sigma))
        if self._labels is None or self._labels[0] != key:
            image, centre, noise = self.smoothed(settings)
            with np.errstate(invalid="ignore"):
                above = image > centre + settings.sigma * noise
            self._labels = (key, *label_regions(above))
        return self._labels[1], self._labels[2]

    def threshold(self, settings: ThresholdSettings | None = None) -> ThresholdResult:
        """Threshold with ``settings`` (defaults if None); see the module docstring."""
        settings = (settings or ThresholdSettings()).validated()
        _, centre, noise = self.smoothed(settings)
        core, faint, regions = self.light_core(settings)
        signal = dilate(core, settings.bright_grow, settings.bright_grow)
        signal |= dilate(faint, settings.grow, settings.grow)
        return ThresholdResult(signal, self.low_side(settings), self.usable, centre, noise,
                               settings, regions)


def limit_to_region(new: np.ndarray, current: np.ndarray, region: np.ndarray | None
                    ) -> np.ndarray:
    """``new`` inside ``region`` and ``current`` outside it (``region`` None: ``new``).

    So applying a threshold to a rectangle or polygon leaves the rest of a layer alone.
    """
    if region is None:
        return np.asarray(new, dtype=bool)
    return np.where(region, new, current)
