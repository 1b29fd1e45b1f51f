"""A line edit for hex numbers up to 64 bits: QSpinBox stops at 2^31, MSR data does not."""

from __future__ import annotations

from PySide6.QtCore import QRegularExpression
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import QLineEdit, QWidget


class HexLineEdit(QLineEdit):
    def __init__(self, bits: int = 64, placeholder: str = "0x0",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        digits = bits // 4
        self.setValidator(QRegularExpressionValidator(
            QRegularExpression(f"^(0[xX])?[0-9a-fA-F]{{1,{digits}}}$"), self))
        self.setPlaceholderText(placeholder)

    def value(self) -> int | None:
        """The number typed, None while the text is empty or incomplete."""
        text = self.text().strip()
        if not self.hasAcceptableInput():
            return None
        return int(text, 16)

    def set_value(self, value: int) -> None:
        self.setText(f"{value:#x}")
