"""Will the published fit be stable with this mask? (jwst's NSClean, NSClean 1.x)

Our masks leave us: users pass them to ``clean_flicker_noise --user_mask``, to NSClean
1.x or to their own scripts, which solve every line's 9×9 normal equations as they are.
Where a line's background is one short stretch or a few clustered ones, the matrix is
nearly singular and the published model swings far from the data across the gaps (±90
to ±510 DN/s measured on simulated frames), while our engine falls back to the line's
mean (:mod:`app.core.engine.conditioning`) and so hides the problem from our own benches.

:func:`published_fit` builds each line's normal matrix exactly as the published code
does, and reports the 1-norm condition numbers, flagging the lines above
:data:`~app.core.engine.conditioning.COND_LIMIT` (the same limit above which our engine
fits the mean only). "Exactly" matters here: the published weights of line *y* are the
reciprocal of the sample density of line *y*−1 (its kernels are centred one line and one
pixel off, see README), so a line whose predecessor has no background near its samples
is weighted by the FFT round-off of an empty line, with weights spanning many orders of
magnitude. That is why the weights are computed with the same single-precision 2-D FFT
as the published code: those round-off values decide the verdict.

The published fit skips a line without any background sample (zero model, which buffing
then fills with about 73 % of its neighbours' models): such lines are "skipped", not
unstable. Lines are detector lines; :meth:`PublishedFit.columns` gives DMS columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.engine.conditioning import COND_LIMIT, condition, invert
from app.core.engine.fourier_basis import BORDER, FitSettings, lowpass_apodizer
from app.core.errors import InputError, MaskError

#: The published full-frame fit's frequencies (its fc and kill width cannot be changed
#: from the pipeline step): 9 complex terms on a 2048-sample line.
PUBLISHED = FitSettings()
FULL = 2048


def published_nvec(n: int = FULL) -> int:
    """Number of frequencies the published fit solves for on lines of ``n`` samples."""
    return int(np.count_nonzero(lowpass_apodizer(PUBLISHED.fc, PUBLISHED.kw, n) > 0))


@dataclass
class PublishedFit:
    """Conditioning of the published fit on every detector line.

    Attributes
    ----------
    detector : str
    condition : ndarray of float
        1-norm condition number of each line's normal matrix (inf: singular); NaN on the
        reference lines and on lines without background (not fitted).
    samples : ndarray of int
        Background samples per line, as the published fit sees them.
    limit : float
        Condition numbers above it count as unstable.
    """

    detector: str
    condition: np.ndarray
    samples: np.ndarray
    limit: float = COND_LIMIT
    #: False for subarrays: the published subarray fit has no per-line matrices.
    per_line: bool = True

    @property
    def unstable_lines(self) -> np.ndarray:
        """Fitted lines whose normal matrix is ill-conditioned or singular."""
        fitted = ~np.isnan(self.condition)
        return np.flatnonzero(fitted & ~(self.condition <= self.limit))

    @property
    def skipped_lines(self) -> np.ndarray:
        """Lines in the fitted range (4–2043) without any background: no fit at all."""
        lines = np.arange(self.samples.size)
        inside = (lines >= BORDER) & (lines < self.samples.size - BORDER)
        return np.flatnonzero(inside & (self.samples == 0))

    @property
    def stable(self) -> bool:
        """True when no fitted line is unstable."""
        return self.unstable_lines.size == 0

    def columns(self, lines: np.ndarray) -> np.ndarray:
        """DMS columns of detector ``lines``."""
        lines = np.asarray(lines, dtype=np.int64)
        return lines if self.detector == "NRS1" else self.samples.size - 1 - lines

    def summary(self, max_ranges: int = 8) -> str:
        """One line for the CLI, the exports and the GUI."""
        from app.core.mask.coverage import format_ranges

        unstable = self.unstable_lines
        if not self.per_line:
            return ("published fit: the subarray variant fits windows of lines together; "
                    "there is no per-line conditioning to check")
        if not unstable.size:
            return (f"published fit (jwst NSClean, NSClean 1.x): stable on every line "
                    f"(condition number ≤ {self.limit:g})")
        return (f"published fit (jwst NSClean, NSClean 1.x): {unstable.size} "
                f"line{'s' if unstable.size != 1 else ''} unstable (condition number > "
                f"{self.limit:g}; its model swings across their gaps): detector lines "
                f"{format_ranges(unstable, max_ranges)}")


def provenance_cards(fit: PublishedFit) -> tuple[dict[str, object], list[str]]:
    """Header keyword and HISTORY text recording the published fit's verdict on a mask."""
    unstable = fit.unstable_lines
    cards: dict[str, object] = {
        "NSC_PUBU": (int(unstable.size), "lines where the published fit is unstable"),
    }
    history = [fit.summary(max_ranges=40)] if unstable.size else []
    return cards, history


