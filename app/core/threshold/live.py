"""The live threshold's worker side, Qt-free: one cached Thresholder per image, and
everything the overlay and the status line need computed off the GUI thread.

:class:`ThresholderCache` builds the image's :class:`~app.core.threshold.traces.Thresholder` on
first use (the background fit: seconds on a full frame) and keeps it between slider
moves, which then cost one threshold. A lock keeps a cancelled request that is still
running and its successor off the Thresholder's caches at the same time.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from app.core.mask import paint
from app.core.threshold.traces import Thresholder, ThresholdResult, ThresholdSettings


@dataclass(frozen=True)
class ThresholdPreview:
    """What the overlay and the status line show, all computed in the worker so the GUI
    thread only hands an array to the overlay (full-frame numpy there stalls the loop).

    Attributes
    ----------
    result : ThresholdResult
    light : ndarray of bool
        ``result.light``, computed once.
    light_fraction, background_fraction : float
        Shares of the frame that would be light and background.
    problem : str or None
        Why Apply would refuse (:meth:`ThresholdResult.problem`).
    """

    result: ThresholdResult
    light: np.ndarray
    light_fraction: float
    background_fraction: float
    problem: str | None


class ThresholderCache:
    """The Thresholder of one image, built on first use, guarded by a lock."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self.lock = threading.Lock()
        self._thresholder: Thresholder | None = None
        self._fitted = False

    @property
    def fitted(self) -> bool:
        """Whether the image's background fit (the slow first step) is done."""
        return self._fitted

    def run(self, settings: ThresholdSettings) -> Generator[tuple[float, str], None,
                                                            ThresholdResult]:
        """Threshold with ``settings`` (a generator for the TaskRunner)."""
        if not self._fitted:  # a progress report costs a trip through the GUI thread
            yield 0.0, "fitting the background (once per image)"
            with self.lock:
                if self._thresholder is None:
                    self._thresholder = Thresholder(self.image)
                self._thresholder.fit()
                self._fitted = True
            yield 0.7, "thresholding"
        with self.lock:
            assert self._thresholder is not None
            return self._thresholder.threshold(settings)

    def preview(self, settings: ThresholdSettings) -> Generator[tuple[float, str], None,
                                                                ThresholdPreview]:
        """:meth:`run`, plus what the overlay and the status line need."""
        result = yield from self.run(settings)
        light = result.light
        size = light.size
        background = np.count_nonzero(result.usable) - np.count_nonzero(light & result.usable)
        return ThresholdPreview(result, light, np.count_nonzero(light) / size,
                                background / size, result.problem())


def region_mask(vertices: list[tuple[float, float]] | None, shape: tuple[int, int]
                ) -> np.ndarray | None:
    """Pixels whose centre is inside the polygon ``vertices`` ((x, y), pixel ``i`` spans
    ``[i, i+1)``); None (whole frame) for no vertices."""
    if not vertices:
        return None
    region = np.zeros(shape, dtype=bool)
    footprint = paint.polygon([(y - 0.5, x - 0.5) for x, y in vertices], shape)
    if footprint is not None:
        box, inside = footprint
        region[box.slices] = True if inside is None else inside
    return region
