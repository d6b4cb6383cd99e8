"""The read-time fit: one noise series per detector line, shared by the four outputs.

NSClean fits each 2048-sample line as one sequence in *position*. But the four outputs
read their 512 samples **at the same ticks** (:mod:`app.core.engine.readtime`), and the
dominant 1/f noise is a bias drift common to them. So at each tick there are up to four
samples of the same noise, and where a trace covers one output the others usually see
background at that instant. Per line (one DMS column) the model is::

    d(y) = c(t_y) + o_{a_y}(t_y)

- ``c(t)``: the common series, a real Fourier series in read time ``t`` (ticks from the
  start of the line) with ``harmonics`` terms on a period of ``P`` ticks
  (:attr:`TimeFitSettings.period`, a little longer than the line so that a slow trend
  across the line is not forced to wrap around);
- ``o_a(t)``: per output ``a``, an offset plus ``output_terms`` low harmonics (the
  smaller per-output 1/f noise and the outputs' different offsets).

Least squares with a 1/f prior: frequency ``k`` of the common series gets the
penalty ``ridge·w̄·k``, the per-output terms ``output_ridge·ridge·w̄·max(k, 1)`` (``w̄``
the mean weight of the line's samples; the common mean is free). The prior keeps the
series stable across ticks where no output sees background and sends an output without
background to the common series. Outliers are replaced as NSClean does (samples beyond
``sigrej``·1.4826·MAD of the line's median set to the median); NSClean's weights (the
squared reciprocal of the background density along the line, σ = ``weight_sigma``) are
optional and off by default: with them the banding left under the traces of simulated
exposures was larger (0.42× instead of 0.35× the pipeline's, common noise only).

The settings, basis and batched normal equations are in
:mod:`app.core.engine.time_equations`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from app.core.engine.readtime import LineTiming, read_order_coverage
from app.core.engine.robust import MAD_TO_SIGMA, sort_columns
from app.core.engine.time_equations import (
    Blocks,
    TimeFitSettings,
    normal_blocks,
    solve,
    synthesize,
)

__all__ = ["TimeFit", "TimeFitSettings", "TimeFitter"]

_local = threading.local()


@dataclass
class TimeFit:
    """Result of :meth:`TimeFitter.fit`: per DMS column of the frame."""

    theta: np.ndarray  # (ncols, unknowns) coefficients, zero where unfit
    counts: np.ndarray  # usable samples
    fitted: np.ndarray  # bool: the line was fit
    level: float = 0.0  # background level removed first


class TimeFitter:
    """The read-time fit of full frames of one detector, timing and settings.

    Keeps what depends on the mask only (weights and the normal equations with their
    prior, by blocks; from the second frame on also the inverted common block), so that
    the integrations of a rateints or a batch with one mask pay for them once. One per
    thread (:meth:`cached`).

    Parameters
    ----------
    shape : tuple of int
        DMS frame shape ``(n, nlines)``.
    detector : {"NRS1", "NRS2"}
    timing : LineTiming
        Read timing of the ``n`` samples of a line (four outputs).
    settings : TimeFitSettings
    """

    def __init__(self, shape: tuple[int, int], detector: str, timing: LineTiming,
                 settings: TimeFitSettings) -> None:
        self.shape, self.detector = tuple(shape), detector
        self.timing, self.settings = timing, settings
        self._mask: tuple[np.ndarray, np.ndarray | None, Blocks] | None = None

    @classmethod
    def cached(cls, shape: tuple[int, int], detector: str, timing: LineTiming,
               settings: TimeFitSettings) -> TimeFitter:
        """A fitter kept for this thread (at most two)."""
        fitters: dict = _local.__dict__.setdefault("fitters", {})
        key = (tuple(shape), detector, timing, settings)
        if key not in fitters:
            while len(fitters) >= 2:
                fitters.pop(next(iter(fitters)))
            fitters[key] = cls(shape, detector, timing, settings)
        return fitters[key]

    @property
    def min_samples(self) -> int:
        """:attr:`TimeFitSettings.min_samples`."""
        return self.settings.min_samples

    def weights(self, usable: np.ndarray) -> np.ndarray | None:
        """NSClean's weights ``1/density²`` (float64), or None when unweighted."""
        if self.settings.weight_sigma <= 0:
            return None
        # NSClean's weights (density along the line), from the position-domain fitter
        from app.core.engine.fourier import LineFitter
        from app.core.engine.fourier_basis import FitSettings

        fitter = LineFitter(self.shape, self.detector, FitSettings(
            weight_sigma=self.settings.weight_sigma))
        return fitter.weights(usable)

    def _planned(self, usable: np.ndarray) -> tuple[np.ndarray | None, Blocks]:
        """Weights (None: unweighted) and normal equations of ``usable`` (kept per mask).

        When only some lines' background changed since the previous frame (NaN or
        DO_NOT_USE pixels that move between integrations), only those lines' equations
        are rebuilt.
        """
        from app.core.engine.maskplan import same_mask

        if self._mask is not None and same_mask(self._mask[0], usable):
            blocks = self._mask[2]
            if blocks.inverse is None:  # a reused mask: one product per frame from now on
                blocks.inverse = np.linalg.inv(blocks.schur)
            return self._mask[1], blocks
        weights = self.weights(usable)
        if self._mask is not None and self._mask[0].shape == usable.shape:
            changed = np.flatnonzero((self._mask[0] != usable).any(axis=0))
            if changed.size <= usable.shape[1] // 4:
                blocks = self._mask[2]
                part = self._blocks(usable[:, changed],
                                    None if weights is None else weights[:, changed])
                blocks.schur[changed], blocks.coupling[changed] = part.schur, part.coupling
                blocks.scaled[changed] = part.scaled
                blocks.own_inverse[:, changed] = part.own_inverse
                if blocks.inverse is not None:
                    blocks.inverse[changed] = np.linalg.inv(part.schur)
                self._mask = (usable.copy(), weights, blocks)
                return weights, blocks
        blocks = self._blocks(usable, weights)
        self._mask = (usable.copy(), weights, blocks)
        return weights, blocks

    def _blocks(self, usable: np.ndarray, weights: np.ndarray | None) -> Blocks:
        """:func:`normal_blocks` of some lines; an identity where a line has no sample
        (never solved; it keeps S⁻¹ defined)."""
        if weights is None:
            mean_weight = np.ones(usable.shape[1])
            blocks = normal_blocks(usable, self.timing, self.settings, mean_weight)
        else:
            weighted = np.count_nonzero(weights, axis=0)
            mean_weight = weights.sum(axis=0) / np.maximum(weighted, 1)
            blocks = normal_blocks(weights, self.timing, self.settings, mean_weight)
        blocks.schur[~usable.any(axis=0)] = np.eye(blocks.schur.shape[1])
        return blocks

    def fit(self, data: np.ndarray, usable: np.ndarray, subtract_level: bool = False
            ) -> tuple[TimeFit, np.ndarray]:
        """Fit every line of ``data``.

        Parameters
        ----------
        data : ndarray, DMS layout
            The frame; values off ``usable`` are ignored (NaN allowed).
        usable : ndarray of bool
            Background samples.
        subtract_level : bool
            Remove the median of all background samples first (``TimeFit.level``); the
            same sort of the lines gives it and the outlier statistics.

        Returns
        -------
        fit : TimeFit
        reduced : ndarray of bool
            Lines with samples at fewer than :attr:`min_samples` ticks (some output sees
            background at a tick: four samples at one tick constrain the common series
            once): their weighted mean level only was fitted.
        """
        weights, blocks = self._planned(usable)
        counts = np.count_nonzero(usable, axis=0)
        columns = sort_columns(data, usable)
        level = columns.global_median() if subtract_level and counts.any() else 0.0
        median, mad = columns.median_mad(level)
        shift = np.asarray(level, dtype=data.dtype)
        centre = np.nan_to_num(median).astype(np.float32)
        half = (self.settings.sigrej * MAD_TO_SIGMA * mad).astype(np.float32)
        # outliers replaced by their line's median (the published rule), zero off usable;
        # in place on one array (whole-frame temporaries cost more than the arithmetic)
        cleaned = np.subtract(data, shift, dtype=np.float32)
        deviation = np.subtract(cleaned, centre)
        with np.errstate(invalid="ignore"):
            outlier = np.abs(deviation, out=deviation) > half
        outlier |= np.isnan(deviation)
        np.copyto(cleaned, np.broadcast_to(centre, cleaned.shape), where=outlier)
        np.copyto(cleaned, np.float32(0), where=~usable)
        wdata = cleaned if weights is None else weights * cleaned
        fitted = counts > 0
        ticks = np.count_nonzero(read_order_coverage(usable, self.timing), axis=0)
        reduced = fitted & (ticks < self.min_samples)
        full = np.flatnonzero(fitted & ~reduced)
        theta = np.zeros((data.shape[1], self.settings.unknowns(self.timing)))
        if full.size:
            theta[full] = solve(blocks, wdata, self.timing, self.settings)[full]
        few = np.flatnonzero(reduced)
        if few.size:
            w = usable[:, few] if weights is None else weights[:, few]
            theta[few, 0] = wdata[:, few].sum(axis=0) / np.maximum(w.sum(axis=0), 1e-300)
        return TimeFit(theta, counts, fitted, float(level)), reduced

    def model(self, theta: np.ndarray) -> np.ndarray:
        """The model of every line, DMS layout, float32."""
        return synthesize(theta, self.timing, self.settings)
