"""Sim vs the real kernel: the open scenario run on both engines, side by side, with the
first divergence marked and scrolled to.

The comparison runs fresh sessions (workbench.session.compare), never the controller's:
the user's session, its history and its undo stack stay as they are.
"""

from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.controller import SessionController
from workbench.gui.widgets import busy, side_by_side_table
from workbench.session.compare import Comparison, aligned, compare, host_unavailable

FIRST_DIVERGENCE = QColor("#f4a6a6")
LATER_DIFFERENCE = QColor("#fde2b8")
VOLATILE = QColor("#cde6f7")  # a tint of Okabe-Ito sky blue: differs by nature (time)
COLUMNS = ("#", "sim", "host")


class CompareView(QWidget):
    """`run()` compares the open scenario; `result` holds the last Comparison."""

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.result: Comparison | None = None
        self.compare_button = QPushButton("Compare sim vs host")
        self.compare_button.clicked.connect(self.run)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.table = side_by_side_table(COLUMNS)
        top = QHBoxLayout()
        top.addWidget(self.compare_button)
        top.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        controller.session_replaced.connect(self.reset)
        self.reset()

    def reset(self) -> None:
        """Nothing compared yet for this scenario; say so, or why it cannot be."""
        self.result = None
        self.table.setRowCount(0)
        why = host_unavailable()
        self.compare_button.setEnabled(why is None and self.controller.session is not None)
        if why is not None:
            self.status.setText(f"Cannot compare with the real kernel: {why}")
        elif self.controller.session is None:
            self.status.setText("Open a scenario to compare it.")
        else:
            name = self.controller.session.scenario.name or "this scenario"
            self.status.setText(f"Run {name} on the sim and on /dev/kvm and compare the "
                                "exits, answers and final registers.")

    def run(self) -> Comparison | None:
        """Play the open scenario on both engines (fresh sessions) and show the streams."""
        session = self.controller.session
        if session is None:
            return None
        with busy():
            result = compare(session.scenario)
        self.show_result(result)
        return result

    def show_result(self, result: Comparison) -> None:
        self.result = result
        rows = list(aligned(result))
        self.table.setRowCount(len(rows))
        for i, sim, host in rows:
            colour = None
            if i == result.first_divergence:
                colour = FIRST_DIVERGENCE
            elif i in result.volatile:
                colour = VOLATILE
            elif sim != host:
                colour = LATER_DIFFERENCE
            mark = (f"{i} ▶ first divergence" if i == result.first_divergence
                    else f"{i} ~ volatile" if i in result.volatile else str(i))
            for column, text in enumerate((mark, sim, host)):
                item = QTableWidgetItem(text)
                if colour is not None:
                    item.setBackground(colour)
                self.table.setItem(i, column, item)
        self.status.setText(self.summary(result))
        if result.first_divergence is not None:
            self.table.doItemsLayout()  # scroll ranges for the new rows, before scrolling
            self.table.scrollToItem(self.table.item(result.first_divergence, 1),
                                    QAbstractItemView.ScrollHint.PositionAtCenter)

    @staticmethod
    def summary(result: Comparison) -> str:
        if not result.compared:
            return f"Not compared: {result.reason}"
        index = result.first_divergence
        volatile = (f" ({len(result.volatile)} volatile: derived from time, compared as such)"
                    if result.volatile else "")
        if index is None:
            return f"Sim and host agree on all {len(result.sim_lines)} entries{volatile}."
        sim = result.sim_lines[index] if index < len(result.sim_lines) else "(ended)"
        host = result.host_lines[index] if index < len(result.host_lines) else "(ended)"
        return f"First divergence at entry {index}: sim {sim!r}, host {host!r}."
