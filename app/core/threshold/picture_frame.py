"""Row offsets of the picture frame: what the column levels of a background fit miss.

The picture frame of a NIRSpec detector is an offset common to whole DMS rows next to
the top and bottom reference borders, fading inwards over a hundred rows or so, with
alternating-row noise on top. :func:`frame_levels` measures it for
:func:`app.core.threshold.background.fit_background`, which alternates it with the column
levels and the search for background candidates.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from app.core.engine.robust import MAD_TO_SIGMA, column_median_mad

#: Rows with fewer candidates than this fraction may belong to the picture frame.
MIN_ROW_FRACTION = 0.5
#: The picture frame is searched for this far from the top and bottom edges.
MAX_FRAME_ROWS = 160
#: Past that band, rows this close to an edge still get a level (the frame fades over
#: ~80 rows per e-fold), from candidates where a row has them on ZONE_FRACTION of its
#: pixels, else interpolated between such rows.
FRAME_ZONE = 256
ZONE_FRACTION = 0.75
#: Rows of one parity in the running median that tells a row's faint light from the
#: frame (25 rows of a parity span 50 rows: light bands up to ~24 rows tall stand out).
ZONE_MEDIAN = 25


def frame_levels(values: np.ndarray, candidates: np.ndarray, usable: np.ndarray,
                 extent: tuple[int, int] = (0, 0), zone: bool = True
                 ) -> tuple[np.ndarray, tuple[int, int]]:
    """Row offsets of the picture frame at the top and bottom edges, and their extent.

    The frame is an offset common to whole rows next to the reference border, fading
    inwards. Strong enough, it is detected as light (or as too dark) across the full
    width, which a level fitted to candidates can never correct. So, from each edge
    inwards, rows with fewer than :data:`MIN_ROW_FRACTION` candidates (at most
    :data:`MAX_FRAME_ROWS`) take the median of *all* their pixels, as long as no light
    enters this band: light only adds, so a row whose median rises more than 3 σ above
    that of the row two rows nearer the edge (same parity: alternating-row noise) holds
    a trace, and ends the band. A fading frame changes less (a negative one may rise back
    towards zero by 10 % per two rows: an e-folding length of 20 rows or more).
    ``extent`` (rows at the top, rows at the bottom) only grows across passes, so
    corrected rows stay corrected. Past the band, rows within :data:`FRAME_ZONE` of an
    edge follow the frame from the candidates of the rows that have plenty, never from
    all pixels (see :func:`_zone_levels`; ``zone=False`` skips this, for the first pass
    whose candidates cannot be trusted yet). Rows farther in are not corrected: their
    median could follow faint light that was not detected, which would then hide itself.
    """
    ny = values.shape[0]
    out = np.zeros(ny, dtype=np.float32)
    count = np.count_nonzero(usable, axis=1)
    filled = np.flatnonzero(count > 0)
    if filled.size == 0:
        return out, extent
    level, mad = column_median_mad(np.ascontiguousarray(values.T), np.ascontiguousarray(usable.T))
    fraction = np.count_nonzero(candidates, axis=1) / np.maximum(count, 1)
    noise = 1.2533 * MAD_TO_SIGMA * np.nan_to_num(mad) / np.sqrt(np.maximum(count, 1))
    level = np.nan_to_num(level)

    def walk(start: int, step: int) -> int:
        rows, y = 0, start
        while (rows < MAX_FRAME_ROWS and 0 <= y < ny and count[y] > 0
               and fraction[y] < MIN_ROW_FRACTION):
            if rows >= 2:
                before = level[y - 2 * step]
                if level[y] > before + 3 * noise[y] + 0.1 * max(-before, 0.0):
                    break
            rows, y = rows + 1, y + step
        return rows

    top = max(walk(int(filled[0]), 1), extent[0])
    bottom = max(walk(int(filled[-1]), -1), extent[1])
    band = np.zeros(ny, dtype=bool)
    band[filled[0]:filled[0] + top] = True
    band[filled[-1] - bottom + 1:filled[-1] + 1] = True
    out[band] = level[band]
    if zone:
        _zone_levels(out, values, candidates, usable, band, (int(filled[0]), int(filled[-1])))
    return out, (top, bottom)


def _zone_levels(out: np.ndarray, values: np.ndarray, candidates: np.ndarray,
                 usable: np.ndarray, band: np.ndarray, filled: tuple[int, int]) -> None:
    """Row levels past the band, within :data:`FRAME_ZONE` rows of each edge (in place).

    The frame fades over a hundred rows or more, past the band of rows that are mostly
    offset (dense traces can leave too few candidates to end the band early). Rows
    whose candidates cover :data:`ZONE_FRACTION` of the row are anchors: their level is
    the candidates' median. Faint light spread along most of a row can hide among its
    candidates and raise that median, so anchors standing 3σ above the running median
    of their neighbours of the same parity (alternating-row noise), or above the line
    through their nearest neighbours (:func:`_drop_bumps`), are dropped: light only
    adds, and the frame is smooth across the rows where light starts and stops. Every
    other row of the zone is interpolated between the anchors kept and the band.
    """
    count = np.count_nonzero(candidates, axis=1)
    level, mad = column_median_mad(np.ascontiguousarray(values.T),
                                   np.ascontiguousarray(candidates.T))
    noise = 1.2533 * MAD_TO_SIGMA * np.nan_to_num(mad) / np.sqrt(np.maximum(count, 1))
    enough = (count >= ZONE_FRACTION * np.maximum(np.count_nonzero(usable, axis=1), 1))
    level = np.where(band, out, level)  # the band's own levels anchor the zone
    known = (enough | band) & np.isfinite(level)
    first, last = filled
    zones = [(first, min(first + FRAME_ZONE, last + 1)),
             (max(last + 1 - FRAME_ZONE, first), last + 1)]
    if zones[0][1] >= zones[1][0]:
        zones = [(first, last + 1)]
    for start, stop in zones:
        for parity in (0, 1):
            rows = np.arange(start + (start + parity) % 2, stop, 2)
            anchors = rows[known[rows]]
            if anchors.size == 0:
                continue
            reference = ndimage.median_filter(level[anchors], size=ZONE_MEDIAN, mode="nearest")
            light = ~band[anchors] & (level[anchors] > reference + 3 * noise[anchors])
            anchors = _drop_bumps(anchors[~light], level, noise, band)
            fill = rows[~band[rows]]
            if anchors.size and fill.size:
                out[fill] = np.interp(fill, anchors, level[anchors]).astype(np.float32)


def _drop_bumps(anchors: np.ndarray, level: np.ndarray, noise: np.ndarray,
                band: np.ndarray) -> np.ndarray:
    """Drop, worst first, anchor rows that stand 3σ above the line through their neighbours.

    Light spread along a few rows raises them above the smooth frame around them; a
    bump of several rows hides from a running median near the edge, where the frame
    itself changes fast, but not from its own neighbours once the worst row is gone.
    """
    anchors = np.asarray(anchors)
    for _ in range(anchors.size):
        if anchors.size < 3:
            break
        inner = anchors[1:-1]
        before, after = anchors[:-2], anchors[2:]
        weight = (inner - before) / (after - before)
        line = level[before] + weight * (level[after] - level[before])
        # a fading frame bends away from the chord by up to gap/(8λ) of the change
        # across the gap: a quarter of it covers e-folding lengths down to ~20 rows
        slack = 0.25 * np.abs(level[after] - level[before])
        excess = (level[inner] - line - slack) / (3 * noise[inner] + 1e-12)
        excess[band[inner]] = 0  # the band's rows are the frame by construction
        worst = int(np.argmax(excess))
        if excess[worst] <= 1:
            break
        anchors = np.delete(anchors, worst + 1)
    return anchors
