"""The VFIO panel's view of a capture: the config-space accesses a VMM's trace recorded."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit


class CapturedAccesses(QPlainTextEdit):
    """Read-only list; `show_lines([])` leaves a hint instead of an empty box."""

    def __init__(self) -> None:
        super().__init__(readOnly=True)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setPlaceholderText("Open a QEMU -trace log of pci_cfg_* or vfio_pci_*_config "
                                "to list a device's traced config-space accesses here.")

    def show_lines(self, lines: list[str]) -> None:
        self.setPlainText("\n".join(lines))
