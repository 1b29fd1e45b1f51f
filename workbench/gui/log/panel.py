"""The trap log panel: display filter, the table, one event's details, kvm_stat counters.

Selecting a row shows the event and, when the session can travel in time, moves it to
the step that event belongs to; rows of later steps stay in the table, greyed, until the
user applies a command there (which cuts them off, as a new branch of history).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QItemSelection, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFont, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.colour_rules import filter_error_label, show_filter_error
from workbench.gui.controller import SessionController
from workbench.gui.log.model import COLUMNS, DETAILS, DEVICE, MSR, REASON, VCPU, TrapLogModel
from workbench.gui.navigation import SHORTCUTS
from workbench.session.eventlog import EventKind
from workbench.session.eventlog.kinds import MSR_KINDS

_FILTER_HELP = ("kind=MSR_EXIT and (reason=FILTER or value>0xffff) and not vcpu=0 "
                "msr=IA32_PAT step=3-9 device=0000:01:00.0")
_SIMPLE = re.compile(r"^[a-z]+=[^\s=<>!()&|]+$")  # one key=value token of the old syntax


def format_counters(counters: dict[str, Any]) -> str:
    """kvm_stat's view in a few lines."""
    kinds = "  ".join(f"{name} {count}" for name, count in counters["kinds"].items())
    reasons = "  ".join(f"{name} {count}"
                        for name, count in counters["msr_exit_reasons"].items())
    vcpus = "  ".join(f"vcpu{v} {count}" for v, count in counters["vcpu_exits"].items())
    return (f"events {counters['events']}   exits {counters['exits']}   {vcpus}\n"
            f"MSR exits by reason: {reasons}\n{kinds}")


