"""Parse and edit MSR-sized numbers without ever truncating them.

Kernel fields are u32 (and MSR values u64), but the user may type anything: a value that
does not fit must still reach the kernel-like validation, which names the failing field.
So we parse into Python ints (unbounded), and only reject text that is not a number at all.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QLineEdit, QWidget

from workbench import values

_PREFIX = re.compile(r"-?(0[xX][0-9a-fA-F_]*|[0-9_]*)")


def parse_int(text: str) -> int | None:
    """What workbench.values.parse_int reads (hex or decimal, any size); None if not a number."""
    try:
        return values.parse_int(text)
    except ValueError:
        return None


def format_int(value: int, hex_digits: int = 0) -> str:
    """Hex for display; negative values keep their sign so nothing is wrapped silently."""
    sign = "-" if value < 0 else ""
    return f"{sign}0x{abs(value):0{hex_digits}x}"


class MsrNumberValidator(QValidator):
    """Accepts what parse_int accepts; a half-typed prefix ("0x", "-") is Intermediate."""

    def validate(self, text: str, pos: int) -> object:
        stripped = text.strip()
        if parse_int(stripped) is not None:
            return QValidator.State.Acceptable, text, pos
        if _PREFIX.fullmatch(stripped):
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Invalid, text, pos


class MsrInput(QLineEdit):
    """A line edit for a 64-bit-or-larger number in hex or decimal."""

    valueEdited = Signal(object)  # int; emitted when the user finishes a valid edit

    def __init__(self, value: int = 0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setValidator(MsrNumberValidator(self))
        self.setPlaceholderText("0x… or decimal")
        self.setValue(value)
        self.editingFinished.connect(self._finished)

    def value(self) -> int | None:
        return parse_int(self.text())

    def setValue(self, value: int) -> None:
        self.setText(format_int(value))

    def _finished(self) -> None:
        value = self.value()
        if value is not None:
            self.valueEdited.emit(value)
