"""The cleaning parameters: :class:`CleanParams`, every one named, defaulted and checked.

Re-exported by :mod:`app.core.clean`: ``from app.core.clean import CleanParams`` stays the
public spelling. Separate from :func:`~app.core.clean.clean` because the parameters are a
vocabulary of their own, shared by the CLI's options, the GUI's form, sessions, headers
and tuning, none of which needs the cleaning itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from itertools import pairwise

import numpy as np

from app.core.engine.fourier_basis import FitSettings
from app.core.engine.time_fit import TimeFitSettings
from app.core.errors import InputError

METHODS = ("fft", "median", "time")
#: Background handling; "median_image" is applied per file (it needs the integrations).
BACKGROUNDS = ("median", "none", "median_image", "model")

#: Meaningful range (inclusive) of each numeric parameter, with its unit. Outside them
#: the kernels underflow or overflow (σ of 1e-300 or 1e300 px, a ridge of 1e308) and the
#: fit returns NaN or nothing at all, so they are refused up front.
PARAM_RANGES: dict[str, tuple[float, float, str]] = {
    "sigrej": (0.5, 1e6, "σ"),
    "weight_sigma": (0.5, 2048.0, "pixels"),
    "buff_sigma": (0.5, 256.0, "lines"),
    "ridge": (0.0, 1e4, ""),
}


@dataclass(frozen=True)
class CleanParams:
    """Every cleaning parameter, named and defaulted.

    Attributes
    ----------
    method : {"fft", "median", "time"}
        "fft": NSClean's Fourier fit (the subarray variant is used automatically for
        frames other than 2048×2048). "median": subtract each line's background median.
        "time": per line one noise series in read time shared by the four outputs, plus
        each output's offset and low-order series, fitted to the background of all four
        outputs at once (:mod:`app.core.engine.time_fit`); needs the readout pattern
        (``readpatt`` of :func:`clean`). Frames read by one output (subarrays) use "fft".
    fc : float
        Half-power frequency of the low-pass filter, in cycles per pixel along a detector
        line. The default 1/256 keeps 8 cycles per 2048-pixel line: banding that varies
        more slowly than ~256 pixels along a DMS column is modelled, finer structure is not.
    kw : float or None
        Width of the cosine roll-off around ``fc`` ("kill width"), cycles per pixel.
        None means ``fc / 4``.
    sigrej : float
        Background samples farther than ``sigrej`` σ (1.4826 × MAD) from their line's
        median are replaced by the median before the fit (cosmic rays, hot pixels).
    weight_sigma : float
        σ in pixels of the Gaussian that measures the local density of background samples
        along a line; samples are weighted by its reciprocal so that large dark areas do
        not dominate the fit.
    buff : bool
        Smooth the fitted model across neighbouring lines (the dispersion direction)
        before subtracting it ("buffing").
    buff_sigma : float
        σ of that smoothing, in lines (DMS columns).
    legacy_kernels : bool
        Reproduce the published implementations exactly, including their kernels centred
        one line and one pixel off. Only for comparison with the JWST pipeline.
    background : {"median", "none"}
        Level removed from the data before the fit and restored afterwards, so that the
        cleaner models only the noise: the median of the background pixels, or nothing.
    by_channel : bool
        Median method only: one median per 512-pixel readout channel of each line.
    fit : {"complex", "real"}
        Full-frame least squares: "complex" is the published fit (complex amplitudes of
        positive frequencies, biased on lines with gaps); "real" fits the cos/sin series
        directly (:mod:`app.core.engine.fourier_real`), unbiased on lines with gaps.
    ridge : float
        "real" fit only: strength of a 1/f prior on the Fourier amplitudes (white-noise
        variance over the prior variance at one cycle per line). 0 = plain least
        squares; about 1–30 keeps high ``fc`` fits stable across gaps in the mask.
    harmonics : int
        "time" only: Fourier terms (cos and sin) of the common read-time series per
        basis period (1.25 × the time a line's samples span; 24 ≈ one cycle per 37 ticks
        with IRS², 27 with the traditional readout).
        Replaces ``fc``/``kw``, which "time" ignores, as it ignores buffing: neighbouring
        lines are read 524 (IRS²: 712) ticks apart.
    time_ridge : float
        "time" only: strength of its 1/f prior (> 0), as ``ridge``.
    output_terms : int
        "time" only: harmonics of each output's own series besides its offset.
    time_weighted : bool
        "time" only: weight the samples as NSClean does (``weight_sigma``). Off by
        default: on simulated exposures the density weights left more banding under the
        traces (the least-squares fit of white noise is best unweighted).
    n_sigma : float
        Before the fit, background samples farther than ``n_sigma`` σ from the centre of
        the image's background (both estimated from the lower half of the distribution
        mirrored about its median, :mod:`app.core.engine.levels`) are dropped as residual
        signal. 0 = off (ours); the pipeline step uses 2.
    fit_histogram : bool
        Estimate that centre and σ from a Gaussian fitted to the histogram instead.
    background_box_size : tuple of int or None
        ``background="model"``: box size (y, x) of the 2-D background; None = the largest
        side ≤ 32 that divides the image.
    subarray_fc : tuple of 4 floats or None
        Subarray variant: apodizer corners in Hz (unity below the first, roll-off to the
        second, zero to the third, roll-on to the fourth). None = the pipeline's choice
        by SUBARRAY (150, 200, 49943, 49957 for ALLSLITS; 1061, 1211, 49943, 49957
        otherwise), made when a file is cleaned.
    like_pipeline : bool
        Clean each image exactly as the step's ``clean_flicker_noise`` does with a user
        mask: NaN set to 0, DQ ignored (the mask alone decides), the background level
        measured after a 3σ lower-half clip that also trims the mask. Set by
        :meth:`pipeline` with the step's defaults.
    """

    method: str = "fft"
    fc: float = 1.0 / 256.0
    kw: float | None = None
    sigrej: float = 3.0
    weight_sigma: float = 32.0
    buff: bool = True
    buff_sigma: float = 1.5
    legacy_kernels: bool = False
    background: str = "median"
    by_channel: bool = False
    fit: str = "complex"
    ridge: float = 0.0
    harmonics: int = 24
    time_ridge: float = 3.0
    output_terms: int = 3
    time_weighted: bool = False
    n_sigma: float = 0.0
    fit_histogram: bool = False
    background_box_size: tuple[int, int] | None = None
    subarray_fc: tuple[float, float, float, float] | None = None
    like_pipeline: bool = False

    @classmethod
    def pipeline(cls, **overrides: object) -> CleanParams:
        """The preset that reproduces ``clean_flicker_noise``'s ``do_correction`` with a
        user mask: the published (legacy) kernels and the step's defaults (background
        ``median``, ``n_sigma`` 2, no histogram fit), with its image statistics."""
        base = cls(legacy_kernels=True, n_sigma=2.0, fit_histogram=False,
                   background="median", like_pipeline=True)
        return replace(base, **overrides)

    @property
    def kill_width(self) -> float:
        """The roll-off width actually used (``kw`` or ``fc / 4``)."""
        return self.fc / 4.0 if self.kw is None else float(self.kw)

    def validated(self) -> CleanParams:
        """Return self after checking ranges; raise :class:`InputError` with the reason."""
        if self.method not in METHODS:
            raise InputError(f"unknown method {self.method!r}; expected one of {METHODS}")
        top = self.fc + self.kill_width / 2
        # fc - kw/2 < 0 would attenuate the line's mean level (the apodizer is below 1 at 0)
        if (not 0.0 < self.fc < 0.5 or not self.kill_width >= 0.0 or top >= 0.5
                or self.fc - self.kill_width / 2 < 0.0):
            # both units: the CLI takes cycles per pixel, the GUI's form cycles per line
            raise InputError(
                f"fc={self.fc:g}, kw={self.kill_width:g} cycles/pixel ({self.fc * 2048:g} "
                f"and {self.kill_width * 2048:g} cycles per 2048-pixel line): need "
                "0 ≤ fc - kw/2 and fc + kw/2 < 0.5")
        # inf passes "> 0" but only fails after a whole clean, in the FITS header
        for name, (low, high, unit) in PARAM_RANGES.items():
            value = getattr(self, name)
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = float("nan")
            if not low <= number <= high:
                raise InputError(f"{name} must be between {low:g} and "
                                 f"{high:g}{' ' + unit if unit else ''}, got {value}")
        if self.fit not in ("complex", "real"):
            raise InputError(f"fit must be 'complex' or 'real', got {self.fit!r}")
        if (isinstance(self.harmonics, bool) or not isinstance(self.harmonics, (int, np.integer))
                or not 1 <= self.harmonics <= 64):
            raise InputError(f"harmonics must be an integer from 1 to 64, got {self.harmonics!r}")
        if (isinstance(self.output_terms, bool)
                or not isinstance(self.output_terms, (int, np.integer))
                or not 0 <= self.output_terms <= self.harmonics):
            raise InputError(f"output_terms must be an integer from 0 to harmonics "
                             f"({self.harmonics}), got {self.output_terms!r}")
        if not (np.isfinite(self.time_ridge) and self.time_ridge > 0):
            raise InputError(f"time_ridge must be a positive number, got {self.time_ridge}")
        if self.background not in BACKGROUNDS:
            raise InputError(f"background must be one of {', '.join(BACKGROUNDS)}, got "
                             f"{self.background!r}")
        if not (np.isfinite(self.n_sigma) and self.n_sigma >= 0):
            raise InputError(f"n_sigma must be zero (off) or positive, got {self.n_sigma}")
        if self.background_box_size is not None and (
                len(self.background_box_size) != 2
                or min(int(v) for v in self.background_box_size) < 2):
            raise InputError("background_box_size must be two integers of 2 or more, got "
                             f"{self.background_box_size}")
        if self.subarray_fc is not None:
            corners = [float(v) for v in self.subarray_fc]
            if len(corners) != 4 or corners[0] < 0 or any(
                    b < a for a, b in pairwise(corners)):
                raise InputError("subarray_fc must be 4 frequencies in Hz, increasing, from "
                                 f"0 up; got {self.subarray_fc}")
        return self

    def fit_settings(self) -> FitSettings:
        """The settings of the full-frame fitter."""
        return FitSettings(
            fc=self.fc, kw=self.kill_width, sigrej=self.sigrej, weight_sigma=self.weight_sigma,
            buff=self.buff, buff_sigma=self.buff_sigma, legacy_kernels=self.legacy_kernels,
        )

    def time_settings(self) -> TimeFitSettings:
        """The settings of the read-time fitter."""
        return TimeFitSettings(harmonics=int(self.harmonics), output_terms=int(self.output_terms),
                               ridge=float(self.time_ridge), sigrej=self.sigrej,
                               weight_sigma=self.weight_sigma if self.time_weighted else 0.0)

    def as_dict(self) -> dict[str, object]:
        """Plain dict (for headers, sessions and JSON)."""
        return asdict(self)
