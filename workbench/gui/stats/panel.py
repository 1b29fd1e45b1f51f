"""The Statistics dock (Wireshark's Statistics, kvm_stat) over the session's event log.

One sortable table per view (workbench.session.eventlog.stats), for a scope the user
picks: the whole session, the visible step range (the timeline's, or the trap log's
dragged range) or the trap log's display filter. During a free run the tables wait and
a kvm_stat-like line shows exits per second per reason, sampled at the runner's sync
points. Double-clicking a row asks for the trap log to be filtered on it.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.controller import SessionController
from workbench.session.eventlog.display_filter import DisplayFilter, compile_filter, step_rows
from workbench.session.eventlog.stats import RateMeter, Statistics, compute

SESSION, STEPS, FILTER = range(3)
SCOPES = ("Whole session", "Visible step range", "Display filter")
_FILTER_ROLE = Qt.ItemDataRole.UserRole + 1
_SORT_ROLE = Qt.ItemDataRole.UserRole + 2  # numbers, and the key's order for the labels
_IMMEDIATE_ROWS = 100_000  # counted in a few milliseconds


class StatsPanel(QWidget):
    filter_requested = Signal(str)  # a row was double-clicked: show its events in the log

    def __init__(self, controller: SessionController, runner: Any = None,
                 parent: QWidget | None = None) -> None:
        """`runner` (gui.runner_thread.Runner) drives the live rates during a free run."""
        super().__init__(parent)
        self.controller = controller
        self.visible_steps: tuple[int, int] | None = None
        self.display_filter = ""
        self.statistics: Statistics | None = None
        self._meter = RateMeter(min_interval=1.0)
        self._running = False
        self.scope = QComboBox()
        self.scope.addItems(SCOPES)
        self.scope.currentIndexChanged.connect(self.refresh)
        self.scope_note = QLabel()
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        self.rates = QLabel("live rates: start a free run (F5)")
        self.rates.setWordWrap(True)
        self.rates.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tabs = QTabWidget()
        self.table_models: dict[str, QStandardItemModel] = {}
        self.table_views: dict[str, QTableView] = {}
        top = QHBoxLayout()
        top.addWidget(QLabel("Scope:"))
        top.addWidget(self.scope)
        top.addWidget(self.scope_note, 1)
        top.addWidget(refresh)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.rates)
        self._timer = QTimer(self, singleShot=True, interval=300)  # coalesce many changes
        self._timer.timeout.connect(self.refresh)
        controller.changed.connect(self._changed)
        controller.session_replaced.connect(self.refresh)
        if runner is not None:
            runner.started.connect(self._run_started)
            runner.progress.connect(lambda _batch: self.sample_rates())
            runner.stopped.connect(self._run_stopped)
        self.refresh()

    # --- scope ---------------------------------------------------------------------------------
    def set_visible_steps(self, first: int, last: int) -> None:
        """The step range the timeline shows (first > last or negative: none known)."""
        self.visible_steps = None if first < 0 or last < first else (first, last)
        if self.scope.currentIndex() == STEPS:
            self._timer.start()

    def set_display_filter(self, text: str) -> None:
        self.display_filter = text
        if self.scope.currentIndex() == FILTER:
            self._timer.start()

    def _scope_args(self, log: Any) -> tuple[dict[str, Any], str]:
        """compute()'s scope arguments and a note saying what is counted."""
        scope = self.scope.currentIndex()
        if scope == STEPS and self.visible_steps is not None:
            first, last = self.visible_steps
            return {"rows": step_rows(log, first, last)}, f"steps {first}–{last}"
        if scope == FILTER and self.display_filter.strip():
            compiled = compile_filter(self.display_filter)
            if isinstance(compiled, DisplayFilter):
                return {"mask": compiled.mask(log)}, f"filter: {self.display_filter}"
            return {}, f"filter does not parse ({compiled}): whole session"
        if scope == STEPS:
            return {}, "no step range shown: whole session"
        return {}, "whole session" if scope == SESSION else "no display filter: whole session"

    # --- counting ------------------------------------------------------------------------------
    def _changed(self) -> None:
        """A small log is recounted at once; a large one once the changes settle."""
        session = self.controller.session
        if self._running or session is None:
            return
        if len(session.log) <= _IMMEDIATE_ROWS:
            self.refresh()
        else:
            self._timer.start()

    def refresh(self) -> None:
        session = self.controller.session
        if session is None:
            return
        log = session.log
        args, note = self._scope_args(log)
        self.statistics = compute(log, **args)
        self.scope_note.setText(f"{note} — {self.statistics.events} events")
        self._show(self.statistics)

    def _show(self, stats: Statistics) -> None:
        for table in stats.tables:
            model = self.table_models.get(table.title)
            if model is None:
                model = self.table_models[table.title] = QStandardItemModel(self)
                model.setSortRole(_SORT_ROLE)
                view = self.table_views[table.title] = QTableView()
                view.setModel(model)
                view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
                view.setSortingEnabled(True)
                view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
                view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
                view.verticalHeader().hide()
                view.doubleClicked.connect(
                    lambda index, title=table.title: self.activate(title, index.row()))
                self.tabs.addTab(view, table.title)
            view = self.table_views[table.title]
            header = view.horizontalHeader()
            column, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
            model.clear()
            model.setHorizontalHeaderLabels([table.key, *table.columns])
            for position, row in enumerate(table.rows):
                label = QStandardItem(row.label)
                label.setData(row.filter, _FILTER_ROLE)
                label.setData(position, _SORT_ROLE)  # rows come in key order
                items = [label]
                for count in row.counts:
                    item = QStandardItem(str(count))
                    item.setData(count, _SORT_ROLE)
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                    items.append(item)
                model.appendRow(items)
            if 0 <= column < model.columnCount():
                view.sortByColumn(column, order)
            view.resizeColumnsToContents()

    def activate(self, title: str, row: int) -> None:
        """Row `row` of table `title` was double-clicked: ask for its events in the log."""
        text = self.table_models[title].item(row, 0).data(_FILTER_ROLE)
        if text:
            self.filter_requested.emit(text)

    # --- live rates ----------------------------------------------------------------------------
    def _run_started(self, *_: Any) -> None:
        self._running = True
        self._meter = RateMeter(min_interval=1.0)
        self.sample_rates()

    def _run_stopped(self, *_: Any) -> None:
        self._running = False
        self.refresh()

    def sample_rates(self, now: float | None = None) -> dict[str, float] | None:
        """Exits per second per reason since the last sample (the runner's sync points)."""
        session = self.controller.session
        if session is None:
            return None
        rates = self._meter.sample(session.log, time.monotonic() if now is None else now)
        if self._running:   # the scope's name only: working out its rows waits too
            self.scope_note.setText(f"{SCOPES[self.scope.currentIndex()].lower()} — counted "
                                    f"when the run stops ({len(session.log):,} events so far)")
        if rates is not None:
            busy = [f"{label} {rate:,.0f}/s" for label, rate in rates.items() if rate]
            self.rates.setText("live: " + ("   ".join(busy) or "no exits"))
        return rates
