"""Controls for the display model: stretch, limits, colour map, invert, contrast/bias."""

from __future__ import annotations

from PyQt6.QtGui import QDoubleValidator
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.display.stretch import COLORMAPS, LIMITS, STRETCHES, DisplayModel
from app.widgets.histogram import HistogramWidget


def _combo(items: dict[str, str]) -> QComboBox:
    box = QComboBox()
    for name, label in items.items():
        box.addItem(label, name)
    return box


class StretchPanel(QWidget):
    """Histogram plus the stretch/limit controls; every control writes to the model and
    every model change is reflected back (with signals blocked, so nothing loops)."""

    def __init__(self, model: DisplayModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self.histogram = HistogramWidget(model)
        self.stretch = _combo({k: v[0] for k, v in STRETCHES.items()})
        self.param = QDoubleSpinBox()
        self.param.setDecimals(3)
        self.param.setRange(0.001, 100000.0)
        self.param.setToolTip("Parameter a of the log, asinh and power stretches")
        self.limits = _combo(LIMITS)
        self.low, self.high = QLineEdit(), QLineEdit()
        for edit, tip in ((self.low, "Low level"), (self.high, "High level")):
            edit.setValidator(QDoubleValidator())
            edit.setToolTip(f"{tip}: typing a value switches to manual limits")
            edit.editingFinished.connect(self._levels_typed)
        self.colormap = _combo({name: name for name in COLORMAPS})
        self.invert = QCheckBox("Invert")
        self.reset_cb = QPushButton("Reset")
        self.reset_cb.setToolTip("Reset contrast and bias (right-drag on the image sets them)")
        self.cb_label = QLabel()

        levels = QHBoxLayout()
        levels.addWidget(self.low)
        levels.addWidget(QLabel("to"))
        levels.addWidget(self.high)
        cb_row = QHBoxLayout()
        cb_row.addWidget(self.cb_label, 1)
        cb_row.addWidget(self.reset_cb)
        form = QFormLayout()
        form.addRow("Stretch", self.stretch)
        form.addRow("a", self.param)
        form.addRow("Limits", self.limits)
        form.addRow("Levels", levels)
        form.addRow("Colours", self.colormap)
        form.addRow("", self.invert)
        form.addRow("Contrast", cb_row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.histogram, 1)
        layout.addLayout(form)
        layout.addStretch(0)

        self.stretch.currentIndexChanged.connect(
            lambda: model.update(stretch=self.stretch.currentData())
        )
        self.param.valueChanged.connect(lambda v: model.update(stretch_param=float(v)))
        self.limits.currentIndexChanged.connect(self._limits_chosen)
        self.colormap.currentIndexChanged.connect(
            lambda: model.update(colormap=self.colormap.currentData())
        )
        self.invert.toggled.connect(lambda on: model.update(invert=bool(on)))
        self.reset_cb.clicked.connect(lambda: model.update(contrast=1.0, bias=0.5))
        model.changed.connect(lambda what: self.sync())
        self.sync()

    def _limits_chosen(self) -> None:
        name = self.limits.currentData()
        if name == "manual":  # keep what is shown now as the manual levels
            self._model.set_manual_levels(*self._model.levels)
        else:
            self._model.update(limits=name)

    def _levels_typed(self) -> None:
        try:
            lo, hi = float(self.low.text()), float(self.high.text())
        except ValueError:
            self.sync()
            return
        if (lo, hi) != tuple(float(f"{v:.6g}") for v in self._model.levels):
            self._model.set_manual_levels(lo, hi)

    def sync(self) -> None:
        """Show the model's current settings in the controls."""
        s = self._model.settings
        widgets = (self.stretch, self.param, self.limits, self.colormap, self.invert)
        for w in widgets:
            w.blockSignals(True)
        try:
            self.stretch.setCurrentIndex(self.stretch.findData(s.stretch))
            default = STRETCHES[s.stretch][1]
            self.param.setEnabled(default is not None)
            self.param.setValue(s.stretch_param or default or 1.0)
            self.limits.setCurrentIndex(self.limits.findData(s.limits))
            self.colormap.setCurrentIndex(self.colormap.findData(s.colormap))
            self.invert.setChecked(s.invert)
        finally:
            for w in widgets:
                w.blockSignals(False)
        lo, hi = self._model.levels
        self.low.setText(f"{lo:.6g}")
        self.high.setText(f"{hi:.6g}")
        self.cb_label.setText(f"contrast {s.contrast:.2f}, bias {s.bias:.2f}")
