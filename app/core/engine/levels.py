"""Background levels and residual-signal clipping, with the pipeline step's statistics.

The ``clean_flicker_noise`` step removes a background level before fitting the noise and
restores it afterwards, and it drops from the background samples whatever still looks
like signal. Its statistics, restated:

- centre and σ of the background samples from an iterative 3σ-clipped median and standard
  deviation (astropy's ``sigma_clipped_stats``);
- optionally ("lower half") from the samples at or below that centre, mirrored about it:
  a diffuse glow only lifts the upper half of the distribution, so the lower half alone
  measures the noise;
- optionally (``fit_histogram``) a Gaussian fitted to a 2000-bin histogram over centre ±
  4σ, whose mean and width replace them (its starting centre is the clipped mean);
- then samples above ``centre + upper·σ`` (signal) and below ``centre − lower·σ`` (bad)
  are no longer background.

The level is the median of what survives a 3σ lower-half clip, or (``model``) a coarse
2-D background from photutils' ``Background2D`` (an optional dependency) on boxes of up to
32 pixels that divide the image evenly, median-filtered over 5×5 boxes.
"""

from __future__ import annotations

import warnings

import numpy as np

from app.core.errors import InputError

#: Clipping level of the statistics themselves (not of the signal).
STATS_SIGMA = 3.0


def _clipped_stats(values: np.ndarray) -> tuple[float, float, float]:
    from astropy.stats import sigma_clipped_stats
    from astropy.utils.exceptions import AstropyUserWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, median, sigma = sigma_clipped_stats(values, sigma=STATS_SIGMA)
    return float(mean), float(median), float(sigma)


def _histogram_fit(values: np.ndarray, centre: float, sigma: float) -> tuple[float, float]:
    """Mean and σ of a Gaussian fitted to the histogram of ``values`` (or the inputs
    unchanged when the fit fails)."""
    from scipy.optimize import curve_fit

    try:
        counts, edges = np.histogram(values, bins=2000,
                                     range=(centre - 4.0 * sigma, centre + 4.0 * sigma))
    except ValueError:  # σ = 0 or not finite: no range to bin
        return centre, sigma
    mids = (edges[1:] + edges[:-1]) / 2.0
    peak = int(np.argmax(counts))

    def gaussian(x, amplitude, mean, width):
        return amplitude * np.exp(-0.5 * ((x - mean) / width) ** 2)

    bounds = [(0, mids[0], 0), (np.inf, mids[-1], mids[-1] - mids[0])]
    try:
        best, _ = curve_fit(gaussian, mids, counts, p0=(counts[peak], mids[peak], sigma),
                            bounds=bounds)
    except (RuntimeError, ValueError):
        return centre, sigma
    return float(best[1]), float(best[2])


def clip_signal(image: np.ndarray, mask: np.ndarray, *, lower: float, upper: float,
                lower_half: bool = False, fit_histogram: bool = False) -> None:
    """Drop from ``mask`` (in place) the samples that look like signal or bad values.

    Parameters
    ----------
    image : ndarray
        The image (any float type; statistics in float64).
    mask : ndarray of bool
        Background samples; updated in place.
    lower, upper : float
        Samples below ``centre − lower·σ`` or above ``centre + upper·σ`` are dropped.
    lower_half : bool
        Estimate centre and σ from the lower half mirrored about the clipped median.
    fit_histogram : bool
        Refine centre and σ with a Gaussian fit to the histogram.
    """
    if not mask.any():
        return
    data = image.astype(np.float64)
    mean, median, sigma = _clipped_stats(data[mask])
    centre = mean if fit_histogram else median
    if lower_half:
        below = data[mask & (data <= centre)] - centre
        mirrored = np.concatenate((below, -below)) + centre
        mean, median, sigma = _clipped_stats(mirrored)
        centre = mean if fit_histogram else median
        samples = mirrored
    else:
        samples = data[mask]
    if fit_histogram:
        centre, sigma = _histogram_fit(samples, centre, sigma)
    mask &= ~(data < centre - lower * sigma)
    mask &= ~(data > centre + upper * sigma)


def box_size_for(shape: tuple[int, int]) -> tuple[int, int]:
    """The largest box side ≤ 32 that divides each image side evenly."""
    return tuple(max(k for k in range(1, 33) if side % k == 0) for side in shape)  # type: ignore[return-value]


def background_level(image: np.ndarray, mask: np.ndarray, method: str,
                     box_size: tuple[int, int] | None = None) -> float | np.ndarray:
    """The level removed before the fit: ``median`` (a number) or ``model`` (an image).

    ``mask`` is first trimmed in place by a 3σ lower-half clip (:func:`clip_signal`), as
    the step does: the fit then uses the trimmed mask too.

    Raises
    ------
    InputError
        ``model`` without photutils installed.
    """
    clip_signal(image, mask, lower=STATS_SIGMA, upper=STATS_SIGMA, lower_half=True)
    if method != "model":
        return float(np.nanmedian(image[mask]))
    try:
        from photutils.background import Background2D, MedianBackground
    except ImportError:
        raise InputError("background 'model' needs photutils (pip install photutils)") from None
    from astropy.stats import SigmaClip
    from astropy.utils.exceptions import AstropyUserWarning

    box = tuple(box_size) if box_size else box_size_for(image.shape)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyUserWarning)
            model = Background2D(image, box_size=box, filter_size=(5, 5), mask=~mask,
                                 sigma_clip=SigmaClip(sigma=STATS_SIGMA, maxiters=5),
                                 bkg_estimator=MedianBackground())
        return np.asarray(model.background)
    except ValueError:  # too few background samples per box: fall back to the median
        return float(np.nanmedian(image[mask]))
