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
from app.core.parameters import PARAMETERS
from app.core.state.states import SettingsState
from app.core.state.undo import UndoStack

#: Samples on a full-frame detector line: frequencies are shown in cycles per line.
LINE = FULL_FRAME[0]
METHODS = {"fft": "Fourier fit (NSClean)", "median": "Median per line",
           "time": "Read-time fit (4 outputs)"}
#: The kw spin box's minimum shows "auto (fc/4)" (kw None), so that 0 (a hard cut, which
#: auto-tune may choose) stays a value of its own.
AUTO_KW = -0.01


@dataclass(frozen=True)
class _Field:
    """How the form shows one parameter of :data:`~app.core.parameters.PARAMETERS` (its
    label, range and help come from there)."""

    name: str  # CleanParams attribute
    unit: str  # as shown
    step: float
    decimals: int
    scale: float = 1.0  # shown value = parameter × scale
    special_low: float | None = None  # a value below the range that means "none"

    @property
    def label(self) -> str:
        return PARAMETERS[self.name].label

    @property
    def low(self) -> float:
        if self.special_low is not None:
            return self.special_low
        return float(PARAMETERS[self.name].low or 0.0) * self.scale

    @property
    def high(self) -> float:
        return float(PARAMETERS[self.name].high or 0.0) * self.scale

    @property
    def tip(self) -> str:
        tip = PARAMETERS[self.name].help
        if self.scale == LINE:
            tip += " Shown in cycles per 2048-pixel detector line (the CLI's value × 2048)."
        if self.special_low is not None:
            tip += " One step below 0 is 'auto' (fc/4)."
        return tip


FIELDS = (
    _Field("fc", " cycles/line", 0.5, 2, LINE),
    _Field("kw", " cycles/line", 0.5, 2, LINE, special_low=AUTO_KW),
    _Field("sigrej", " σ", 0.5, 1),
    _Field("weight_sigma", " px", 1.0, 1),
    _Field("buff_sigma", " lines", 0.1, 2),
    _Field("harmonics", "", 1, 0),
    _Field("output_terms", "", 1, 0),
    _Field("time_ridge", "", 0.5, 1),
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
    history : UndoStack, optional
        Where "Reset to defaults" goes as an undoable command (Edit ▸ Undo).
    """

    def __init__(self, state: SettingsState[CleanParams] | None = None,
                 history: UndoStack | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state if state is not None else SettingsState(CleanParams())
        self.history = history
        self._subarray = False
        form = QFormLayout(self)
        self.method = QComboBox()
        for name, label in METHODS.items():
            self.method.addItem(label, name)
        self.method.setToolTip(PARAMETERS["method"].help)
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
                self.buff = QCheckBox(PARAMETERS["buff"].label)
                self.buff.setToolTip(PARAMETERS["buff"].help)
                self.buff.toggled.connect(self._edited)
                form.addRow(self.buff)
            form.addRow(field.label, spin)
        self.spins["kw"].setSpecialValueText("auto (fc/4)")
        self.by_channel = QCheckBox("One median per readout channel")
        self.by_channel.setToolTip(PARAMETERS["by_channel"].help)
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
        """Back to the published defaults (one undo step when there is a history)."""
        if self.history is not None:
            self.history.set(self.state, self.state.default, "cleaning defaults")
        else:
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
        self.spins["sigrej"].setEnabled(full or in_time)
        # the read-time fit is unweighted unless time_weighted (set by auto-tune or a session)
        self.spins["weight_sigma"].setEnabled(full or (in_time and self.state.value.time_weighted))
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
