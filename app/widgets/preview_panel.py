"""The cleaning controls (parameters, progress, save) and the preview views.

Thin Qt: the form edits a :class:`~app.core.clean.CleanParams`, the views show the arrays
of a :class:`~app.core.preview.PreviewResult`, and everything else (when to recompute,
saving) is done by :mod:`app.preview_controller`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PyQt6.QtCore import QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QPainterPath, QPen
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGraphicsPathItem,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.clean import FULL_FRAME, CleanParams
from app.core.preview import PreviewResult
from app.core.preview_curves import difference_levels
from app.core.stretch import DisplayModel
from app.widgets.image_view import ImageView

#: Samples on a full-frame detector line: frequencies are shown in cycles per line.
LINE = FULL_FRAME[0]
METHODS = {"fft": "Fourier fit (NSClean)", "median": "Median per line"}
VIEWS = {"original": "Original", "cleaned": "Cleaned", "model": "Fitted model",
         "residual": "Residual (original − cleaned)"}
#: Views of differences are shown around zero with the same contrast as the image.
DIFFERENCE_VIEWS = ("model", "residual")
UNFIT_COLOR = QColor(255, 40, 40, 90)


@dataclass(frozen=True)
class _Field:
    name: str  # CleanParams attribute
    label: str
    unit: str
    low: float
    high: float
    step: float
    decimals: int
    scale: float  # shown value = parameter × scale
    tip: str


FIELDS = (
    _Field("fc", "Cut-off fc", " cycles/line", 0.5, 128.0, 0.5, 2, LINE,
           "Half-power frequency of the low-pass filter, in cycles per 2048-pixel detector "
           "line (the CLI's --fc × 2048). Banding that varies more slowly than 2048/fc pixels "
           "along a DMS column is modelled. Default 8 (1/256 per pixel)."),
    _Field("kw", "Roll-off kw", " cycles/line", 0.0, 64.0, 0.5, 2, LINE,
           "Width of the filter's cosine roll-off around fc, in cycles per line. "
           "'auto' uses fc/4, the published default."),
    _Field("sigrej", "Outlier rejection", " σ", 1.0, 20.0, 0.5, 1, 1.0,
           "Background samples farther than this many σ (1.4826 × MAD) from their line's "
           "median are replaced by the median before the fit (cosmic rays, hot pixels)."),
    _Field("weight_sigma", "Weight σ", " px", 1.0, 512.0, 1.0, 1, 1.0,
           "σ of the Gaussian that measures the density of background samples along a line; "
           "samples are weighted by its reciprocal so that large dark areas do not dominate."),
    _Field("buff_sigma", "Buffing σ", " lines", 0.1, 20.0, 0.1, 2, 1.0,
           "σ of the smoothing of the model across neighbouring lines (DMS columns)."),
)
FOURIER_ONLY = ("fc", "kw", "weight_sigma", "buff_sigma", "buff")


class ParameterForm(QWidget):
    """Edits a :class:`CleanParams`; emits ``paramsChanged(CleanParams)`` on every edit.

    Spin boxes report when editing is done (Enter, arrows, focus out), not per keystroke.
    """

    paramsChanged = pyqtSignal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._params = CleanParams()
        self._subarray = False
        form = QFormLayout(self)
        self.method = QComboBox()
        for name, label in METHODS.items():
            self.method.addItem(label, name)
        self.method.setToolTip("Fourier fit: NSClean (subarray frames automatically use its "
                               "subarray variant). Median: subtract each detector line's "
                               "background median, a crude baseline to compare with.")
        form.addRow("Method", self.method)
        self.variant = QLabel()
        self.variant.setWordWrap(True)
        form.addRow(self.variant)
        self.spins: dict[str, QDoubleSpinBox] = {}
        for field in FIELDS:
            spin = QDoubleSpinBox()
            spin.setRange(field.low, field.high)
            spin.setSingleStep(field.step)
            spin.setDecimals(field.decimals)
            spin.setSuffix(field.unit)
            spin.setToolTip(field.tip)
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(self._edited)
            self.spins[field.name] = spin
            if field.name == "buff_sigma":
                self.buff = QCheckBox("Buffing")
                self.buff.setToolTip("Smooth the fitted model across neighbouring lines "
                                     "(the dispersion direction) before subtracting it.")
                self.buff.toggled.connect(self._edited)
                form.addRow(self.buff)
            form.addRow(field.label, spin)
        self.spins["kw"].setSpecialValueText("auto (fc/4)")
        self.by_channel = QCheckBox("One median per readout channel")
        self.by_channel.setToolTip("Median method: one median per 512-pixel output of each line.")
        self.by_channel.toggled.connect(self._edited)
        form.addRow(self.by_channel)
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.clicked.connect(self.reset)
        form.addRow(self.reset_button)
        self.method.currentIndexChanged.connect(self._edited)
        self._show(self._params)

    def params(self) -> CleanParams:
        """The parameters shown."""
        return self._params

    def set_params(self, params: CleanParams) -> None:
        """Show ``params`` (no signal)."""
        self._params = params
        self._show(params)

    def reset(self) -> None:
        """Back to the published defaults (emits ``paramsChanged`` if anything changed)."""
        changed = self._params != CleanParams()
        self.set_params(CleanParams())
        if changed:
            self.paramsChanged.emit(self._params)

    def set_frame_shape(self, shape: tuple[int, int] | None) -> None:
        """Say which variant the frame gets and enable only the fields that apply."""
        self._subarray = shape is not None and tuple(shape) != FULL_FRAME
        self._update_enabled()

    def _show(self, params: CleanParams) -> None:
        widgets = [self.method, self.buff, self.by_channel, *self.spins.values()]
        for widget in widgets:
            widget.blockSignals(True)
        self.method.setCurrentIndex(self.method.findData(params.method))
        for field in FIELDS:
            value = getattr(params, field.name)
            self.spins[field.name].setValue(0.0 if value is None else value * field.scale)
        self.buff.setChecked(params.buff)
        self.by_channel.setChecked(params.by_channel)
        for widget in widgets:
            widget.blockSignals(False)
        self._update_enabled()

    def _edited(self) -> None:
        values: dict[str, object] = {
            f.name: self.spins[f.name].value() / f.scale for f in FIELDS}
        if values["kw"] == 0.0:
            values["kw"] = None
        params = replace(self._params, method=self.method.currentData(), buff=self.buff.isChecked(),
                         by_channel=self.by_channel.isChecked(), **values)
        self._update_enabled()
        if params != self._params:
            self._params = params
            self.paramsChanged.emit(params)

    def _update_enabled(self) -> None:
        fourier = self.method.currentData() == "fft"
        full = fourier and not self._subarray
        for name in FOURIER_ONLY:
            widget = self.buff if name == "buff" else self.spins[name]
            widget.setEnabled(full)
        self.spins["buff_sigma"].setEnabled(full and self.buff.isChecked())
        self.spins["sigrej"].setEnabled(full)
        self.by_channel.setEnabled(not fourier)
        if not fourier:
            text = "Each line's background median is subtracted."
        elif self._subarray:
            text = ("Subarray frame: NSClean's subarray variant (the image as one time series, "
                    "fixed frequency bands); the settings below do not apply.")
        else:
            text = "Full frame: weighted Fourier fit of every detector line."
        self.variant.setText(text)


class UnfitLinesItem(QGraphicsPathItem):
    """Translucent red bands over the DMS columns whose line could not be fit."""

    def __init__(self) -> None:
        super().__init__()
        self.setPen(QPen(Qt.PenStyle.NoPen))
        self.setBrush(QBrush(UNFIT_COLOR))

    def set_columns(self, columns: np.ndarray, height: int) -> None:
        """Mark ``columns`` (DMS column indices) over the full ``height``."""
        path = QPainterPath()
        cols = np.unique(np.asarray(columns, dtype=int))
        if cols.size:
            breaks = np.flatnonzero(np.diff(cols) > 1)
            for start, stop in zip(np.r_[0, breaks + 1], np.r_[breaks, cols.size - 1],
                                   strict=True):
                path.addRect(QRectF(cols[start], 0, cols[stop] - cols[start] + 1, height))
        self.setPath(path)


class PreviewPane(QWidget):
    """One preview image with its own choice of what to show."""

    def __init__(self, display: DisplayModel, kind: str) -> None:
        super().__init__()
        self._display = display
        self._result: PreviewResult | None = None
        self.choice = QComboBox()
        for name, label in VIEWS.items():
            self.choice.addItem(label, name)
        self.choice.setToolTip("What this view shows. Model and residual are centred on zero "
                               "with the same contrast as the image.")
        self.view = ImageView()
        self.unfit = UnfitLinesItem()
        self.view.add_overlay(self.unfit, 20.0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.choice)
        layout.addWidget(self.view, 1)
        self.choice.currentIndexChanged.connect(lambda _i: self._refresh())
        display.connect(self._on_display)
        self.set_kind(kind)
        self._on_display(frozenset({"levels", "lut"}))

    @property
    def kind(self) -> str:
        """Which array is shown: a key of :data:`VIEWS`."""
        return str(self.choice.currentData())

    def set_kind(self, kind: str) -> None:
        """Show ``kind`` (a key of :data:`VIEWS`)."""
        self.choice.setCurrentIndex(self.choice.findData(kind))

    def set_result(self, result: PreviewResult | None) -> None:
        """Show the arrays of ``result`` (None clears the view)."""
        self._result = result
        if result is None:
            self.unfit.set_columns(np.zeros(0, int), 0)
        self._refresh()

    def set_unfit_columns(self, columns: np.ndarray, height: int) -> None:
        """Mark the DMS columns left unfit."""
        self.unfit.set_columns(columns, height)

    def _refresh(self) -> None:
        result = self._result
        if result is None:
            self.view.set_image(None)
            return
        array = result.image if self.kind == "original" else getattr(result, self.kind)
        self.view.set_image(array, result.detector)
        self._apply_levels()

    def _apply_levels(self) -> None:
        levels = self._display.levels
        self.view.set_levels(difference_levels(levels) if self.kind in DIFFERENCE_VIEWS
                             else levels)

    def _on_display(self, what: frozenset[str]) -> None:
        if "levels" in what:
            self._apply_levels()
        if "lut" in what:
            self.view.set_lut(self._display.lut)
            self.view.set_nan_color(self._display.nan_color)


class PreviewViews(QWidget):
    """One preview view, or two side by side with linked zoom and pan."""

    def __init__(self, display: DisplayModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.first = PreviewPane(display, "residual")
        self.second = PreviewPane(display, "original")
        self.second.view.view.setXLink(self.first.view.view)  # linked zoom and pan
        self.second.view.view.setYLink(self.first.view.view)
        self.second.setVisible(False)
        self.side_by_side = QCheckBox("Side by side")
        self.side_by_side.setToolTip("Show two views with linked zoom and pan")
        self.side_by_side.toggled.connect(self.second.setVisible)
        panes = QHBoxLayout()
        panes.setContentsMargins(0, 0, 0, 0)
        panes.addWidget(self.first, 1)
        panes.addWidget(self.second, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.side_by_side)
        layout.addLayout(panes, 1)

    @property
    def panes(self) -> tuple[PreviewPane, PreviewPane]:
        """Both views (the second is hidden unless side by side)."""
        return self.first, self.second

    def set_result(self, result: PreviewResult | None) -> None:
        """Show a preview in both views."""
        for pane in self.panes:
            pane.set_result(result)

    def set_unfit_columns(self, columns: np.ndarray, height: int) -> None:
        """Mark the DMS columns whose lines were not fit."""
        for pane in self.panes:
            pane.set_unfit_columns(columns, height)

    def set_orientation(self, orientation: str) -> None:
        """DMS or detector orientation, like the main view."""
        for pane in self.panes:
            pane.view.set_orientation(orientation)


class CleaningControls(QWidget):
    """Parameter form, progress with Cancel, a status line and the save buttons.

    Signals
    -------
    cancelRequested()
        The user pressed Cancel.
    saveRequested(), cleanAllRequested()
        The save buttons.
    """

    cancelRequested = pyqtSignal()
    saveRequested = pyqtSignal()
    cleanAllRequested = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = ParameterForm()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(10)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running preview or batch cleaning")
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.message = QLabel("Load an image to see the cleaning preview")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.save_button = QPushButton("Save cleaned…")
        self.save_button.setToolTip("Clean every loaded file with this mask and these "
                                    "parameters and save it (same writer as `nsclean clean`)")
        self.save_button.clicked.connect(self.saveRequested)
        self.clean_all_button = QPushButton("Clean all loaded files…")
        self.clean_all_button.setToolTip("Write <name>_nsclean.fits for every loaded file "
                                         "into a folder")
        self.clean_all_button.clicked.connect(self.cleanAllRequested)
        status = QHBoxLayout()
        status.addWidget(self.progress, 1)
        status.addWidget(self.cancel_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.clean_all_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addLayout(status)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.set_busy(False)

    def set_busy(self, busy: bool) -> None:
        """Show the progress indicator and enable Cancel while work runs."""
        self.progress.setEnabled(busy)
        self.cancel_button.setEnabled(busy)
        self.progress.setValue(0)

    def set_progress(self, fraction: float, message: str) -> None:
        """Update the progress bar."""
        self.progress.setValue(int(1000 * fraction))
        self.progress.setToolTip(message)

    def show_message(self, text: str, problem: bool = False) -> None:
        """The status line (red for problems)."""
        self.message.setStyleSheet("color: #e05050;" if problem else "")
        self.message.setText(text)
