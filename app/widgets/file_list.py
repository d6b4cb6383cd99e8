"""The panel that lists the loaded products."""

from __future__ import annotations

from collections.abc import Sequence

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.files.products import Product
from app.core.orientation import naxis_text

#: Rows the file table always shows.
MIN_ROWS = 4
COLUMNS = ("File", "DETECTOR", "EXP_TYPE", "Shape", "Ints")


class FileList(QWidget):
    """Table of the loaded files: name, DETECTOR, EXP_TYPE, shape, integrations.

    Signals
    -------
    removeRequested(list)
        Row indices the user asked to remove (Remove button or the Delete key).
    headerRequested(int)
        A row was double-clicked: show that file's header.
    """

    removeRequested = pyqtSignal(list)
    headerRequested = pyqtSignal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        # at least four files in view (a dock sized for two hid the rest behind a scroll bar)
        rows = self.table.verticalHeader().defaultSectionSize()
        self.table.setMinimumHeight(self.table.horizontalHeader().sizeHint().height()
                                    + MIN_ROWS * rows + 2 * self.table.frameWidth() + 2)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.cellDoubleClicked.connect(lambda row, _col: self.headerRequested.emit(row))
        self.summary = QLabel("No files loaded")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected files from the stack (Delete)")
        self.remove_button.clicked.connect(self._remove_selected)
        QShortcut(QKeySequence.StandardKey.Delete, self.table, self._remove_selected)
        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table)
        layout.addLayout(row)
        self.set_products([])

    def set_products(self, products: Sequence[Product]) -> None:
        """Show ``products``, one row each."""
        self.table.setRowCount(len(products))
        for row, p in enumerate(products):
            cells = (p.path.name, p.detector or "?", p.exp_type or "?", naxis_text(p.shape),
                     str(p.nints))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(str(p.path))
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(row, col, item)
        frames = sum(p.nints for p in products)
        self.summary.setText(
            f"{len(products)} file(s), {frames} integration(s)" if products else "No files loaded"
        )
        self.remove_button.setEnabled(bool(products))

    def _remove_selected(self) -> None:
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        if rows:
            self.removeRequested.emit(rows)
