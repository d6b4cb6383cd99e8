"""The threshold controls and the overlay of the pixels a threshold would mark as light.

Thin Qt: the panel edits a :class:`~app.core.threshold.traces.ThresholdSettings` and says when
the user wants it applied; the thresholding itself, the debouncing and the undoable
write into the light layer are done by :mod:`app.threshold_controller`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.state.states import SettingsState
from app.core.state.undo import UndoStack
from app.core.threshold.traces import SMOOTHING, ThresholdSettings
from app.widgets.labeled_slider import LabeledDoubleSlider

#: Where Apply writes: the whole frame or the selection drawn on the image.
REGIONS = {"frame": "Whole frame", "rectangle": "Inside a rectangle",
           "polygon": "Inside a polygon"}
#: How to draw the selection (a drag on the image elsewhere pans, as always).
REGION_HINTS = {
    "rectangle": "A box appears in the middle of the view: drag its inside to move it and "
                 "its corner handles to size it (a drag elsewhere pans).",
    "polygon": "A four-corner polygon appears in the middle of the view: drag its corners, "
               "click an edge to add a corner, drag its inside to move it.",
}
#: How Apply combines the threshold with the light layer (inside the region): the
#: button says which. Adding is the default: it never drops hand-painted work.
APPLY_MODES = {"add": "Add to light layer", "replace": "Replace light layer",
               "intersect": "Intersect with light layer"}
APPLY_TIPS = {
    "add": "Add the green pixels to the light layer (inside the region); everything "
           "painted stays. One undo step (Ctrl+Z).",
    "replace": "Replace the light layer (inside the region) with the green pixels: "
               "hand-painted light there is dropped. One undo step (Ctrl+Z).",
    "intersect": "Keep only the light pixels (inside the region) that the threshold also "
                 "finds. One undo step (Ctrl+Z).",
}
#: Would-be light pixels: green, so they stand out on the blue light layer.
PREVIEW_RGBA = (0, 230, 140, 120)
#: Above the mask overlay (z 10), below the tool previews.
PREVIEW_Z = 12.0


def _slider(low: float, high: float, step: float, tip: str) -> LabeledDoubleSlider:
    slider = LabeledDoubleSlider(low, high, step, 2 if step < 0.1 else 1)
    slider.setToolTip(tip)
    return slider


class ThresholdPanel(QWidget):
    """Sliders and spin boxes for every threshold setting the user tunes, and Apply.

    The settings are those of a threshold state: every edit goes into it (sliders: while
    they move; debounce in the receiver, which listens to the state), every change of it
    is shown.

    Signals
    -------
    applyRequested()
        Apply pressed.
    regionChanged(str)
        A key of :data:`REGIONS`.
    overlayToggled(bool)
        The "Show in green" check box (the would-be light pixels over the image).
    """

    applyRequested = pyqtSignal()
    regionChanged = pyqtSignal(str)
    overlayToggled = pyqtSignal(bool)

    def __init__(self, state: SettingsState[ThresholdSettings] | None = None,
                 history: UndoStack | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state if state is not None else SettingsState(ThresholdSettings())
        self.history = history
        self.smoothing = QComboBox()
        for name, label in SMOOTHING.items():
            self.smoothing.addItem(label, name)
        self.smoothing.setToolTip("Filter applied before thresholding. Gaussian: fast; median: "
                                  "robust to cosmic rays but takes seconds on a full frame.")
        self.smooth_size = QDoubleSpinBox()
        self.smooth_size.setRange(0.2, 10.0)
        self.smooth_size.setSingleStep(0.1)
        self.smooth_size.setSuffix(" px")
        self.smooth_size.setToolTip("Smoothing σ (median: half-width) across the dispersion; "
                                    "along it the filter is longer, as traces run along rows.")
        self.sigma = _slider(0.5, 10.0, 0.1, "Pixels brighter than the background by this "
                             "many σ of the noise are light (signal).")
        self.grow = QSpinBox()
        self.grow.setRange(0, 50)
        self.grow.setSuffix(" px")
        self.grow.setToolTip("Faint light grows by this many pixels: a faint trace fades "
                             "into the noise inside its true edge.")
        self.min_size = QSpinBox()
        self.min_size.setRange(0, 200_000)
        self.min_size.setSingleStep(50)
        self.min_size.setSuffix(" px")
        self.min_size.setToolTip("Light regions smaller than this are noise peaks and dropped.")
        self.low_sigma = _slider(0.0, 10.0, 0.1, "Pixels this many σ below the background "
                                 "(negative nod traces, bad pixels) never become background; "
                                 "0 switches the low side off.")
        self.region = QComboBox()
        for name, label in REGIONS.items():
            self.region.addItem(label, name)
        self.region.setToolTip("Apply to the whole frame, or only inside a rectangle or polygon "
                               "drawn on the image (drag its handles; the rest of the light "
                               "layer is kept).")
        self.region_hint = QLabel()
        self.region_hint.setWordWrap(True)
        self.region_hint.setStyleSheet("color: palette(mid);")
        self.region_hint.setVisible(False)
        self.show_overlay = QCheckBox("Show in green")
        self.show_overlay.setChecked(True)
        self.show_overlay.setToolTip("Green: what Apply would write into the light layer.")
        self.apply_mode = QComboBox()
        for name in APPLY_MODES:
            self.apply_mode.addItem(name.capitalize(), name)
        self.apply_mode.setToolTip("How Apply combines the threshold with the light layer")
        self.apply_button = QPushButton()
        self.apply_mode.currentIndexChanged.connect(lambda _i: self._name_apply())
        self._name_apply()
        self.reset_button = QPushButton("Defaults")
        self.reset_button.setToolTip("Back to the default threshold settings")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumHeight(10)
        self.progress.setTextVisible(False)
        self.progress.setVisible(False)
        self.message = QLabel("Load an image to threshold it")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        form = QFormLayout()
        form.addRow("Smoothing", self.smoothing)
        form.addRow("Smoothing size", self.smooth_size)
        form.addRow("Threshold σ", self.sigma)
        form.addRow("Grow", self.grow)
        form.addRow("Minimum size", self.min_size)
        form.addRow("Low-side σ", self.low_sigma)
        form.addRow("Region", self.region)
        form.addRow(self.region_hint)
        apply_row = QHBoxLayout()  # one row: the panel must fit a 900-pixel screen
        apply_row.addWidget(self.apply_mode, 1)
        apply_row.addWidget(self.show_overlay)
        form.addRow("Apply", apply_row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.apply_button, 1)
        buttons.addWidget(self.reset_button)
        layout = QVBoxLayout(self)
        # the result of the settings first: below the form it fell under the fold of a
        # 900-pixel screen
        layout.addWidget(self.message)
        layout.addWidget(self.progress)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addStretch(1)

        self._show(self.state.value)
        self.state.changed.connect(lambda _fields: self._show(self.state.value))
        for signal in (self.smoothing.currentIndexChanged, self.smooth_size.valueChanged,
                       self.sigma.valueChanged, self.grow.valueChanged,
                       self.min_size.valueChanged, self.low_sigma.valueChanged):
            signal.connect(self._edited)
        self.region.currentIndexChanged.connect(
            lambda _i: self.regionChanged.emit(self.region_kind))
        self.region.currentIndexChanged.connect(lambda _i: self._hint_region())
        self.show_overlay.toggled.connect(self.overlayToggled)
        self.apply_button.clicked.connect(self.applyRequested)
        self.reset_button.clicked.connect(self.reset)

    # --- state ------------------------------------------------------------------------
    def settings(self) -> ThresholdSettings:
        """The settings of the state."""
        return self.state.value

    @property
    def apply_how(self) -> str:
        """How Apply combines: a key of :data:`APPLY_MODES`."""
        return str(self.apply_mode.currentData())

    def _hint_region(self) -> None:
        hint = REGION_HINTS.get(self.region_kind, "")
        self.region_hint.setText(hint)
        self.region_hint.setVisible(bool(hint))

    def _name_apply(self) -> None:
        self.apply_button.setText(APPLY_MODES[self.apply_how])
        self.apply_button.setToolTip(APPLY_TIPS[self.apply_how])

    @property
    def region_kind(self) -> str:
        """Where Apply writes: a key of :data:`REGIONS`."""
        return str(self.region.currentData())

    def set_region_kind(self, kind: str) -> None:
        """Choose the region (emits ``regionChanged`` if it changes)."""
        self.region.setCurrentIndex(self.region.findData(kind))

    def set_settings(self, settings: ThresholdSettings) -> None:
        """Put ``settings`` into the state (shown at once; its listeners follow)."""
        self.state.set(settings)

    def reset(self) -> None:
        """Back to the default settings (one undo step when there is a history)."""
        if self.history is not None:
            self.history.set(self.state, self.state.default, "threshold defaults")
        else:
            self.state.reset()

    def set_busy(self, busy: bool) -> None:
        """A thin busy bar while a threshold is computed."""
        self.progress.setVisible(busy)
        if not busy:
            self.progress.setRange(0, 0)

    def set_progress(self, fraction: float, message: str) -> None:
        """Progress of a running threshold: the bar and, while fitting, the status line."""
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(1000 * fraction))
        self.progress.setToolTip(message)
        if fraction < 0.7:  # the fit; afterwards the result's summary follows at once
            self.show_message(message)

    def show_message(self, text: str, problem: bool = False) -> None:
        """The status line (red for problems)."""
        self.message.setStyleSheet("color: #e05050;" if problem else "")
        self.message.setText(text)

    def _show(self, s: ThresholdSettings) -> None:
        widgets = (self.smoothing, self.smooth_size, self.sigma, self.grow, self.min_size,
                   self.low_sigma)
        for widget in widgets:
            widget.blockSignals(True)
        self.smoothing.setCurrentIndex(self.smoothing.findData(s.smoothing))
        self.smooth_size.setValue(s.smooth_size)
        self.smooth_size.setEnabled(s.smoothing != "none")
        self.sigma.setValue(s.sigma)
        self.grow.setValue(s.grow)
        self.min_size.setValue(s.min_size)
        self.low_sigma.setValue(s.low_sigma)
        for widget in widgets:
            widget.blockSignals(False)

    def _edited(self) -> None:
        settings = self.state.value.replace(
            smoothing=str(self.smoothing.currentData()), smooth_size=self.smooth_size.value(),
            sigma=round(self.sigma.value(), 3), grow=self.grow.value(),
            min_size=self.min_size.value(), low_sigma=round(self.low_sigma.value(), 3))
        self.smooth_size.setEnabled(settings.smoothing != "none")
        self.state.set(settings)  # emits only if something changed


class ThresholdOverlay(pg.ImageItem):
    """The would-be light pixels, drawn in :data:`PREVIEW_RGBA` over the image."""

    def __init__(self) -> None:
        super().__init__(axisOrder="row-major")
        self.setAutoDownsample(False)
        table = np.zeros((256, 4), dtype=np.uint8)  # a full table: see mask_overlay._table
        table[1] = PREVIEW_RGBA
        self._table = table
        self.shown: np.ndarray | None = None

    def set_mask(self, mask: np.ndarray | None) -> None:
        """Show ``mask`` (bool or 0/1 uint8, DMS, not modified later); None hides it.

        A contiguous bool mask is shown through a uint8 view of its memory (no copy): with
        the full colour table pyqtgraph hands it to Qt as an indexed image.
        """
        if mask is None:
            self.shown = None
            self.clear()
            return
        mask = np.ascontiguousarray(mask)
        self.shown = mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
        self.setImage(self.shown, autoLevels=False, levels=None, lut=self._table)
