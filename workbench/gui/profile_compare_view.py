"""Two kernel profiles side by side: the open scenario run under each (fresh headless
sessions, workbench.session.profile_compare) in two event columns with the first
difference marked; every difference with the switch and the commit that explains it; and
every switch of both profiles with the change that set it. Facts the spec only inferred
are flagged in all three."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.controller import SessionController
from workbench.gui.profile_columns_view import FIRST_DIFFERENCE, INFERRED, ProfileColumns
from workbench.gui.widgets import busy, read_only_table
from workbench.kvm.profiles import PROFILES
from workbench.session.profile_columns import side_by_side
from workbench.session.profile_compare import ProfileComparison, compare_profiles
from workbench.session.profile_text import switch_rows

__all__ = ["FIRST_DIFFERENCE", "ProfileCompareView"]
COLUMNS = ("step", "command", "A", "B", "explained by")
SWITCH_COLUMNS = ("layer", "switch", "A", "B", "set by", "inferred")


def _fill(table: QTableWidget, row: int, texts: tuple[str, ...]) -> list[QTableWidgetItem]:
    items = []
    for column, text in enumerate(texts):
        item = QTableWidgetItem(text)
        item.setToolTip(text)
        table.setItem(row, column, item)
        items.append(item)
    return items


class ProfileCompareView(QWidget):
    """`run()` compares the open scenario under the two chosen profiles."""

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.result: ProfileComparison | None = None
        self.profile_a, self.profile_b = QComboBox(), QComboBox()
        for box, default in ((self.profile_a, "linux-5.10"), (self.profile_b, "linux-6.18")):
            box.addItems(list(PROFILES))
            box.setCurrentText(default)
            box.currentTextChanged.connect(self.show_switches)
        self.compare_button = QPushButton("Compare profiles")
        self.compare_button.clicked.connect(self.run)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.columns = ProfileColumns()
        self.table = read_only_table(COLUMNS)
        self.switches = read_only_table(SWITCH_COLUMNS)
        for table in (self.table, self.switches):
            header = table.horizontalHeader()
            header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
            header.setStretchLastSection(True)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.columns, "Side by side")
        self.tabs.addTab(self.table, "Differences")
        self.tabs.addTab(self.switches, "Switches")
        top = QHBoxLayout()
        for widget in (QLabel("A"), self.profile_a, QLabel("B"), self.profile_b,
                       self.compare_button):
            top.addWidget(widget)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(self.tabs, 1)
        controller.session_replaced.connect(self.reset)
        self.reset()

    def reset(self) -> None:
        self.result = None
        self.table.setRowCount(0)
        self.columns.clear()
        self.show_switches()
        self.compare_button.setEnabled(self.controller.session is not None)
        self.status.setText("Open a scenario to compare it under two kernels."
                            if self.controller.session is None else
                            "Run the open scenario under both profiles and explain where "
                            "they differ.")

    def run(self) -> ProfileComparison | None:
        session = self.controller.session
        if session is None:
            return None
        with busy():
            result = compare_profiles(session.scenario, self.profile_a.currentText(),
                                      self.profile_b.currentText())
        self.show_result(result)
        return result

    def show_result(self, result: ProfileComparison) -> None:
        self.result = result
        rows, first = side_by_side(result)
        self.columns.show_rows(rows, first, result.a, result.b)
        self.table.setHorizontalHeaderLabels(["step", "command", result.a, result.b,
                                              "explained by"])
        self.table.setRowCount(len(result.differences))
        for row, d in enumerate(result.differences):
            if d.change is None:
                why = f"no single switch (differing: {', '.join(d.candidates) or 'none'})"
            else:
                why = f"{d.switch}: {d.change.cite()}" + (
                    "  [inferred]" if d.change.inferred else "")
            step = f"{d.step} ▶ first" if row == 0 else str(d.step)
            for item in _fill(self.table, row, (step, d.command, d.a, d.b, why)):
                if row == 0:
                    item.setBackground(FIRST_DIFFERENCE)
        self.tabs.setCurrentWidget(self.columns)
        first = result.differences[0] if result.differences else None
        self.status.setText(result.lines()[0] if first is None else
                            f"{len(result.differences)} difference(s); the first at step "
                            f"{first.step}: {result.explain(first)}")

    def show_switches(self) -> None:
        """Every switch of the two chosen profiles; differing values tinted, inferred
        facts flagged."""
        a, b = self.profile_a.currentText(), self.profile_b.currentText()
        rows = switch_rows(a, b)
        self.switches.setHorizontalHeaderLabels(["layer", "switch", a, b, "set by",
                                                 "inferred"])
        self.switches.setRowCount(len(rows))
        for index, row in enumerate(rows):
            cite = row.change.cite() + ("" if row.modelled else "  [not modelled]")
            items = _fill(self.switches, index, (row.layer, row.name, row.a, row.b, cite,
                                                 "inferred" if row.inferred else ""))
            if row.inferred:
                items[-1].setBackground(INFERRED)
            if row.a != row.b:
                for item in items[:-1]:
                    item.setBackground(FIRST_DIFFERENCE.lighter(115))
