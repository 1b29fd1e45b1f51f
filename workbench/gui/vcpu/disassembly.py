"""The vCPU's program as capstone lists it, the current RIP marked, breakpoints in a gutter.

Clicking the gutter (or "Toggle breakpoint" in the context menu) asks for a breakpoint
at that instruction; the panel turns the request into an undoable command.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QResizeEvent
from PySide6.QtWidgets import QAbstractItemView, QMenu, QTableWidget, QTableWidgetItem

from workbench.kvm.guest.assembler import Instruction

CURRENT = QColor("#c8e6ff")
BREAK_MARK = "●"
GUTTER, ADDRESS, BYTES, TEXT = range(4)


class DisassemblyView(QTableWidget):
    breakpoint_toggled = Signal(object, bool)  # address, enable

    def __init__(self) -> None:
        super().__init__(0, 4)
        self.setHorizontalHeaderLabels(["", "address", "bytes", "instruction"])
        self.verticalHeader().hide()
        self.horizontalHeader().setStretchLastSection(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWordWrap(False)  # one line per instruction; long bytes are elided
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._context_menu)
        self.cellClicked.connect(self._on_click)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.setFont(mono)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.setColumnWidth(GUTTER, self._width("●"))
        self.setColumnWidth(ADDRESS, self._width("0x00000000"))
        self._text_width = 0  # the widest instruction's
        self.addresses: list[int] = []
        self.breakpoints: frozenset[int] = frozenset()
        self.rip = -1

    def set_listing(self, listing: Sequence[Instruction]) -> None:
        self.setRowCount(len(listing))
        self.addresses = [insn.address for insn in listing]
        for row, insn in enumerate(listing):
            cells = ("", f"{insn.address:#010x}", insn.raw.hex(" "), insn.text)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == GUTTER:
                    item.setForeground(QBrush(QColor("#d02020")))
                    item.setToolTip("click: toggle breakpoint")
                self.setItem(row, column, item)
        self.breakpoints, self.rip = frozenset(), -1
        self._text_width = max((self._width(insn.text) for insn in listing), default=0)
        self._fit_columns()

    def _width(self, text: str) -> int:
        return self.fontMetrics().horizontalAdvance(text) + 14  # the cell's margins

    def _fit_columns(self) -> None:
        """Address and instruction first, whole; the bytes get what width is left (none in
        a narrow dock: then the column hides rather than clip the instruction)."""
        room = (self.viewport().width() - self.columnWidth(GUTTER) - self.columnWidth(ADDRESS)
                - self._text_width)
        self.setColumnHidden(BYTES, room < self._width("00 00"))
        self.setColumnWidth(BYTES, max(room, 0))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit_columns()

    def set_state(self, rip: int, breakpoints: frozenset[int]) -> None:
        """Mark the instruction at `rip` and the breakpoint gutter."""
        self.rip, self.breakpoints = rip, breakpoints
        current_row = -1
        for row, address in enumerate(self.addresses):
            self.item(row, GUTTER).setText(BREAK_MARK if address in breakpoints else "")
            brush = QBrush(CURRENT) if address == rip else QBrush()
            if address == rip:
                current_row = row
            for column in range(self.columnCount()):
                self.item(row, column).setBackground(brush)
        if current_row >= 0:
            # Follow RIP vertically only: the address column stays in view.
            self.scrollTo(self.model().index(current_row, GUTTER))
            self.horizontalScrollBar().setValue(0)

    def current_row(self) -> int:
        return self.addresses.index(self.rip) if self.rip in self.addresses else -1

    def toggle(self, row: int) -> None:
        address = self.addresses[row]
        self.breakpoint_toggled.emit(address, address not in self.breakpoints)

    def _on_click(self, row: int, column: int) -> None:
        if column == GUTTER:
            self.toggle(row)

    def _context_menu(self, pos: QPoint) -> None:
        row = self.rowAt(pos.y())
        if row < 0:
            return
        menu = QMenu(self)
        menu.addAction("Toggle breakpoint", lambda: self.toggle(row))
        menu.popup(self.viewport().mapToGlobal(pos))