def to_detector(mask: np.ndarray, detector: str) -> np.ndarray:
    """A DMS ``(2048, 2048)`` array in detector coordinates (line index first)."""
    return mask.T if detector == "NRS1" else mask.T[::-1]


def published_weights(lines: np.ndarray) -> np.ndarray:
    """The published fit's weights ``p`` for a mask in detector coordinates.

    ``p`` is the reciprocal of the mask convolved, by single-precision 2-D FFT, with a
    Gaussian of σ = 32 px along the line placed where the published code places it
    (centre at index (ny//2 + 1, nx//2 + 1) before the FFT shift, i.e. one line and one
    pixel off), kept on background samples and set to zero where not finite.
    """
    ny, nx = lines.shape
    kernel = np.zeros((ny, nx), dtype=np.float32)
    offset = np.arange(nx) - (nx // 2 + 1)
    sigma = PUBLISHED.weight_sigma
    kernel[ny // 2 + 1] = np.exp(-0.5 * (offset / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    spectrum = np.fft.rfft2(np.fft.ifftshift(kernel))
    density = np.fft.irfft2(np.fft.rfft2(lines.astype(np.float32)) * spectrum, (ny, nx))
    with np.errstate(divide="ignore"):
        weights = np.where(lines, 1.0 / density, 0.0)
    weights[~np.isfinite(weights)] = 0.0
    return weights


def normal_matrices(weights: np.ndarray, nvec: int) -> np.ndarray:
    """Per line, ``G[k, k'] = Σ_m p_m² exp(2πi·m·(k'−k)/n)`` (Hermitian Toeplitz)."""
    w = np.fft.fft(np.asarray(weights, dtype=np.float64) ** 2, axis=1)[:, :nvec]
    k = np.arange(nvec)
    lag = k[None, :] - k[:, None]  # k' − k
    return np.where(lag[None] >= 0, np.conj(w[:, np.abs(lag)]), w[:, np.abs(lag)])


def checked(mask: np.ndarray, detector: str) -> tuple[np.ndarray, str]:
    """``(mask as an array, NRS1 or NRS2)``; MaskError / InputError when not a 2-D mask or
    not a known detector."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise MaskError(f"a mask must be a 2-D image, not shape {mask.shape}")
    name = str(detector or "").strip().upper()
    if name not in ("NRS1", "NRS2"):
        raise InputError(f"detector must be NRS1 or NRS2, got {detector!r}")
    return mask, name


def published_fit(mask: np.ndarray, detector: str, *, image: np.ndarray | None = None,
                  dq: np.ndarray | None = None, limit: float = COND_LIMIT) -> PublishedFit:
    """Condition numbers of the published full-frame fit for ``mask`` (DMS, 2048×2048).

    Parameters
    ----------
    mask : ndarray of bool
        Background mask as written (DMS orientation).
    detector : {"NRS1", "NRS2"}
    image, dq : ndarray, optional
        When given, NaN and DO_NOT_USE pixels are dropped, as the pipeline step does.
    limit : float
        Condition numbers above it are unstable.

    Returns
    -------
    PublishedFit
        For a subarray (the published subarray fit has no per-line matrices) every line
        is reported as not fitted.
    """
    from app.core.files.products import DO_NOT_USE

    mask, name = checked(mask, detector)
    used = mask.astype(bool)
    if image is not None:
        used = used & np.isfinite(image)
    if dq is not None:
        used = used & ((np.asarray(dq) & DO_NOT_USE) == 0)
    nlines = mask.shape[1]
    if mask.shape != (FULL, FULL):
        return PublishedFit(name, np.full(nlines, np.nan), np.zeros(nlines, np.int64), limit,
                            per_line=False)
    lines = to_detector(used, name)
    samples = np.count_nonzero(lines, axis=1)
    nvec = published_nvec(FULL)
    weights = published_weights(lines)
    fitted = np.zeros(nlines, dtype=bool)
    fitted[BORDER:nlines - BORDER] = True
    fitted &= samples > 0
    cond = np.full(nlines, np.nan)
    rows = np.flatnonzero(fitted)
    if rows.size:
        gram = normal_matrices(weights[rows], nvec)
        cond[rows] = condition(gram, invert(gram))
        # no more samples than unknowns (or all weights zero): singular
        cond[rows[(samples[rows] <= nvec) | ~(weights[rows] != 0).any(axis=1)]] = np.inf
    return PublishedFit(name, cond, samples.astype(np.int64), limit)
