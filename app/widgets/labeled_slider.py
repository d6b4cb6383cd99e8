"""A horizontal slider with a spin box showing its value in real units.

superqt's QLabeledDoubleSlider does this too, but importing superqt costs ~0.35 s (it
loads all its widgets and promotes every Qt enum through qtpy), a sixth of our start-up
budget, for two sliders.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QSlider, QWidget


class LabeledDoubleSlider(QWidget):
    """Slider over ``[low, high]`` in steps of ``step``, with an editable spin box.

    Signals
    -------
    valueChanged(float)
        The value changed (by the slider, the spin box or :meth:`setValue`).
    """

    valueChanged = pyqtSignal(float)

    def __init__(self, low: float, high: float, step: float, decimals: int,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._low, self._step = low, step
        self._value = low  # the last value reported: the spin box may already hold a new one
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, round((high - low) / step))
        self.spin = QDoubleSpinBox()
        self.spin.setRange(low, high)
        self.spin.setSingleStep(step)
        self.spin.setDecimals(decimals)
        self.spin.setValue(low)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self.slider.valueChanged.connect(lambda tick: self.setValue(low + tick * step))
        self.spin.valueChanged.connect(self.setValue)

    def value(self) -> float:
        """The current value (the spin box's, which holds the full precision)."""
        return self.spin.value()

    def setValue(self, value: float) -> None:
        """Move both controls to ``value`` (clipped to the range); emit once if it changed."""
        for widget in (self.spin, self.slider):
            widget.blockSignals(True)
        self.spin.setValue(value)
        self.slider.setValue(round((self.spin.value() - self._low) / self._step))
        for widget in (self.spin, self.slider):
            widget.blockSignals(False)
        if self.spin.value() != self._value:
            self._value = self.spin.value()
            self.valueChanged.emit(self._value)

    def setToolTip(self, text: str | None) -> None:
        """Tool tip on both controls."""
        super().setToolTip(text)
        self.slider.setToolTip(text)
        self.spin.setToolTip(text)
