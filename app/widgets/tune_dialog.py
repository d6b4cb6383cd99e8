"""Auto-tune widgets: the buttons in the Cleaning panel and the dialog with score curves.

Thin Qt: curves arrive as plain :class:`Curve` records (titles, tick labels, numbers);
running the cross-validation and applying its result is :mod:`app.tune_controller`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

#: Plots per row in the dialog.
COLUMNS = 3
CURVE_PEN = pg.mkPen((120, 180, 255), width=2)
CHOSEN_BRUSH = pg.mkBrush(255, 200, 0)


@dataclass
class Curve:
    """One stage of the search, ready to draw.

    Attributes
    ----------
    title : str
        Parameter and unit.
    labels : list of str
        Tick label of each candidate, in grid order.
    scores, errors : list of float
        Cross-validated score and its error bar (one standard error) per candidate.
    chosen : int
        Index of the value kept.
    """

    title: str
    labels: list[str]
    scores: list[float]
    errors: list[float]
    chosen: int


class TuneControls(QWidget):
    """The "Auto-tune…" button with a one-line note (Edit ▸ Undo takes a tune back).

    Signals
    -------
    tuneRequested()
    """

    tuneRequested = pyqtSignal()

    TUNE_TIP = ("Choose fc, roll-off, buffing, weight σ and outlier rejection by "
                "cross-validation: fit on most background samples, score the prediction "
                "on held-out blocks.")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tune_button = QPushButton("Auto-tune…")
        self.tune_button.setToolTip(self.TUNE_TIP)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setVisible(False)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.tune_button, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.note)
        self.tune_button.clicked.connect(self.tuneRequested)

    def set_tunable(self, reason: str | None, running: bool = False) -> None:
        """Enable Auto-tune, or disable it with ``reason`` as its tooltip."""
        self.tune_button.setEnabled(reason is None and not running)
        self.tune_button.setToolTip(self.TUNE_TIP if reason is None
                                    else f"Not available: {reason}.")

    def set_note(self, text: str) -> None:
        """A short line under the buttons (hidden when empty)."""
        self.note.setText(text)
        self.note.setVisible(bool(text))


class TuneDialog(QDialog):
    """Progress with Cancel while tuning; afterwards the score curves.

    Signals
    -------
    cancelRequested()
    """

    cancelRequested = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Auto-tune cleaning parameters")
        self.resize(900, 600)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setMinimumHeight(260)
        self.buttons = QDialogButtonBox()
        self.cancel_button = self.buttons.addButton("Cancel",
                                                    QDialogButtonBox.ButtonRole.RejectRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.close_button.clicked.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.progress)
        layout.addWidget(self.plots, 1)
        layout.addWidget(self.buttons)
        self.set_running(False)

    def set_running(self, running: bool) -> None:
        """Progress and Cancel while running; Close afterwards."""
        self.progress.setVisible(running)
        self.progress.setValue(0)
        self.cancel_button.setVisible(running)
        self.close_button.setVisible(not running)
        if running:
            self.show_curves([])

    def set_progress(self, fraction: float, message: str) -> None:
        """Progress bar and what is being scored."""
        self.progress.setValue(int(1000 * fraction))
        self.progress.setFormat(f"{message}  %p%")

    def show_message(self, text: str, problem: bool = False) -> None:
        """The text above the plots (red for problems)."""
        self.message.setStyleSheet("color: #e05050;" if problem else "")
        self.message.setText(text)

    def show_curves(self, curves: list[Curve]) -> None:
        """One small plot per stage: score ± error per candidate, the kept value in gold."""
        self.plots.clear()
        for i, curve in enumerate(curves):
            plot = self.plots.addPlot(row=i // COLUMNS, col=i % COLUMNS, title=curve.title)
            plot.setMenuEnabled(False)
            plot.showGrid(y=True, alpha=0.25)
            plot.setLabel("left", "score")
            x = list(range(len(curve.scores)))
            plot.getAxis("bottom").setTicks([list(zip(x, curve.labels, strict=True))])
            plot.addItem(pg.ErrorBarItem(x=np.asarray(x, float),
                                         y=np.asarray(curve.scores, float),
                                         height=2 * np.asarray(curve.errors, float),
                                         beam=0.2, pen=pg.mkPen(200, 200, 200)))
            plot.plot(x, curve.scores, pen=CURVE_PEN, symbol="o", symbolSize=6)
            plot.plot([curve.chosen], [curve.scores[curve.chosen]], pen=None, symbol="o",
                      symbolSize=11, symbolBrush=CHOSEN_BRUSH)
            plot.setXRange(-0.5, len(x) - 0.5, padding=0)
