"""The memory view (gdb's `x/256xb`): guest memory in hex and ASCII at an address or a
register expression (`rip`, `rsp+0x10`, `0x1000`), re-read at every step so it follows
the registers; bytes the current step's command changed are highlighted.
"""

from __future__ import annotations

from PySide6.QtGui import QBrush, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.controller import SessionController
from workbench.gui.vcpu.registers import CHANGED
from workbench.gui.widgets import ReadsWhenShown, show_vcpu_choice

ROW_BYTES = 16
ROWS = 16
ASCII = ROW_BYTES  # the column after the hex bytes


def printable(data: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)


class MemoryView(ReadsWhenShown):
    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.expression = QLineEdit("rsp", placeholderText="rip, rsp+0x10, 0x1000")
        self.expression.setToolTip("An address: registers and numbers joined by + or -")
        self.expression.returnPressed.connect(self.refresh)
        self.expression.editingFinished.connect(self.refresh)
        self.vcpu = QSpinBox(minimum=0, maximum=0, prefix="vCPU ")  # hidden with one vCPU
        self.vcpu.valueChanged.connect(self.refresh)
        self.error = QLabel(styleSheet="color: #d02020;", wordWrap=True)
        self.error.hide()
        self.table = QTableWidget(ROWS, ROW_BYTES + 1)
        self.table.setHorizontalHeaderLabels([f"{i:x}" for i in range(ROW_BYTES)] + ["ascii"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.table.setFont(mono)
        self._bold = QFont(mono)
        self._bold.setBold(True)
        width = self.table.fontMetrics().horizontalAdvance("000")
        for column in range(ROW_BYTES):
            self.table.setColumnWidth(column, width)
        self.table.setColumnWidth(ASCII, self.table.fontMetrics().horizontalAdvance("0" * 18))
        for row in range(ROWS):
            for column in range(ROW_BYTES + 1):
                self.table.setItem(row, column, QTableWidgetItem())
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 4)
        head = QHBoxLayout()
        head.addWidget(QLabel("address"))
        head.addWidget(self.expression, 1)
        head.addWidget(self.vcpu)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(head)
        layout.addWidget(self.error)
        layout.addWidget(self.table, 1)
        self.address: int | None = None
        self.changed: set[int] = set()  # addresses the current step changed
        controller.changed.connect(self.refresh)

    def show_address(self, text: str) -> None:
        self.expression.setText(text)
        self.refresh()

    def _read(self) -> None:
        session = self.controller.session
        count = 0 if session is None else session.vcpu_count
        show_vcpu_choice(self.vcpu, count)
        if not count:
            self._clear("no vCPU in this scenario")
            return
        vcpu = self.vcpu.value()
        try:
            address = session.resolve_address(vcpu, self.expression.text())
            size = min(ROWS * ROW_BYTES, session.ram_size - address)
            data = session.read_memory(vcpu, address, max(size, 1))
        except ValueError as exc:
            self._clear(str(exc))
            return
        before = session.memory_before(vcpu, address, len(data))
        self.error.hide()
        self.address = address
        self.changed = set() if before is None else {
            address + i for i, (new, old) in enumerate(zip(data, before, strict=True))
            if new != old}
        self._fill(address, data)

    def _clear(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()
        self.address, self.changed = None, set()
        self._fill(0, b"")

    def _fill(self, address: int, data: bytes) -> None:
        labels = []
        for row in range(ROWS):
            start = row * ROW_BYTES
            chunk = data[start:start + ROW_BYTES]
            labels.append(f"{address + start:#010x}" if chunk else "")
            for column in range(ROW_BYTES):
                item = self.table.item(row, column)
                hot = address + start + column in self.changed and column < len(chunk)
                item.setText(f"{chunk[column]:02x}" if column < len(chunk) else "")
                item.setBackground(QBrush(CHANGED) if hot else QBrush())
                item.setFont(self._bold if hot else self.table.font())
            self.table.item(row, ASCII).setText(printable(chunk))
        self.table.setVerticalHeaderLabels(labels)

    def byte_item(self, offset: int) -> QTableWidgetItem:
        """The cell of the byte `offset` bytes past the shown address."""
        return self.table.item(offset // ROW_BYTES, offset % ROW_BYTES)
