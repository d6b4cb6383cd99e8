"""A window that shows the full FITS headers of every HDU of the loaded files, with a filter."""

from __future__ import annotations

from collections.abc import Sequence

from PyQt6.QtGui import QFontDatabase
from PyQt6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.core.files.products import Product, hdu_headers


class HeaderViewer(QDialog):
    """Non-modal viewer: choose the file and HDU (every one the file holds: SCI, ERR, DQ,
    TRUTH_* ...); type to keep only matching cards."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("FITS headers")
        self.resize(760, 600)
        self._products: list[Product] = []
        self.files = QComboBox()
        self.hdu = QComboBox()
        self.hdu.setMinimumContentsLength(14)
        self._headers: list = []  # (name, header) of the file shown
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter cards (e.g. DETECTOR, READPATT, NINTS)")
        self.filter.setClearButtonEnabled(True)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        top = QHBoxLayout()
        top.addWidget(self.files, 1)
        top.addWidget(self.hdu)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.filter)
        layout.addWidget(self.text, 1)
        self.files.currentIndexChanged.connect(self._file_chosen)
        for signal in (self.hdu.currentIndexChanged, self.filter.textChanged):
            signal.connect(self.refresh)

    def set_products(self, products: Sequence[Product], current: int = 0) -> None:
        """Offer the headers of ``products`` and show the one at index ``current``."""
        self._products = list(products)
        self.files.blockSignals(True)
        self.files.clear()
        self.files.addItems([p.path.name for p in self._products])
        self.files.setCurrentIndex(min(max(current, 0), len(self._products) - 1))
        self.files.blockSignals(False)
        self._file_chosen()

    def _file_chosen(self) -> None:
        """List the HDUs of the chosen file, keeping the chosen HDU's name if it has one."""
        index = self.files.currentIndex()
        name = self.hdu.currentText().split(" ", 1)[-1]
        self._headers = hdu_headers(self._products[index]) if 0 <= index < len(
            self._products) else []
        names = [n for n, _h in self._headers]
        self.hdu.blockSignals(True)
        self.hdu.clear()
        self.hdu.addItems([f"{i} {n}" for i, n in enumerate(names)])
        self.hdu.setCurrentIndex(names.index(name) if name in names else 0)
        self.hdu.blockSignals(False)
        self.refresh()

    def refresh(self) -> None:
        """Redraw the text for the chosen file, HDU and filter."""
        hdu = self.hdu.currentIndex()
        if not 0 <= hdu < len(self._headers):
            self.text.setPlainText("No files loaded.")
            return
        header = self._headers[hdu][1]
        cards = [card.image.rstrip() for card in header.cards]
        needle = self.filter.text().strip().upper()
        if needle:
            cards = [c for c in cards if needle in c.upper()]
        self.text.setPlainText("\n".join(cards))
