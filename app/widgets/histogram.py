"""Histogram of the working image with draggable low/high levels (bound to DisplayModel)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QWidget

from app.core.display.stretch import DisplayModel


class HistogramWidget(pg.PlotWidget):
    """Log-count histogram (computed once per image by ImageStats) and a level region.

    Dragging the region or its edges sets manual limits on the model; limits chosen
    elsewhere move the region. The image itself is never re-read here.
    """

    def __init__(self, model: DisplayModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._syncing = False
        self.setBackground(QColor(32, 33, 36))
        self.setMinimumHeight(110)
        self.setMaximumHeight(260)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        plot = self.getPlotItem()
        plot.hideAxis("left")
        plot.getAxis("bottom").setStyle(tickLength=-4)
        self.curve = pg.PlotDataItem(
            stepMode="center", fillLevel=0.0, brush=(110, 140, 190, 150), pen=(150, 180, 230)
        )
        self.addItem(self.curve)
        self.region = pg.LinearRegionItem(
            values=(0.0, 1.0), brush=(255, 200, 60, 40), pen=pg.mkPen((255, 200, 60), width=2)
        )
        self.region.setZValue(10)
        self.addItem(self.region)
        self.region.sigRegionChanged.connect(self._on_region_dragged)
        model.changed.connect(self._on_model_changed)
        self._on_model_changed(frozenset({"stats", "levels"}))

    def _on_model_changed(self, what: frozenset[str]) -> None:
        stats = self._model.stats
        if "stats" in what:
            self.region.setVisible(stats is not None)
            if stats is None:
                self.curve.setData([], [])
            else:
                self.curve.setData(stats.hist_edges, np.log10(1.0 + stats.hist_counts))
        if "levels" in what and not self._syncing:
            self._syncing = True  # moving the region must not echo back as manual limits
            try:
                self.region.setRegion(self._model.levels)
            finally:
                self._syncing = False
            self._fit_x()

    def _fit_x(self) -> None:
        lo, hi = self._model.levels
        stats = self._model.stats
        if stats is not None:
            lo, hi = min(lo, float(stats.hist_edges[0])), max(hi, float(stats.hist_edges[-1]))
        pad = 0.03 * (hi - lo)
        self.setXRange(lo - pad, hi + pad, padding=0.0)

    def _on_region_dragged(self) -> None:
        if self._syncing:
            return
        self._syncing = True  # the user drags: neither move the region nor re-range now
        try:
            lo, hi = self.region.getRegion()
            self._model.set_manual_levels(lo, hi)
        finally:
            self._syncing = False
