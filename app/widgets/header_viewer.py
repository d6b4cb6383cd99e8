"""A window that shows the FITS headers of the loaded files, with a filter."""

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

from app.core.files.products import Product

HDUS = ("Primary", "SCI")


class HeaderViewer(QDialog):
    """Non-modal viewer: choose the file and HDU; type to keep only matching cards."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("FITS headers")
        self.resize(760, 600)
        self._products: list[Product] = []
        self.files = QComboBox()
        self.hdu = QComboBox()
        self.hdu.addItems(HDUS)
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
        for signal in (self.files.currentIndexChanged, self.hdu.currentIndexChanged,
                       self.filter.textChanged):
            signal.connect(self.refresh)

    def set_products(self, products: Sequence[Product], current: int = 0) -> None:
        """Offer the headers of ``products`` and show the one at index ``current``."""
        self._products = list(products)
        self.files.blockSignals(True)
        self.files.clear()
        self.files.addItems([p.path.name for p in self._products])
        self.files.setCurrentIndex(min(max(current, 0), len(self._products) - 1))
        self.files.blockSignals(False)
        self.refresh()

    def refresh(self) -> None:
        """Redraw the text for the chosen file, HDU and filter."""
        index = self.files.currentIndex()
        if not 0 <= index < len(self._products):
            self.text.setPlainText("No files loaded.")
            return
        product = self._products[index]
        header = product.primary_header if self.hdu.currentIndex() == 0 else product.sci_header
        cards = [card.image.rstrip() for card in header.cards]
        needle = self.filter.text().strip().upper()
        if needle:
            cards = [c for c in cards if needle in c.upper()]
        self.text.setPlainText("\n".join(cards))
