"""User space's MSR rules (constant, register, fail, ask) as a table and a small form.

Every change is an undoable SetHandler whose inverse restores the rule that was there.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from workbench.gui.controller import SessionController
from workbench.gui.vcpu.hexedit import HexLineEdit
from workbench.kvm.msrs.catalogue import msr_label
from workbench.session import commands as c
from workbench.session.handlers import KINDS
from workbench.session.queries import HandlerRule


def inverse(rules: dict[int, HandlerRule], msr: int) -> c.SetHandler:
    """The SetHandler that puts back the rule `msr` has now."""
    rule = rules.get(msr)
    if rule is None or rule.kind not in KINDS:
        return c.SetHandler(msr=msr, kind="none")
    return c.SetHandler(msr=msr, kind=rule.kind, value=rule.value)


class HandlersEditor(QWidget):
    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["MSR", "kind", "value"])
        # One line a rule: the MSR's name takes the room and is elided, never wrapped.
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.itemSelectionChanged.connect(self._fill_form)
        self.msr = HexLineEdit(32, "MSR (hex)")
        self.kind = QComboBox()
        self.kind.addItems(list(KINDS))
        self.value = HexLineEdit(64, "value (hex)")
        self.set_button = QPushButton("Set")
        self.set_button.clicked.connect(self.set_rule)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the highlighted rule")
        self.remove_button.setEnabled(False)
        self.remove_button.clicked.connect(self.remove_rule)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.table, 1, 0, 1, 4)
        grid.addWidget(self.msr, 2, 0)
        grid.addWidget(self.kind, 2, 1)
        grid.addWidget(self.value, 2, 2)
        grid.addWidget(self.set_button, 2, 3)
        grid.addWidget(self.remove_button, 3, 3)
        self.msrs: list[int] = []

    def refresh(self) -> None:
        """Show the session's rules; the highlighted MSR stays highlighted if its rule is
        still there, else nothing is (a row never silently stands for another MSR)."""
        session = self.controller.session
        rules = {} if session is None else session.handler_rules()
        selected = self.selected_msr()
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.msrs = sorted(rules)
        self.table.setRowCount(len(self.msrs))
        for row, msr in enumerate(self.msrs):
            rule = rules[msr]
            cells = (msr_label(msr), rule.kind,
                     f"{rule.value:#x}" if rule.kind in ("constant", "register") else "")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)
        if selected in self.msrs:
            self.table.selectRow(self.msrs.index(selected))
        self.table.blockSignals(False)
        self._fill_form()

    def selected_msr(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return self.msrs[rows[0].row()] if rows and rows[0].row() < len(self.msrs) else None

    def _fill_form(self) -> None:
        """Selection drives the form and Remove."""
        msr = self.selected_msr()
        session = self.controller.session
        self.remove_button.setEnabled(msr is not None)
        if msr is None or session is None:
            return
        rule = session.handler_rules()[msr]
        self.msr.set_value(msr)
        if rule.kind in KINDS:
            self.kind.setCurrentText(rule.kind)
        self.value.set_value(rule.value)

    def set_rule(self) -> None:
        msr, value = self.msr.value(), self.value.value()
        if msr is None:
            self.msr.setFocus()
            return
        kind = self.kind.currentText()
        self._push(f"Set {kind} handler for MSR {msr:#x}",
                   c.SetHandler(msr=msr, kind=kind, value=value or 0))

    def remove_rule(self) -> None:
        msr = self.selected_msr()
        if msr is not None:
            self._push(f"Remove handler for MSR {msr:#x}", c.SetHandler(msr=msr, kind="none"))

    def _push(self, text: str, do: c.SetHandler) -> None:
        session = self.controller.session
        if session is not None:
            self.controller.push(text, do, inverse(session.handler_rules(), do.msr))
