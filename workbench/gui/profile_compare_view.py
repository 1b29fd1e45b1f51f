"""Two kernel profiles side by side: the open scenario run under each (fresh headless
sessions, workbench.session.profile_compare), every difference with the switch and the
commit that explains it, the first one marked. Facts the spec only inferred say so."""

from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.controller import SessionController
from workbench.gui.widgets import busy, read_only_table
from workbench.kvm.profiles import PROFILES
from workbench.session.profile_compare import ProfileComparison, compare_profiles

FIRST_DIFFERENCE = QColor("#f4a6a6")
COLUMNS = ("step", "command", "A", "B", "explained by")


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
        self.compare_button = QPushButton("Compare profiles")
        self.compare_button.clicked.connect(self.run)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.table = read_only_table(COLUMNS)
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive
                                        if column > 1 else QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        top = QHBoxLayout()
        for widget in (QLabel("A"), self.profile_a, QLabel("B"), self.profile_b,
                       self.compare_button):
            top.addWidget(widget)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        controller.session_replaced.connect(self.reset)
        self.reset()

    def reset(self) -> None:
        self.result = None
        self.table.setRowCount(0)
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
            for column, text in enumerate((step, d.command, d.a, d.b, why)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if row == 0:
                    item.setBackground(FIRST_DIFFERENCE)
                self.table.setItem(row, column, item)
        self.status.setText(result.lines()[0] if not result.differences else
                            f"{len(result.differences)} difference(s); the first at step "
                            f"{result.differences[0].step}.")
