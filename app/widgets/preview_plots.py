"""Plots of the cleaning preview: banding profile, fast-axis power spectrum, line coverage.

Only draws what :class:`app.core.display.curves.CurveBuilder` and the engine's
:class:`~app.core.clean.Diagnostics` computed; no numerics here.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QComboBox, QTabWidget, QVBoxLayout, QWidget

from app.core.clean import Diagnostics
from app.core.display.curves import PreviewCurves, profile_range
from app.core.state.states import PLOT_TABS, SettingsState, ViewSettings

BEFORE_PEN = pg.mkPen((150, 150, 150), width=1)
AFTER_PEN = pg.mkPen((60, 170, 255), width=1)
PROFILE_AXES = {
    "rows": "Mean along the dispersion direction (per DMS row)",
    "columns": "Mean along the detector lines (per DMS column)",
}


def _plot(title: str, x_label: str, y_label: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(title=title)
    plot.setLabel("bottom", x_label)
    plot.setLabel("left", y_label)
    plot.showGrid(x=True, y=True, alpha=0.2)
    # a dark box behind the legend: the curves fill the plot, and would hide the names
    plot.addLegend(offset=(-10, 10), brush=pg.mkBrush(0, 0, 0, 200), pen=pg.mkPen(90, 90, 90))
    return plot


class PreviewPlots(QWidget):
    """Tabs with the profile, power-spectrum and coverage plots.

    The profile axis and the tab shown are those of a view state (``profile_axis``,
    ``plot_tab``): whoever listens to it recomputes the curves the user wants (the
    spectrum only while its tab is shown).
    """

    def __init__(self, state: SettingsState[ViewSettings] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state if state is not None else SettingsState(ViewSettings())
        self.axis = QComboBox()
        for name, label in PROFILE_AXES.items():
            self.axis.addItem(label, name)
        self.axis.setToolTip("Background pixels only. Banding shows as structure that "
                             "cleaning removes.")
        self.axis.currentIndexChanged.connect(
            lambda _i: self.state.update(profile_axis=self.profile_axis))
        self.profile = _plot("Background profile", "DMS row", "mean (DN/s)")
        self.profile_before = self.profile.plot(pen=BEFORE_PEN, name="original")
        self.profile_after = self.profile.plot(pen=AFTER_PEN, name="cleaned")
        self.profile.setToolTip(
            "Mean of the background pixels along each row (or column). The vertical range "
            "leaves out the 1 % most extreme points (rows hit by cosmic rays or hot pixels); "
            "click the 'A' button at the bottom left to see everything.")
        self.spectrum = _plot("Power along the fast-scan axis", "frequency (Hz)",
                              "power density")
        self.spectrum.setLogMode(x=True, y=True)
        self.spectrum_before = self.spectrum.plot(pen=BEFORE_PEN, name="original")
        self.spectrum_after = self.spectrum.plot(pen=AFTER_PEN, name="cleaned")
        self.coverage = _plot("Background samples per detector line", "detector line",
                              "samples")
        self.coverage_curve = self.coverage.plot(pen=AFTER_PEN, name="samples",
                                                 stepMode="center", fillLevel=0,
                                                 brush=(60, 170, 255, 60))
        self.coverage_unfit = self.coverage.plot(
            pen=None, symbol="x", symbolSize=6, symbolBrush=(255, 60, 60),
            symbolPen=(255, 60, 60), name="not fit")
        dashed = pg.mkPen((255, 60, 60), style=Qt.PenStyle.DashLine)
        self.coverage_needed = pg.InfiniteLine(angle=0, pen=dashed)
        self.coverage.addItem(self.coverage_needed)

        profile_tab = QWidget()
        profile_layout = QVBoxLayout(profile_tab)
        profile_layout.setContentsMargins(0, 0, 0, 0)
        profile_layout.addWidget(self.axis)
        profile_layout.addWidget(self.profile, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(profile_tab, "Profile")
        self.tabs.addTab(self.spectrum, "Power spectrum")
        self.tabs.addTab(self.coverage, "Coverage")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self.tabs.currentChanged.connect(
            lambda i: self.state.update(plot_tab=PLOT_TABS[i]))
        self.state.changed.connect(lambda _fields: self._show_state())
        self._show_state()

    def _show_state(self) -> None:
        value = self.state.value
        self.axis.setCurrentIndex(self.axis.findData(value.profile_axis))
        self.tabs.setCurrentIndex(PLOT_TABS.index(value.plot_tab))

    @property
    def profile_axis(self) -> str:
        """``"rows"`` or ``"columns"``."""
        return str(self.axis.currentData())

    @property
    def wants_curves(self) -> bool:
        """Whether a profile or spectrum tab is shown (the coverage tab needs no curves)."""
        return self.tabs.currentWidget() is not self.coverage

    @property
    def wants_spectrum(self) -> bool:
        """Whether the power-spectrum tab is shown."""
        return self.tabs.currentWidget() is self.spectrum

    def set_curves(self, curves: PreviewCurves | None) -> None:
        """Draw profile and spectrum before/after (None clears them; a spectrum that was
        not computed, ``with_spectrum`` False, is left as it is)."""
        if curves is None:
            for item in (self.profile_before, self.profile_after, self.spectrum_before,
                         self.spectrum_after):
                item.clear()
            return
        label = "DMS row" if self.profile_axis == "rows" else "DMS column"
        self.profile.setLabel("bottom", label)
        self.profile_before.setData(curves.profile_x, curves.profile_before, connect="finite")
        self.profile_after.setData(curves.profile_x, curves.profile_after, connect="finite")
        span = profile_range(curves.profile_before, curves.profile_after)
        if span is not None:  # the banding fills the plot; "A" (bottom left) shows all
            self.profile.setYRange(*span, padding=0)
            self.profile.enableAutoRange(x=True)
        if not curves.with_spectrum:
            return
        if curves.frequency_hz is None:
            self.spectrum_before.clear()
            self.spectrum_after.clear()
            return
        # log axes cannot show zero frequency
        keep = slice(1, None)
        self.spectrum_before.setData(curves.frequency_hz[keep], curves.spectrum_before[keep])
        self.spectrum_after.setData(curves.frequency_hz[keep], curves.spectrum_after[keep])

    def set_diagnostics(self, diagnostics: Diagnostics | None) -> None:
        """Draw the samples per detector line; unfit lines are marked."""
        if diagnostics is None:
            self.coverage_curve.clear()
            self.coverage_unfit.clear()
            return
        counts = diagnostics.samples_per_line
        self.coverage_curve.setData(np.arange(counts.size + 1), counts)
        unfit = diagnostics.unfit_lines
        self.coverage_unfit.setData(unfit, counts[unfit])
        self.coverage_needed.setValue(diagnostics.min_samples)
