"""The vCPU's general registers, the ones the last step changed highlighted."""

from __future__ import annotations

from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from workbench.kvm.regs import REG_NAMES, Regs

CHANGED = QColor("#fff2a8")
MIN_ROWS = 6


class RegistersView(QTableWidget):
    def __init__(self) -> None:
        super().__init__(len(REG_NAMES), 1)
        self.setHorizontalHeaderLabels(["value"])
        self.setVerticalHeaderLabels(list(REG_NAMES))
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.setFont(mono)
        self._bold = QFont(mono)
        self._bold.setBold(True)
        for row in range(len(REG_NAMES)):
            self.setItem(row, 0, QTableWidgetItem())
        # Never squeezed to a row or two (a pending exit's editor takes room below).
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.setMinimumHeight(MIN_ROWS * self.verticalHeader().defaultSectionSize()
                              + self.horizontalHeader().sizeHint().height() + 4)
        self.changed: set[str] = set()
        self._shown: dict[str, int] | None = None
        self._before: dict[str, int] | None = None
        self._step = -1

    def forget(self) -> None:
        """Another vCPU or session: nothing counts as changed."""
        self._shown = self._before = None
        self._step = -1

    def clear_values(self) -> None:
        """No vCPU: empty cells, nothing highlighted."""
        self.forget()
        self.changed = set()
        for row in range(len(REG_NAMES)):
            item = self.item(row, 0)
            item.setText("")
            item.setBackground(QBrush())
            item.setFont(self.font())

    def show_regs(self, regs: Regs, step: int, before: dict[str, int] | None = None) -> None:
        """Show `regs` as of session step `step`; changed = differs from `before` (the
        registers before that step's command, where the session knows them), else from
        the previous step shown (showing the same step twice keeps the highlight)."""
        values = regs.as_dict()
        if step != self._step:
            self._before, self._shown, self._step = self._shown, values, step
        else:
            self._shown = values
        if before is not None:
            self._before = before
        before = self._before
        self.changed = {n for n in REG_NAMES if before is not None and before[n] != values[n]}
        for row, name in enumerate(REG_NAMES):
            item = self.item(row, 0)
            item.setText(f"{values[name]:#018x}")
            hot = name in self.changed
            item.setBackground(QBrush(CHANGED) if hot else QBrush())
            item.setFont(self._bold if hot else self.font())
