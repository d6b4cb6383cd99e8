"""The cleaning controls (parameters, progress, save) and the preview views.

Thin Qt: the form edits a :class:`~app.core.clean.CleanParams`, the views show the arrays
of a :class:`~app.core.engine.incremental.PreviewResult`, and everything else (when to recompute,
saving) is done by :mod:`app.preview_controller`.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QPainterPath, QPen
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGraphicsPathItem,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.clean import CleanParams
from app.core.display.stretch import DisplayModel
from app.core.engine.incremental import PreviewResult
from app.core.files.diagnostics import SUFFIXES
from app.core.state.states import SettingsState
from app.core.state.undo import UndoStack
from app.widgets.image_view import ImageView
from app.widgets.parameter_form import ParameterForm

VIEWS = {"original": "Original", "cleaned": "Cleaned", "model": "Fitted model",
         "residual": "Residual (original − cleaned)"}
#: Views of differences are shown around zero with the same contrast as the image.
DIFFERENCE_VIEWS = ("model", "residual")
UNFIT_COLOR = QColor(255, 40, 40, 90)


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
        display.changed.connect(self._on_display)
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
        # model and residual: their own linear LUT and levels symmetric about zero (the
        # image's log or equalising stretch left a residual as a blank square)
        display = self._display
        difference = self.kind in DIFFERENCE_VIEWS
        self.view.set_lut(display.difference_lut if difference else display.lut)
        self.view.set_levels(display.difference_levels if difference else display.levels)

    def _on_display(self, what: frozenset[str]) -> None:
        if "levels" in what or "lut" in what:
            self._apply_levels()
        if "lut" in what:
            self.view.set_nan_color(self._display.nan_color)


class PreviewViews(QWidget):
    """One preview view, or two side by side with linked zoom and pan."""

    def __init__(self, display: DisplayModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.first = PreviewPane(display, "residual")
        self.second = PreviewPane(display, "cleaned")
        self.second.setVisible(False)
        self._paired = False  # side by side was on once: the panes show the user's choice
        self.side_by_side = QCheckBox("Side by side")
        self.side_by_side.setToolTip("Show two views with linked zoom and pan")
        self.side_by_side.toggled.connect(self._show_second)
        self._display = display
        self.difference_range = QDoubleSpinBox()
        self.difference_range.setRange(0.05, 20.0)
        self.difference_range.setSingleStep(0.25)
        self.difference_range.setDecimals(2)
        self.difference_range.setPrefix("model/residual ± ")
        self.difference_range.setSuffix(" × image")
        self.difference_range.setToolTip(
            "Model and residual are shown linearly, centred on zero, over ± this many times "
            "half the width of the image's display levels (whatever the image's stretch)")
        self.difference_range.setValue(display.settings.difference_range)
        self.difference_range.valueChanged.connect(
            lambda value: display.update(difference_range=float(value)))
        display.changed.connect(self._on_display)
        panes = QHBoxLayout()
        panes.setContentsMargins(0, 0, 0, 0)
        panes.addWidget(self.first, 1)
        panes.addWidget(self.second, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        bar = QHBoxLayout()
        bar.addWidget(self.side_by_side)
        bar.addStretch(1)
        bar.addWidget(self.difference_range)
        layout.addLayout(bar)
        layout.addLayout(panes, 1)

    def _on_display(self, what: frozenset[str]) -> None:
        if "settings" in what:  # e.g. a session opened: show its range
            self.difference_range.blockSignals(True)
            self.difference_range.setValue(self._display.settings.difference_range)
            self.difference_range.blockSignals(False)

    @property
    def panes(self) -> tuple[PreviewPane, PreviewPane]:
        """Both views (the second is hidden unless side by side)."""
        return self.first, self.second

    def _show_second(self, shown: bool) -> None:
        # Linked only while both are on screen: pyqtgraph lines linked views up by their
        # screen geometry, and a hidden pane's stale geometry pushed the single view off
        # the image.
        first, second = self.first.view.view, self.second.view.view
        if not shown:
            second.setXLink(None)
            second.setYLink(None)
        self.second.setVisible(shown)
        if shown and not self._paired:
            # the comparison a first look wants: before | after
            self._paired = True
            self.first.set_kind("original")
            self.second.set_kind("cleaned")
        if shown:
            self.second.view.fit()
            second.setXLink(first)  # linked zoom and pan
            second.setYLink(first)

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
    frameChosen = pyqtSignal(int)  # -1: the working image; k: frame k of a ramp
    saveRequested = pyqtSignal()
    cleanAllRequested = pyqtSignal()

    def __init__(self, cleaning: SettingsState[CleanParams] | None = None,
                 history: UndoStack | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = ParameterForm(cleaning, history)
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
        self.frame_choice = QComboBox()
        self.frame_choice.setToolTip("What the preview cleans: the working image, or one "
                                     "group difference of the loaded ramp")
        self.frame_choice.currentIndexChanged.connect(
            lambda index: self.frameChosen.emit(index - 1))
        self.frame_row = QWidget()
        frame_layout = QHBoxLayout(self.frame_row)
        frame_layout.setContentsMargins(0, 0, 0, 0)
        frame_layout.addWidget(QLabel("Preview:"))
        frame_layout.addWidget(self.frame_choice, 1)
        self.set_frames([])
        status = QHBoxLayout()
        status.addWidget(self.progress, 1)
        status.addWidget(self.cancel_button)
        # the pipeline step's diagnostic products, written beside each cleaned file
        self.save_boxes = {kind: QCheckBox(kind) for kind in ("mask", "background", "noise")}
        extras = QHBoxLayout()
        extras.addWidget(QLabel("Also save:"))
        for kind, box in self.save_boxes.items():
            box.setToolTip(f"Also write the {kind} as the pipeline step does, beside each "
                           f"cleaned file: <name>_{SUFFIXES[kind]}.fits")
            extras.addWidget(box)
        extras.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.clean_all_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addWidget(self.frame_row)
        layout.addLayout(status)
        layout.addWidget(self.message)
        layout.addLayout(extras)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.set_busy(False)

    def diagnostics(self) -> tuple[str, ...]:
        """The diagnostic products ticked under "Also save"."""
        return tuple(kind for kind, box in self.save_boxes.items() if box.isChecked())

    def set_frames(self, labels: list[str]) -> None:
        """Offer the working image and these frames (shown only when there are frames)."""
        self.frame_choice.blockSignals(True)
        self.frame_choice.clear()
        self.frame_choice.addItem("Working image (draft rate)")
        self.frame_choice.addItems(labels)
        self.frame_choice.blockSignals(False)
        self.frame_row.setVisible(bool(labels))

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