class TrapLogPanel(QWidget):
    step_selected = Signal(int)  # the step of the row the user selected
    filter_changed = Signal(str)  # a display filter was applied (its text)
    step_range_changed = Signal(int, int)  # the steps shown (-1, -1: all)

    def __init__(self, controller: SessionController,
                 busy: Callable[[], bool] | None = None, parent: QWidget | None = None) -> None:
        """`busy()` says whether a free run owns the session (no time travel then)."""
        super().__init__(parent)
        self.controller = controller
        self._busy = busy or (lambda: False)
        self.model = TrapLogModel(self)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)

        self.filter_edit = QLineEdit(placeholderText=f"display filter: {_FILTER_HELP}")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_error = filter_error_label()
        self._filter_timer = QTimer(self, singleShot=True, interval=200)
        self._filter_timer.timeout.connect(self.apply_filter)
        self.filter_edit.textChanged.connect(self._filter_timer.start)
        self.filter_edit.returnPressed.connect(self.apply_filter)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setFont(mono)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        vheader = self.table.verticalHeader()
        vheader.hide()
        vheader.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vheader.setDefaultSectionSize(self.table.fontMetrics().height() + 4)
        hheader = self.table.horizontalHeader()
        hheader.setStretchLastSection(True)
        # The Kind column fits the longest kind name: VFIO kinds are never truncated.
        metrics = self.table.fontMetrics()
        kind_width = max(metrics.horizontalAdvance(kind.name) for kind in EventKind) + 16
        for column, width in enumerate((kind_width, 50, 45, 210, 70, 130, 110)):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)

        self.details = QPlainTextEdit(readOnly=True)
        self.details.setFont(mono)
        self.counters = QLabel(wordWrap=True)  # wraps: a long tally never widens the window
        self.counters.setFont(mono)
        self.counters.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.details)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.filter_error)
        layout.addWidget(split, 1)
        layout.addWidget(self.counters)

        self._add_msr_keys()
        controller.session_replaced.connect(self.reload)
        controller.changed.connect(self.refresh)
        controller.msr_selected.connect(self._on_msr_selected)
        self.reload()

    # --- following the session ------------------------------------------------------------
    def reload(self) -> None:
        session = self.controller.session
        self.model.attach(None if session is None else session.log,
                          0 if session is None else session.visible_rows)
        self.details.clear()
        self._show_counters()
        self._hide_empty_columns()

    def _hide_empty_columns(self) -> None:
        """Hide the columns this kind of session never fills: a VFIO-only scenario's empty
        vCPU, MSR and Reason columns pushed Device off the right edge."""
        session = self.controller.session
        vcpus = session is None or session.vcpu_count > 0
        pci = session is None or session.has_pci or bool(session.log.devices)
        for column in (VCPU, MSR, REASON):
            self.table.setColumnHidden(column, not vcpus)
        self.table.setColumnHidden(DEVICE, not pci)

    def refresh(self, *_: Any) -> None:
        """Take in new rows (GUI thread, the session idle or waiting at a sync point)."""
        session = self.controller.session
        if session is None:
            return
        bar = self.table.verticalScrollBar()
        follow = bar.value() >= bar.maximum()
        self.model.sync(session.visible_rows)
        if follow:
            self.table.scrollToBottom()
        self._show_counters()

    def _show_counters(self) -> None:
        session = self.controller.session
        self.counters.setText("" if session is None else format_counters(session.counters()))

    # --- display filter -----------------------------------------------------------------------
    def apply_filter(self) -> bool:
        """Apply the filter box; a syntax error is shown in place (red border, the text
        with a caret at the position and the message) and the rows stay as they were."""
        self._filter_timer.stop()
        text = self.filter_edit.text()
        if not show_filter_error(self.filter_edit, self.filter_error, text):
            return False
        self.model.set_filter(text)
        self.filter_changed.emit(text)
        return True

    def set_filter_text(self, text: str) -> bool:
        """Replace the display filter (statistics rows, the timeline) and apply it."""
        self.filter_edit.setText(text)
        return self.apply_filter()

    def set_step_range(self, first: int, last: int) -> None:
        """Show only the events of steps first..last (inclusive), on top of the display
        filter: the timeline's dragged range. clear_step_range() undoes it."""
        self.model.set_step_range((min(first, last), max(first, last)))
        self.step_range_changed.emit(first, last)

    def clear_step_range(self) -> None:
        self.model.set_step_range(None)
        self.step_range_changed.emit(-1, -1)

    def _context_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        menu = QMenu(self)
        self.filter_action(index.row(), index.column(), menu)
        menu.addSeparator()
        menu.addActions(self.navigation_actions(index.row(), menu))
        menu.popup(self.table.viewport().mapToGlobal(pos))

    def navigation_actions(self, view_row: int, menu: QMenu) -> list[QAction]:
        """Reverse navigation from this row's step: the previous exit and, for an MSR
        row, the previous write and the next access of its MSR."""
        navigator = self.controller.navigator
        record = self.model.record(self.model.log_row(view_row))
        step = record["step"]
        back = QAction("Reverse-continue to the previous exit", menu)
        back.triggered.connect(lambda: navigator.reverse_continue(step))
        actions = [back]
        if record["kind"] in MSR_KINDS:
            actions += navigator.msr_actions(menu, record["msr"], step)
        for action in actions:
            action.setEnabled(not self._busy())
        return actions

    def _add_msr_keys(self) -> None:
        """Ctrl+Shift+P / Ctrl+Shift+N on the selected MSR row, as its context menu says."""
        for key, name in (("previous_write", "Previous write"),
                          ("next_access", "Next access")):
            action = QAction(self.table, shortcut=QKeySequence(SHORTCUTS[key]))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(lambda _=False, n=name: self._msr_key(n))
            self.table.addAction(action)

    def _msr_key(self, name: str) -> None:
        index = self.table.currentIndex()
        if not index.isValid() or self._busy():
            return
        for action in self.navigation_actions(index.row(), QMenu(self)):
            if action.text().startswith(name):
                action.trigger()
                return
        self.controller.notice.emit(f"{name}: select an MSR row first")

    def filter_action(self, view_row: int, column: int, menu: QMenu) -> QAction:
        """'Filter on this value' for one cell (disabled where no filter key fits)."""
        token = self.model.filter_token(view_row, column)
        action = menu.addAction(f"Filter on this value ({token})" if token
                                else f"Filter on this value (not by {COLUMNS[column]})")
        action.setEnabled(token is not None and column != DETAILS)
        action.triggered.connect(lambda: self.add_filter_token(token or ""))
        return action

    def add_filter_token(self, token: str) -> None:
        """Add `key=value` to the filter text, replacing the key's old value."""
        key = token.partition("=")[0]
        words = self.filter_edit.text().split()
        if all(_SIMPLE.match(w) for w in words):
            kept = [w for w in words if w.partition("=")[0] != key]
            self.filter_edit.setText(" ".join([*kept, token]))
        else:  # an expression: keep it whole and narrow it
            self.filter_edit.setText(f"({self.filter_edit.text()}) and {token}")
        self.apply_filter()

    # --- selection and time travel -------------------------------------------------------------
    def _on_selection(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = selected.indexes()
        if not rows or self.model.log is None:
            return
        log_row = self.model.log_row(rows[0].row())
        record = self.model.record(log_row)
        self.details.setPlainText(self._describe(log_row, record))
        if record["kind"] in MSR_KINDS:
            self.controller.select_msr(record["msr"])  # linked selection in other panels
        step = record["step"]
        session = self.controller.session
        if (session is not None and session.history and step != session.step
                and not self._busy()):
            try:
                self.controller.seek(step)
            except (ValueError, RuntimeError) as exc:
                self.details.appendPlainText(f"\ncannot go to step {step}: {exc}")
        self.step_selected.emit(step)

    def _describe(self, log_row: int, record: dict[str, Any]) -> str:
        lines = [self.model.log.format_row(log_row), ""]
        for name, value in record.items():
            shown = f"{value:#x}" if isinstance(value, int) and name in (
                "value", "aux", "msr", "virt", "mask", "offset") else value
            lines.append(f"{name:<10} {shown}")
        return "\n".join(lines)

    def _on_msr_selected(self, index: int) -> None:
        """Linked selection: the MSR's rows turn bold and the first is scrolled to; the
        row selection (which travels in time) stays the user's."""
        row = self.model.mark_msr(index)
        if row >= 0:
            self.table.scrollTo(self.model.index(row, 0))

    def select_row(self, log_row: int) -> None:
        """Select log row `log_row` (or, if the filter hides it, the next row shown)."""
        row = self.model.view_row(log_row)
        if row >= 0:
            self.table.selectRow(row)
            self.table.scrollTo(self.model.index(row, 0))

    def select_step(self, step: int) -> None:
        """Select the first shown row of `step` (or the next one shown)."""
        row = self.model.view_row_of_step(step)
        if row >= 0:
            self.table.selectRow(row)
            self.table.scrollTo(self.model.index(row, 0))
