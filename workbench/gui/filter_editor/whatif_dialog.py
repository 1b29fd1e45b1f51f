""""What if" for an open capture: its accesses replayed under the edited filter, with a
profile and vendor to choose, and the differences from what the real kernel did."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.kvm.profiles import PROFILES

AS_CAPTURED = "as captured"
Replay = Callable[[str | None, str | None], list[str]]   # (profile, vendor) -> report lines


class WhatIfDialog(QDialog):
    def __init__(self, replay: Replay, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("What if")
        self.replay_fn = replay
        self.profile_box = QComboBox()
        self.profile_box.addItems([AS_CAPTURED, *PROFILES])
        self.vendor_box = QComboBox()
        self.vendor_box.addItems([AS_CAPTURED, "intel", "amd", "pvm"])
        self.replay_button = QPushButton("Replay")
        self.text = QPlainTextEdit(readOnly=True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        row = QHBoxLayout()
        for label, box in (("Profile", self.profile_box), ("Vendor", self.vendor_box)):
            row.addWidget(QLabel(label))
            row.addWidget(box)
        row.addStretch(1)
        row.addWidget(self.replay_button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("The capture's MSR accesses replayed on the sim under the "
                                "filter being edited; each access the kernel would handle "
                                "differently is listed."))
        layout.addLayout(row)
        layout.addWidget(self.text, 1)
        self.resize(760, 420)
        self.replay_button.clicked.connect(self.replay)

    def _choice(self, box: QComboBox) -> str | None:
        return None if box.currentText() == AS_CAPTURED else box.currentText()

    def replay(self) -> None:
        try:
            lines = self.replay_fn(self._choice(self.profile_box), self._choice(self.vendor_box))
        except ValueError as error:     # SessionError: the replay could not run
            lines = [str(error)]
        self.text.setPlainText("\n".join(lines))
