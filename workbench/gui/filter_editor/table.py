"""The ranges table: one row per `kvm_msr_filter_range`, in the kernel's priority order.

Base and nmsrs are kept as the text the user typed (hex or decimal, any size), so a value
the kernel will reject stays on screen until it is fixed; only non-numbers are refused.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from workbench.gui.filter_editor.draft import READ, WRITE, Draft, DraftRange
from workbench.gui.msr_input import MsrInput, format_int, parse_int
from workbench.kvm.msrs.catalogue import msr_label

BASE, NMSRS, READ_COL, WRITE_COL, COVERS = range(5)
COLUMN_FIELDS = {"base": BASE, "nmsrs": NMSRS, "flags": READ_COL, "bitmap": COVERS}
_ERROR_ROW = QColor("#f8d7da")
_ERROR_CELL = QColor("#e06666")


class _NumberDelegate(QStyledItemDelegate):
    """Edits base/nmsrs with MsrInput, so only numbers (of any size) get committed."""

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem,  # noqa: N802
                     index: QModelIndex | QPersistentModelIndex) -> QWidget:
        return MsrInput(parent=parent)

    def setEditorData(self, editor: QWidget, index) -> None:  # noqa: N802
        editor.setText(index.data() or "")

    def setModelData(self, editor: QWidget, model, index) -> None:  # noqa: N802
        if parse_int(editor.text()) is not None:
            model.setData(index, editor.text().strip())


def covers_text(rng: DraftRange) -> str:
    """What the range spans, for reading the table without the lane view."""
    if rng.nmsrs <= 0 or rng.base < 0:
        return "empty (skipped)" if rng.nmsrs == 0 else "—"
    last = rng.base + rng.nmsrs - 1
    return f"{msr_label(rng.base)} – {format_int(last)}"


class RangesTable(QTableWidget):
    edited = Signal(int)  # a row's range changed in the draft

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 5, parent)
        self.setHorizontalHeaderLabels(["base", "nmsrs", "read", "write", "covers"])
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.horizontalHeader().setSectionResizeMode(COVERS, QHeaderView.ResizeMode.Stretch)
        delegate = _NumberDelegate(self)
        self.setItemDelegateForColumn(BASE, delegate)
        self.setItemDelegateForColumn(NMSRS, delegate)
        self.draft = Draft()
        self.error_row: int | None = None
        self._loading = False
        self.itemChanged.connect(self._item_changed)

    def load(self, draft: Draft) -> None:
        self.draft = draft
        self._loading = True
        self.setRowCount(len(draft.ranges))
        for row in range(len(draft.ranges)):
            self._fill(row)
        self._loading = False
        self.setVerticalHeaderLabels([f"[{i}]" for i in range(len(draft.ranges))])

    def _fill(self, row: int) -> None:
        rng = self.draft.ranges[row]
        texts = {BASE: format_int(rng.base, 8), NMSRS: str(rng.nmsrs)}
        for col, text in texts.items():
            self.setItem(row, col, QTableWidgetItem(text))
        for col, flag in ((READ_COL, READ), (WRITE_COL, WRITE)):
            item = QTableWidgetItem()
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled
                          | Qt.ItemFlag.ItemIsSelectable)
            item.setCheckState(Qt.CheckState.Checked if rng.flags & flag
                               else Qt.CheckState.Unchecked)
            self.setItem(row, col, item)
        covers = QTableWidgetItem(covers_text(rng))
        covers.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
        self.setItem(row, COVERS, covers)

    def sync_row(self, row: int) -> None:
        """Show a range changed elsewhere (a lane drag) in the row's cells."""
        self._loading = True
        rng = self.draft.ranges[row]
        self.item(row, BASE).setText(format_int(rng.base, 8))
        self.item(row, NMSRS).setText(str(rng.nmsrs))
        self.item(row, COVERS).setText(covers_text(rng))
        self._loading = False

    def set_text(self, row: int, column: int, text: str) -> None:
        """Type into a cell as a user would (for tests and scripted edits)."""
        self.item(row, column).setText(text)

    def set_checked(self, row: int, column: int, checked: bool) -> None:
        self.item(row, column).setCheckState(Qt.CheckState.Checked if checked
                                             else Qt.CheckState.Unchecked)

    def invalid_cells(self) -> list[tuple[int, str, str]]:
        """(row, field, text) of base/nmsrs cells that are not numbers."""
        bad = []
        for row in range(self.rowCount()):
            for col, name in ((BASE, "base"), (NMSRS, "nmsrs")):
                text = self.item(row, col).text()
                if parse_int(text) is None:
                    bad.append((row, name, text))
        return bad

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if self._loading:
            return
        row, col = item.row(), item.column()
        rng = self.draft.ranges[row]
        if col in (BASE, NMSRS):
            value = parse_int(item.text())
            item.setForeground(QBrush(QColor("#c00000")) if value is None else QBrush())
            if value is None:
                return
            if col == BASE:
                rng.base = value
            else:
                rng.resize(value)
        elif col in (READ_COL, WRITE_COL):
            flag = READ if col == READ_COL else WRITE
            checked = item.checkState() == Qt.CheckState.Checked
            rng.flags = rng.flags | flag if checked else rng.flags & ~flag
        else:
            return
        self._loading = True
        self.item(row, COVERS).setText(covers_text(rng))
        self._loading = False
        self.edited.emit(row)

    def mark_error(self, row: int | None, field: str | None) -> None:
        """Highlight the row the kernel rejected, and its failing field if known."""
        self.clear_marks()
        if row is None or not 0 <= row < self.rowCount():
            return
        self._loading = True
        cells = (READ_COL, WRITE_COL) if field == "flags" else (COLUMN_FIELDS.get(field or ""),)
        for col in range(self.columnCount()):
            item = self.item(row, col)
            item.setBackground(QBrush(_ERROR_CELL if col in cells else _ERROR_ROW))
            font = QFont(item.font())
            font.setBold(col in cells)
            item.setFont(font)
        self._loading = False
        self.error_row = row

    def clear_marks(self) -> None:
        self.error_row = None
        self._loading = True
        for row in range(self.rowCount()):
            for col in range(self.columnCount()):
                item = self.item(row, col)
                item.setBackground(QBrush())
                item.setFont(QFont(self.font()))
        self._loading = False
