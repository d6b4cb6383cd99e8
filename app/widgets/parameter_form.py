"""The cleaning-parameter form: every :class:`~app.core.clean.CleanParams` field the GUI
offers, with ranges, units and tooltips, and a reset to the published defaults.

Frequencies are shown in cycles per 2048-pixel detector line (the CLI takes cycles per
pixel): "8 cycles/line" reads better than 0.00390625.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from app.core.clean import FULL_FRAME, CleanParams
from app.core.state.states import SettingsState

#: Samples on a full-frame detector line: frequencies are shown in cycles per line.
LINE = FULL_FRAME[0]
METHODS = {"fft": "Fourier fit (NSClean)", "median": "Median per line",
           "time": "Read-time fit (4 outputs)"}
#: The kw spin box's minimum shows "auto (fc/4)" (kw None), so that 0 (a hard cut, which
#: auto-tune may choose) stays a value of its own.
AUTO_KW = -0.01


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
    _Field("kw", "Roll-off kw", " cycles/line", AUTO_KW, 64.0, 0.5, 2, LINE,
           "Width of the filter's cosine roll-off around fc, in cycles per line. "
           "'auto' (one step below 0) uses fc/4, the published default; 0 is a hard cut."),
    _Field("sigrej", "Outlier rejection", " σ", 1.0, 20.0, 0.5, 1, 1.0,
           "Background samples farther than this many σ (1.4826 × MAD) from their line's "
           "median are replaced by the median before the fit (cosmic rays, hot pixels)."),
    _Field("weight_sigma", "Weight σ", " px", 1.0, 512.0, 1.0, 1, 1.0,
           "σ of the Gaussian that measures the density of background samples along a line; "
           "samples are weighted by its reciprocal so that large dark areas do not dominate."),
    _Field("buff_sigma", "Buffing σ", " lines", 0.1, 20.0, 0.1, 2, 1.0,
           "σ of the smoothing of the model across neighbouring lines (DMS columns)."),
    _Field("harmonics", "Harmonics", "", 1, 64, 1, 0, 1.0,
           "Read-time fit: Fourier terms of the noise series shared by the four outputs "
           "(24 ≈ one cycle per 37 ticks with IRS², about 27 pixels of each output)."),
    _Field("output_terms", "Output terms", "", 0, 16, 1, 0, 1.0,
           "Read-time fit: harmonics of each output's own series besides its offset."),
    _Field("time_ridge", "1/f prior", "", 0.1, 100.0, 0.5, 1, 1.0,
           "Read-time fit: strength of the 1/f prior that keeps the series stable where no "
           "output sees background."),
)
FOURIER_ONLY = ("fc", "kw", "buff_sigma", "buff")
TIME_ONLY = ("harmonics", "output_terms", "time_ridge")
INTEGER_FIELDS = ("harmonics", "output_terms")


class ParameterForm(QWidget):
    """Shows and edits the cleaning state (a :class:`CleanParams` value).

    Every edit goes into the state; every change of the state (an edit here, Auto-tune,
    Undo, a session) is shown. Spin boxes report when editing is done (Enter, arrows,
    focus out), not per keystroke.

    Parameters
    ----------
    state : SettingsState of CleanParams, optional
        The state to bind to (a new one when omitted).
    """

    def __init__(self, state: SettingsState[CleanParams] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state if state is not None else SettingsState(CleanParams())
        self._subarray = False
        form = QFormLayout(self)
        self.method = QComboBox()
        for name, label in METHODS.items():
            self.method.addItem(label, name)
        self.method.setToolTip("Fourier fit: NSClean (subarray frames automatically use its "
                               "subarray variant). Median: subtract each detector line's "
                               "background median, a crude baseline to compare with. "
                               "Read-time fit: each line's noise as the four outputs read it, "
                               "at the same instants (full frames; subarrays use the Fourier "
                               "fit).")
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
        self.state.changed.connect(lambda _fields: self._show(self.state.value))
        self._show(self.state.value)

    def params(self) -> CleanParams:
        """The parameters of the state."""
        return self.state.value

    def set_params(self, params: CleanParams) -> None:
        """Put ``params`` into the state (shown at once; its listeners follow)."""
        self.state.set(params)

    def reset(self) -> None:
        """Back to the published defaults."""
        self.state.reset()

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
            self.spins[field.name].setValue(field.low if value is None else value * field.scale)
        self.buff.setChecked(params.buff)
        self.by_channel.setChecked(params.by_channel)
        for widget in widgets:
            widget.blockSignals(False)
        self._update_enabled()

    def _edited(self) -> None:
        values: dict[str, object] = {
            f.name: self.spins[f.name].value() / f.scale for f in FIELDS}
        for name in INTEGER_FIELDS:
            values[name] = round(float(values[name]))
        if values["kw"] < 0.0:  # the "auto" special value
            values["kw"] = None
        params = replace(self.state.value, method=self.method.currentData(),
                         buff=self.buff.isChecked(), by_channel=self.by_channel.isChecked(),
                         **values)
        self._update_enabled()
        self.state.set(params)  # emits (and is shown) only if something changed

    def _update_enabled(self) -> None:
        method = self.method.currentData()
        in_time = method == "time" and not self._subarray
        fourier = method in ("fft", "time")  # a subarray gets the Fourier fit either way
        full = method == "fft" and not self._subarray
        for name in FOURIER_ONLY:
            widget = self.buff if name == "buff" else self.spins[name]
            widget.setEnabled(full)
        self.spins["buff_sigma"].setEnabled(full and self.buff.isChecked())
        for name in ("sigrej", "weight_sigma"):
            self.spins[name].setEnabled(full or in_time)
        for name in TIME_ONLY:
            self.spins[name].setEnabled(in_time)
        self.by_channel.setEnabled(not fourier)
        if in_time:
            text = ("Full frame: every detector line fitted in read time, the four outputs "
                    "together (timing from READPATT); no buffing.")
        elif not fourier:
            text = "Each line's background median is subtracted."
        elif self._subarray:
            text = ("Subarray frame: NSClean's subarray variant (the image as one time series, "
                    "fixed frequency bands); the settings below do not apply.")
        else:
            text = "Full frame: weighted Fourier fit of every detector line."
            if self.state.value.fit == "real":  # not in the form: set by auto-tune
                text += (f" Real cos/sin fit with a 1/f prior of strength "
                         f"{self.state.value.ridge:g} (auto-tune; Reset goes back).")
        self.variant.setText(text)
