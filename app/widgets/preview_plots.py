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

BEFORE_COLOUR, AFTER_COLOUR, UNFIT_COLOUR = (150, 150, 150), (60, 170, 255), (255, 60, 60)
BEFORE_PEN = pg.mkPen(BEFORE_COLOUR, width=1)
AFTER_PEN = pg.mkPen(AFTER_COLOUR, width=1)
CURVES = [("original", BEFORE_COLOUR), ("cleaned", AFTER_COLOUR)]
PROFILE_AXES = {
    "rows": "Mean along the dispersion direction (per DMS row)",
    "columns": "Mean along the detector lines (per DMS column)",
}


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def hertz(value: float) -> str:
    """``50 Hz``, ``1 kHz``, ``10 kHz``."""
    return f"{value / 1000:g} kHz" if value >= 1000 else f"{value:g} Hz"


def power_of_ten(value: float) -> str:
    """``10⁻³`` for a power of ten, else ``3·10⁻³``."""
    exponent = int(np.floor(np.log10(value) + 1e-9))
    mantissa = value / 10.0 ** exponent
    head = "" if abs(mantissa - 1) < 1e-6 else f"{mantissa:.2g}·"
    return f"{head}10{str(exponent).translate(_SUPERSCRIPT)}"


class DecadeAxis(pg.AxisItem):
    """A log axis labelled at whole decades only, in the reader's units.

    pyqtgraph labels every minor tick ("5·10 6·10 7·10 8·10 10²"), which overlaps; here the
    minor ticks stay as ticks. A range narrower than a decade labels its ticks instead.
    """

    def __init__(self, orientation: str, formatter, **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self._formatter = formatter
        self.enableAutoSIPrefix(False)

    def logTickStrings(self, values, scale, spacing) -> list[str]:
        """Labels of the decades among ``values`` (log10 of the tick values)."""
        decades = [abs(v - round(v)) < 1e-6 for v in values]
        if not any(decades):  # less than a decade on screen
            return [self._formatter(10.0 ** v * scale) for v in values]
        return [self._formatter(10.0 ** round(v) * scale) if on else ""
                for v, on in zip(values, decades, strict=True)]


def _legend(title: str, entries: list[tuple[str, tuple[int, int, int]]]) -> str:
    """The title with the curves' names in their colours: a legend that covers no curve."""
    names = "  ".join(f"<span style='color: rgb{colour}'>━ {name}</span>"
                      for name, colour in entries)
    return f"{title}&nbsp;&nbsp;&nbsp;{names}"


def _plot(title: str, x_label: str, y_label: str, entries: list, *, log: bool = False,
          x_units=None, y_units=None) -> pg.PlotWidget:
    axes = ({"bottom": DecadeAxis("bottom", x_units), "left": DecadeAxis("left", y_units)}
            if log else {})
    plot = pg.PlotWidget(title=_legend(title, entries), axisItems=axes)
    for side, label in (("bottom", x_label), ("left", y_label)):
        plot.setLabel(side, label)
        # values as they are (0.04), not scaled ticks with an "(x0.001)" in the label
        plot.getAxis(side).enableAutoSIPrefix(False)
    plot.showGrid(x=True, y=True, alpha=0.2)
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
        self.profile = _plot("Background profile", "DMS row", "mean (DN/s)", CURVES)
        self.profile_before = self.profile.plot(pen=BEFORE_PEN, name="original")
        self.profile_after = self.profile.plot(pen=AFTER_PEN, name="cleaned")
        self.profile.setToolTip(
            "Mean of the background pixels along each row (or column). The vertical range "
            "leaves out the 1 % most extreme points (rows hit by cosmic rays or hot pixels); "
            "click the 'A' button at the bottom left to see everything.")
        self.spectrum = _plot("Power along the fast-scan axis", "frequency",
                              "power density ((DN/s)²/Hz)", CURVES, log=True, x_units=hertz,
                              y_units=power_of_ten)
        self.spectrum.setLogMode(x=True, y=True)
        self.spectrum_before = self.spectrum.plot(pen=BEFORE_PEN, name="original")
        self.spectrum_after = self.spectrum.plot(pen=AFTER_PEN, name="cleaned")
        self.coverage = _plot("Background samples per detector line", "detector line",
                              "samples", [("samples", AFTER_COLOUR), ("✕ not fit", UNFIT_COLOUR),
                                          ("┄ needed", UNFIT_COLOUR)])
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
