"""The Mask dock: layer list (active layer, visibility, opacity), tools, brush size, readout.

A thin view: it shows the state of :class:`~app.core.mask.layers.MaskLayers` (through
:class:`~app.core.mask.model.MaskModel`) and of :class:`~app.widgets.paint_tool.PaintTool`
and sends the user's choices back to them. Tool buttons share the menu's QActions, so
buttons, menu items and shortcuts can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.mask.layers import MaskLayers
from app.core.mask.model import MaskModel
from app.widgets.paint_tool import HINTS, MAX_SIZE, MIN_SIZE, PaintTool

#: (style name, label, key that selects it or "") in display order.
ROWS = (
    ("light", "Light (signal)", "1"),
    ("dark", "Dark (background)", "2"),
    ("exclude", "Exclude", "3"),
    ("unusable", "Unusable / border", ""),
)


class LayersPanel(QWidget):
    """Controls for painting: which layer, what is shown, which tool, how big."""

    def __init__(
        self, masks: MaskModel, tool: PaintTool, tool_actions: Mapping[str, QAction],
        extra_actions: Mapping[str, QAction] | None = None, parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.masks, self.tool = masks, tool
        self._syncing = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        box = QGroupBox("Layers")
        grid = QGridLayout(box)
        grid.setColumnStretch(3, 1)
        self._active = QButtonGroup(self)
        self.radios: dict[str, QRadioButton] = {}
        self.visible: dict[str, QCheckBox] = {}
        self.opacity: dict[str, QSlider] = {}
        self._swatches: dict[str, QLabel] = {}
        for row, (name, label, key) in enumerate(ROWS):
            if key:
                radio = QRadioButton()
                radio.setToolTip(f"Paint on this layer ({key})")
                radio.toggled.connect(lambda on, n=name: on and self.tool.set_layer(n))
                self._active.addButton(radio)
                self.radios[name] = radio
                grid.addWidget(radio, row, 0)
            check = QCheckBox()
            check.setToolTip("Show this layer" + (" (V toggles the active layer)" if key else ""))
            check.toggled.connect(lambda on, n=name: self._set_style(n, visible=on))
            self.visible[name] = check
            swatch = QLabel()
            swatch.setFixedSize(14, 14)
            self._swatches[name] = swatch
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, 100)
            slider.setToolTip("Opacity")
            slider.setMinimumWidth(50)
            slider.valueChanged.connect(lambda v, n=name: self._set_style(n, opacity=v / 100))
            self.opacity[name] = slider
            grid.addWidget(check, row, 1)
            grid.addWidget(swatch, row, 2)
            grid.addWidget(QLabel(f"{label}  {key}".rstrip()), row, 3)
            grid.addWidget(slider, row, 4)
        dark_row = QHBoxLayout()
        self.dark_state = QLabel()
        dark_row.addWidget(self.dark_state, 1)
        if extra_actions and "computed" in extra_actions:
            button = QToolButton()
            button.setDefaultAction(extra_actions["computed"])
            dark_row.addWidget(button)
        grid.addLayout(dark_row, len(ROWS), 0, 1, 5)
        layout.addWidget(box)

        tools = QGroupBox("Tools")
        tool_grid = QGridLayout(tools)
        self.tool_buttons: dict[str, QToolButton] = {}
        for i, (name, action) in enumerate(tool_actions.items()):
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            self.tool_buttons[name] = button
            tool_grid.addWidget(button, i // 3, i % 3)
        size_row = QHBoxLayout()
        size_row.addWidget(QLabel("Brush size"))
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(int(MIN_SIZE), int(MAX_SIZE))
        self.size_spin = QSpinBox()
        self.size_spin.setRange(int(MIN_SIZE), int(MAX_SIZE))
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Brush diameter in image pixels ([ and ] change it)")
        self.size_slider.setToolTip(self.size_spin.toolTip())
        self.size_slider.valueChanged.connect(self._size_from_widget)
        self.size_spin.valueChanged.connect(self._size_from_widget)
        size_row.addWidget(self.size_slider, 1)
        size_row.addWidget(self.size_spin)
        tool_grid.addLayout(size_row, 3, 0, 1, 3)
        self.hint = QLabel(HINTS[tool.tool])
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: palette(mid);")
        tool_grid.addWidget(self.hint, 4, 0, 1, 3)
        layout.addWidget(tools)

        self.readout = QLabel()
        self.readout.setWordWrap(True)
        layout.addWidget(self.readout)
        layout.addStretch(1)

        tool.hint.connect(lambda text: self.hint.setText(text or HINTS[tool.tool]))
        tool.layerChanged.connect(self._show_layer)
        tool.sizeChanged.connect(self._show_size)
        masks.replaced.connect(lambda _layers: self.sync())
        masks.styled.connect(self._sync_styles)
        masks.changed.connect(lambda _box: self._sync_counts())
        self._show_layer(tool.layer)
        self._show_size(tool.size)
        self.sync()

    # --- model → widgets ------------------------------------------------------------
    def sync(self) -> None:
        """Show the current layers' styles and counts (after new layers)."""
        self.setEnabled(self.masks.layers is not None)
        self._sync_styles()
        self._sync_counts()

    def _sync_styles(self) -> None:
        layers = self.masks.layers
        if layers is None:
            return
        self._syncing = True
        try:
            for name, _label, _key in ROWS:
                style = layers.styles[name]
                self.visible[name].setChecked(style.visible)
                self.opacity[name].setValue(round(style.opacity * 100))
                r, g, b = style.color
                self._swatches[name].setStyleSheet(
                    f"background: rgb({r},{g},{b}); border: 1px solid #888;"
                )
        finally:
            self._syncing = False

    def _sync_counts(self) -> None:
        layers = self.masks.layers
        if layers is None:
            self.readout.setText("No image: open one to paint a mask.")
            self.dark_state.setText("")
            return
        fraction = layers.background_fraction()
        count = round(fraction * layers.shape[0] * layers.shape[1])
        self.readout.setText(
            f"Background (fitted): {100 * fraction:.1f} %\n{count:,} pixels".replace(",", " ")
        )
        self.dark_state.setText(
            "Dark: painted" if layers.dark_edited else "Dark: computed live"
        )

    def _show_layer(self, name: str) -> None:
        if name in self.radios and not self.radios[name].isChecked():
            self.radios[name].setChecked(True)

    def _show_size(self, size: float) -> None:
        self._syncing = True
        try:
            self.size_slider.setValue(round(size))
            self.size_spin.setValue(round(size))
        finally:
            self._syncing = False

    # --- widgets → model ------------------------------------------------------------
    def _set_style(self, name: str, **style: float | bool) -> None:
        layers: MaskLayers | None = self.masks.layers
        if not self._syncing and layers is not None:
            layers.set_style(name, **style)  # type: ignore[arg-type]

    def _size_from_widget(self, value: int) -> None:
        if not self._syncing:
            self.tool.set_size(value)
