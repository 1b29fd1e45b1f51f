"""Breakpoints on MSR indices: stop the vCPU before any guest RDMSR/WRMSR of them."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QListWidget, QPushButton, QWidget

from workbench.gui.vcpu.hexedit import HexLineEdit
from workbench.kvm.msrs.catalogue import msr_label


class MsrBreakpoints(QWidget):
    toggled = Signal(object, bool)  # MSR index (u32: not a C int), enable

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.index = HexLineEdit(32, "MSR index (hex)")
        self.add_button = QPushButton("Add")
        self.remove_button = QPushButton("Remove")
        self.add_button.clicked.connect(self._add)
        self.index.returnPressed.connect(self._add)
        self.remove_button.clicked.connect(self._remove)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.list, 1, 0, 1, 3)
        grid.addWidget(self.index, 2, 0)
        grid.addWidget(self.add_button, 2, 1)
        grid.addWidget(self.remove_button, 2, 2)
        self.indices: list[int] = []

    def show_indices(self, indices: frozenset[int]) -> None:
        self.indices = sorted(indices)
        self.list.clear()
        self.list.addItems([msr_label(i) for i in self.indices])

    def _add(self) -> None:
        index = self.index.value()
        if index is not None and index not in self.indices:
            self.toggled.emit(index, True)

    def _remove(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < len(self.indices):
            self.toggled.emit(self.indices[row], False)
