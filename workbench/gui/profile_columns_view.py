"""The same scenario under two kernel profiles in two event columns: each step's trap-log
rows side by side (workbench.session.profile_columns aligns them), every differing line
tinted, the first one marked, selected and scrolled to, and each difference's switch and
commit beside the line where it shows."""

from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTableWidgetItem, QVBoxLayout, QWidget

from workbench.gui.widgets import read_only_table
from workbench.session.profile_columns import ColumnRow

FIRST_DIFFERENCE = QColor("#f4a6a6")
DIFFERENT = QColor("#fbe3e3")
INFERRED = QColor("#fff2b3")
STEP, A, B, WHY = range(4)


class ProfileColumns(QWidget):
    """Two event columns; `show_rows` fills them from one comparison."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.first_row: int | None = None
        self.table = read_only_table(("step", "A", "B", "explained by"))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(STEP, QHeaderView.ResizeMode.ResizeToContents)
        for column in (A, B):  # A and B share the width: both stay in view in a docked panel
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(WHY, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(WHY, 220)
        # Each line wraps to its full height: the differing value is often at its end.
        self.table.verticalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)

    def clear(self) -> None:
        self.first_row = None
        self.table.setRowCount(0)

    def show_rows(self, rows: list[ColumnRow], first: int | None, a: str, b: str) -> None:
        self.table.setHorizontalHeaderLabels(["step", a, b, "explained by"])
        self.table.setRowCount(len(rows))
        previous_step = None
        for index, row in enumerate(rows):
            step = "" if row.step == previous_step else f"{row.step} {row.command}"
            previous_step = row.step
            if index == first:
                step = f"▶ {step or row.step}"
            why = row.explanation + ("  [inferred]" if row.inferred and "[inferred]"
                                     not in row.explanation else "")
            for column, text in ((STEP, step), (A, row.a), (B, row.b), (WHY, why)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if index == first:
                    item.setBackground(FIRST_DIFFERENCE)
                elif row.differs:
                    item.setBackground(DIFFERENT)
                if column == WHY and row.inferred:
                    item.setBackground(INFERRED)
                self.table.setItem(index, column, item)
        self.first_row = first
        if first is not None:
            self.table.selectRow(first)
            self.table.scrollToItem(self.table.item(first, A),
                                    self.table.ScrollHint.PositionAtCenter)
