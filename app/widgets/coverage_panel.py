"""The background-coverage view: a summary, the list of starved line ranges, and bands.

Thin Qt: rows arrive as text with an opaque payload; :mod:`app.coverage_controller`
computes the coverage and decides what a row means and where a click goes.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QPen
from PyQt6.QtWidgets import QCheckBox, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from app.widgets.preview_panel import UnfitLinesItem

#: Lines that cannot be fit at all (magenta), lines too clustered for the fit in use
#: (orange) and lines where the published fit is unstable (cyan).
UNFIT_RGBA = (240, 60, 240, 220)
SPARSE_RGBA = (255, 160, 0, 200)
PUBLISHED_RGBA = (0, 200, 230, 200)
PROBLEM_COLORS = {"unfit": QColor(230, 80, 230), "sparse": QColor(255, 170, 40),
                  "published": QColor(40, 200, 230)}
#: Above the mask overlay, below the preview's red unfit bands (z 30).
BANDS_Z = 25.0


class ColumnBands(UnfitLinesItem):
    """Hatched, outlined bands over whole DMS columns, in a chosen colour (hatched, so
    they stay apart from the preview's solid red bands and the mask colours below)."""

    def __init__(self, rgba: tuple[int, int, int, int]) -> None:
        super().__init__()
        color = QColor(*rgba[:3])
        self.setBrush(QBrush(color, Qt.BrushStyle.BDiagPattern))
        edge = QPen(color, 0)  # cosmetic: one screen pixel whatever the zoom
        edge.setColor(QColor(*rgba))
        self.setPen(edge)


class CoveragePanel(QWidget):
    """Summary text and a list of line ranges; a click asks to show a range.

    Signals
    -------
    rowActivated(object)
        The payload of the clicked row.
    highlightToggled(bool)
        The "highlight on the image" check box.
    """

    rowActivated = pyqtSignal(object)
    highlightToggled = pyqtSignal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("Load an image to see how well the mask covers each line")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setToolTip(
            "NSClean fits every detector line (one DMS column) through its background "
            "samples. A line with too few samples is not cleaned; on a line whose samples "
            "are too clustered the fit in use removes only the mean level. Apart from "
            "that: lines where the published fit (JWST pipeline, NSClean 1.x) is unstable, "
            "should the mask be used there. Free some background on them.")
        self.highlight = QCheckBox("Highlight these lines on the image")
        self.highlight.setChecked(True)
        self.highlight.toggled.connect(self.highlightToggled)
        self.rows = QListWidget()
        self.rows.setToolTip("Click a range to centre the image on it")
        self.rows.itemClicked.connect(self._clicked)
        self.rows.itemActivated.connect(self._clicked)
        legend = QLabel("<span style='color:#e650e6'>■</span> too few samples: not cleaned  "
                        "<span style='color:#ffaa28'>■</span> too clustered for our fit  "
                        "<span style='color:#28c8e6'>■</span> published fit unstable")
        legend.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.highlight)
        layout.addWidget(legend)
        layout.addWidget(self.rows, 1)

    def set_summary(self, text: str, problem: bool = False) -> None:
        """The text above the list (red when some lines cannot be fit)."""
        self.summary.setStyleSheet("color: #e05050;" if problem else "")
        self.summary.setText(text)

    def set_rows(self, rows: list[tuple[str, str, str, object]]) -> None:
        """Rows of ``(text, tooltip, kind, payload)``; kind is a key of
        :data:`PROBLEM_COLORS`."""
        self.rows.clear()
        for text, tip, kind, payload in rows:
            item = QListWidgetItem(text)
            item.setToolTip(tip)
            item.setForeground(QBrush(PROBLEM_COLORS[kind]))
            item.setData(Qt.ItemDataRole.UserRole, payload)
            self.rows.addItem(item)

    def row_texts(self) -> list[str]:
        """The texts of the rows shown (for tests and screen readers)."""
        return [self.rows.item(i).text() for i in range(self.rows.count())]

    def _clicked(self, item: QListWidgetItem) -> None:
        self.rowActivated.emit(item.data(Qt.ItemDataRole.UserRole))
