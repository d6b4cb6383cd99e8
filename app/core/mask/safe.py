"""Make a mask safe for the published fit: the remedy for its unstable lines.

Two things make the published fit (:mod:`app.core.mask.published`) unstable on a line,
and each has its own remedy:

1. **Orphan samples.** The published weights of line *y* come from the sample density of
   line *y*−1. A background sample with no sample of the previous line within ~100 px
   gets a weight of hundreds to millions (the reciprocal of a Gaussian tail or of FFT
   round-off) and alone decides the line's model. Such samples are dropped: the line
   keeps every sample its predecessor supports. Lines are visited in detector order, so a
   drop is seen by the next line. A line whose orphans are more than a quarter of its
   samples (its predecessor is empty or sparse) keeps them: dropping them would orphan the
   next line, and so on to the end.
   The reference line before the first fitted one gets a copy of that line's
   background: the published code never fits a reference line but weights line 4 by
   its density (otherwise line 4 is weighted by FFT round-off in every mask); our
   engine and our importers ignore the reference border.
2. **Clustered background** (one short stretch or a few close ones, where the traces
   cover the rest of the line): the line borrows the background that the nearest stable
   lines on both sides share (their intersection, shrunk by two samples at each edge).
   Spectral traces run across lines, so a gap between traces on both neighbours is a gap
   on the line between them too; where the image says otherwise, ``allowed`` keeps it out.

A pass that leaves the published fit worse conditioned overall (:func:`excess`) is undone.
Emptying a clustered line instead (the pipeline skips empty lines) was measured and
rejected: its successor is then weighted by FFT round-off, is unstable in turn, and
emptying that one moves the problem one line on (447 lines emptied on one simulated IFU
frame before giving up, 20 % of the background lost, 1.2× the banding of the ideal mask).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_erosion

from app.core.engine.fourier_basis import BORDER
from app.core.mask.published import (
    PUBLISHED,
    PublishedFit,
    published_fit,
    published_nvec,
    to_detector,
)

#: A sample whose published density (from the previous line) is below this is an orphan:
#: its weight exceeds 100, against ~1 in well-covered stretches and ≤ 10 on isolated
#: stretches of ten samples.
ORPHAN_DENSITY = 0.01
#: Orphans are dropped only while they are at most this share of their line's samples.
ORPHAN_SHARE = 0.25
#: How far (lines) a clustered line looks for stable neighbours to borrow from.
REACH = 64
#: Borrowed stretches are shrunk by this many samples at each end.
SHRINK = 2
PASSES = 3


@dataclass
class SafeMask:
    """The outcome of :func:`make_safe` (``mask`` in DMS orientation)."""

    mask: np.ndarray
    before: PublishedFit
    after: PublishedFit
    added: int
    dropped: int

    def summary(self) -> str:
        """What the remedy did, in one line."""
        if not self.before.unstable_lines.size and not self.added and not self.dropped:
            return "the published fit is stable on every line: nothing to change"
        left = self.after.unstable_lines.size
        return (f"made safe for the published fit: {self.before.unstable_lines.size} unstable "
                f"line{'s' if self.before.unstable_lines.size != 1 else ''} before, {left} "
                f"after; {self.added:,} background pixels borrowed from neighbouring lines, "
                f"{self.dropped:,} orphan pixels dropped")


def from_detector(lines: np.ndarray, detector: str) -> np.ndarray:
    """The inverse of :func:`~app.core.mask.published.to_detector` (a contiguous copy)."""
    out = lines.T if detector == "NRS1" else lines[::-1].T
    return np.ascontiguousarray(out)


def drop_orphans(lines: np.ndarray, minimum: int) -> int:
    """Drop, in place, samples whose published density from the previous line is below
    :data:`ORPHAN_DENSITY`, unless they are more than :data:`ORPHAN_SHARE` of their line's
    samples or the line would keep ``minimum`` samples or fewer (then the previous line is
    what lacks background: gutting this one would orphan the next, and so on).

    One pass in detector order: a line's drops are seen by the next line.
    Returns the number dropped.
    """
    n = lines.shape[1]
    # the published kernel sits one line and one sample off: density of line y - 1,
    # shifted by one sample, weights line y
    offset = (np.arange(n) - 1 + n // 2) % n - n // 2
    kernel = np.exp(-0.5 * (offset / PUBLISHED.weight_sigma) ** 2)
    kernel = np.fft.rfft(kernel / (PUBLISHED.weight_sigma * np.sqrt(2.0 * np.pi)))
    support = np.fft.irfft(np.fft.rfft(lines.astype(np.float64), axis=1) * kernel, n, axis=1)
    dropped = 0
    for y in range(BORDER, lines.shape[0] - BORDER):
        line = lines[y]
        orphan = line & (support[y - 1] < ORPHAN_DENSITY)
        count = int(np.count_nonzero(orphan))
        if not count:
            continue
        total = int(np.count_nonzero(line))
        if total - count <= minimum or count > ORPHAN_SHARE * total:
            continue
        line &= ~orphan
        support[y] = np.fft.irfft(np.fft.rfft(line.astype(np.float64)) * kernel, n)
        dropped += count
    return dropped


def borrow(lines: np.ndarray, unstable: np.ndarray, allowed: np.ndarray | None) -> int:
    """Give each unstable line the background its nearest stable neighbours share (in place).

    Returns the number of samples added.
    """
    nlines = lines.shape[0]
    stable = np.zeros(nlines, dtype=bool)
    stable[BORDER:nlines - BORDER] = True
    stable[unstable] = False
    stable &= lines.any(axis=1)
    index = np.flatnonzero(stable)
    if not index.size:
        return 0
    added = 0
    structure = np.ones(2 * SHRINK + 1, dtype=bool)
    for line in unstable:
        at = np.searchsorted(index, line)
        below = index[at - 1] if at > 0 and line - index[at - 1] <= REACH else None
        above = index[at] if at < index.size and index[at] - line <= REACH else None
        if below is None and above is None:
            continue
        if below is None or above is None:
            shared = lines[above if below is None else below]
        else:
            shared = lines[below] & lines[above]
        shared = binary_erosion(shared, structure)
        if allowed is not None:
            shared &= allowed[line]
        new = shared & ~lines[line]
        lines[line] |= new
        added += int(np.count_nonzero(new))
    return added


def excess(fit: PublishedFit) -> float:
    """How far the published fit is from stable: the sum over unstable lines of
    log10(condition / limit), a singular line counting 12. A few orphan samples put one
    line at 1e4–1e8 (the swings that matter); a clustered line sits near the limit."""
    lines = fit.unstable_lines
    if not lines.size:
        return 0.0
    ratio = np.minimum(fit.condition[lines] / fit.limit, 1e12)
    return float(np.sum(np.log10(ratio)))


def make_safe(mask: np.ndarray, detector: str, *, allowed: np.ndarray | None = None,
              image: np.ndarray | None = None, dq: np.ndarray | None = None) -> SafeMask:
    """Remedy the lines where the published fit would be unstable (see the module text).

    Parameters
    ----------
    mask : ndarray of bool, (2048, 2048), DMS
        The background mask.
    detector : {"NRS1", "NRS2"}
    allowed : ndarray of bool, optional
        Pixels that may become background (DMS); default: any pixel of the fitted range.
    image, dq : ndarray, optional
        NaN and DO_NOT_USE pixels are never added and do not count as background.

    Returns
    -------
    SafeMask
        The new mask (a copy; subarrays come back unchanged) and the published fit's
        conditioning before and after.
    """
    from app.core.files.products import DO_NOT_USE

    mask = np.asarray(mask, dtype=bool)
    before = published_fit(mask, detector, image=image, dq=dq)
    if mask.shape != (2048, 2048):
        return SafeMask(mask.copy(), before, before, 0, 0)
    name = before.detector
    usable = np.ones(mask.shape, dtype=bool)  # what the pipeline keeps of the mask
    if image is not None:
        usable &= np.isfinite(image)
    if dq is not None:
        usable &= (np.asarray(dq) & DO_NOT_USE) == 0
    may = usable if allowed is None else usable & np.asarray(allowed, dtype=bool)
    lines = to_detector(mask & usable, name).copy()
    may_lines = to_detector(may, name)
    minimum = 2 * published_nvec()
    added = dropped = 0
    lines[BORDER - 1] = lines[BORDER]  # guard: the weights of the first fitted line
    fit = published_fit(from_detector(lines, name), name)
    for _ in range(PASSES):
        if fit.stable:
            break
        trial = lines.copy()
        gained = borrow(trial, fit.unstable_lines, may_lines)  # spread clustered lines first
        lost = drop_orphans(trial, minimum)
        trial[BORDER - 1] = trial[BORDER]
        new = published_fit(from_detector(trial, name), name)
        # lines interact through the weights: a pass that leaves the published fit worse
        # conditioned overall than it found it is undone, and the remedy stops there
        if not (gained or lost) or excess(new) > excess(fit):
            break
        lines, fit = trial, new
        added, dropped = added + gained, dropped + lost
    out = from_detector(lines, name) | (mask & ~usable)  # unusable pixels: as they were
    after = published_fit(out, name, image=image, dq=dq)
    return SafeMask(out, before, after, added, dropped)
