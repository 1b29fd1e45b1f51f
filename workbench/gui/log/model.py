"""The trap log as a Qt table model over the session's columnar log.

Millions of rows must scroll smoothly, so the model holds nothing per event: a numpy
array of the log rows the display filter lets through, and a small cache of the rows Qt
is painting right now. Appends arrive as (first, last) batches from EventLog.subscribe,
possibly from the runner's thread, and are drained in the GUI thread by `sync`; only the
new rows are filtered (beginInsertRows). A filter change or a truncated log (the user
stepped after going back in time) resets the model.
"""

from __future__ import annotations

import errno as errno_mod
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from workbench.gui.colour_rules import DEFAULT_RULES, tint
from workbench.kvm.msrs.catalogue import msr_label
from workbench.session.eventlog import EventKind, EventLog, MsrExitReason
from workbench.session.eventlog.colouring import ColourRule, colour_rows
from workbench.session.eventlog.display_filter import DisplayFilter, compile_filter, step_rows
from workbench.session.eventlog.filter_lang import FilterSyntaxError
from workbench.session.eventlog.kinds import MSR_KINDS

COLUMNS = ("Kind", "Step", "vCPU", "MSR", "Reason", "Value", "Device", "Details")
KIND, STEP, VCPU, MSR, REASON, VALUE, DEVICE, DETAILS = range(len(COLUMNS))
_CACHE_ROWS = 512  # a few screens of formatted rows; the rest is numpy
_COLOUR_WINDOW = 256  # rows coloured per colour_rows call, around the one Qt asks for
_ROLES = frozenset({Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ForegroundRole,
                    Qt.ItemDataRole.FontRole, Qt.ItemDataRole.BackgroundRole,
                    Qt.ItemDataRole.ToolTipRole})  # the roles data() answers

_COLOURS: dict[EventKind, str] = {
    EventKind.MSR_READ: "#e3f0ff", EventKind.MSR_WRITE: "#e3f0ff",
    EventKind.MSR_GP: "#ffd6d6", EventKind.MSR_EXIT: "#ffe4bf",
    EventKind.USER_ANSWER: "#dcf5dc", EventKind.IO_EXIT: "#eeeeee",
    EventKind.IO_ANSWER: "#eeeeee", EventKind.HLT: "#e8ddf5", EventKind.SHUTDOWN: "#f5c6f0",
    EventKind.INTR: "#e8ddf5", EventKind.BREAKPOINT: "#fff5b0",
    EventKind.FILTER_SET: "#d9f2f2", EventKind.CAP_SET: "#d9f2f2",
}
_VFIO_COLOUR = "#d6efe6"
_FAILED_COLOUR = "#f4b183"  # a rejected ioctl: a tint of Okabe-Ito vermillion
_IOCTL_KINDS = frozenset({EventKind.FILTER_SET, EventKind.CAP_SET})
_REASON_KINDS = frozenset({EventKind.MSR_EXIT, EventKind.MSR_GP, EventKind.USER_ANSWER})


def kind_colour(kind: EventKind) -> QColor | None:
    name = _VFIO_COLOUR if kind.is_vfio else _COLOURS.get(kind)
    return QColor(name) if name else None


def failed_ioctl(record: dict[str, Any]) -> bool:
    """A VM ioctl the kernel rejected (its errno is in the row)."""
    return record["kind"] in _IOCTL_KINDS and record["errno"] != 0


def errno_text(code: int) -> str:
    return f"{errno_mod.errorcode.get(code, 'errno')} (-{code})"


def reason_text(bits: int) -> str:
    return "+".join(r.name for r in MsrExitReason if bits & r and r.name)


class _Rows:
    """A growable int64 array: appends amortised O(new rows), no copy per batch."""

    def __init__(self, rows: np.ndarray | None = None) -> None:
        self.data = np.empty(0, np.int64) if rows is None else rows.astype(np.int64)
        self.n = len(self.data)

    def extend(self, rows: np.ndarray) -> None:
        need = self.n + len(rows)
        if need > len(self.data):
            grown = np.empty(max(need, 2 * len(self.data), 1024), np.int64)
            grown[:self.n] = self.data[:self.n]
            self.data = grown
        self.data[self.n:need] = rows
        self.n = need

    def view(self) -> np.ndarray:
        return self.data[:self.n]


class TrapLogModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.log: EventLog | None = None
        self.filter_text = ""
        self.future_from = 0  # log rows from here on belong to steps after the current one
        self._filter: DisplayFilter | None = None
        self.step_range: tuple[int, int] | None = None  # inclusive; None: every step
        self.colour_rules: list[ColourRule] = list(DEFAULT_RULES)
        self._rule_brushes = [QBrush(tint(rule.colour)) for rule in self.colour_rules]
        self._colours: dict[int, int] = {}  # log row -> rule index (-1 none), on screen
        self._rows = _Rows()
        self._seen = 0  # log rows the model has taken in
        self._batches: list[tuple[int, int]] = []
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None
        # What a repaint asks again and again (a free run repaints the same rows many times
        # a second): the rows, their cells' text and their background, while on screen.
        self._cache: dict[int, dict[str, Any]] = {}
        self._texts: dict[tuple[int, int], str] = {}
        self._brushes: dict[int, QBrush | None] = {}
        self._italic = QFont()
        self._italic.setItalic(True)
        self._bold = QFont()
        self._bold.setBold(True)
        self.marked_msr = -1  # rows about this MSR are bold (the linked selection)
        self._future_brush = QBrush(QColor("#9a9a9a"))

    # --- wiring -------------------------------------------------------------------------
    def attach(self, log: EventLog | None, future_from: int = 0) -> None:
        """Show another log (a new session); the filter text stays."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.log = log
        self.future_from = future_from
        if log is not None:
            self._unsubscribe = log.subscribe(self._on_batch)
        self._refilter()

    def _on_batch(self, first: int, last: int) -> None:
        """EventLog observer; may run in the runner's thread, so it only queues."""
        with self._lock:
            self._batches.append((first, last))

    def sync(self, future_from: int | None = None) -> None:
        """Take in the queued batches (GUI thread, while the session is not running)."""
        with self._lock:
            batches, self._batches = self._batches, []
        if future_from is not None:
            self.set_future_from(future_from)
        if not batches or self.log is None:
            return
        if any(first < self._seen for first, _ in batches) or len(self.log) < self._seen:
            self._refilter()  # rows we showed were truncated: start over
            return
        first, last = self._seen, len(self.log)
        self._seen = last
        new = self._match(first, last)
        if len(new):
            start = self._rows.n
            self.beginInsertRows(QModelIndex(), start, start + len(new) - 1)
            self._rows.extend(new)
            self.endInsertRows()

    def set_future_from(self, row: int) -> None:
        if row != self.future_from:
            self.future_from = row
            if self._rows.n:
                self.dataChanged.emit(self.index(0, 0),
                                      self.index(self._rows.n - 1, len(COLUMNS) - 1))

    # --- filtering --------------------------------------------------------------------------
    def set_filter(self, text: str) -> FilterSyntaxError | None:
        """Apply display-filter text; a syntax error is returned and the old filter stays."""
        compiled = compile_filter(text)
        if isinstance(compiled, FilterSyntaxError):
            return compiled
        self.filter_text = text
        self._filter = None if compiled.everything else compiled
        self._refilter()
        return None

    def set_step_range(self, steps: tuple[int, int] | None) -> None:
        """Show only the rows of steps first..last (inclusive), on top of the filter;
        None shows every step again (the timeline's dragged range)."""
        self.step_range = steps
        self._refilter()

    def set_colour_rules(self, rules: list[ColourRule]) -> None:
        self.colour_rules = list(rules)
        self._rule_brushes = [QBrush(tint(rule.colour)) for rule in self.colour_rules]
        self._forget()
        if self._rows.n:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(self._rows.n - 1, len(COLUMNS) - 1))

    def _scope(self, first: int, last: int) -> tuple[int, int]:
        """Rows [first, last) cut to the step range."""
        if self.step_range is None or self.log is None:
            return first, last
        rows = step_rows(self.log, *self.step_range)
        return max(first, rows.start), max(min(last, rows.stop), max(first, rows.start))

    def _refilter(self) -> None:
        self.beginResetModel()
        self._forget()
        with self._lock:
            self._batches.clear()
        if self.log is None:
            self._rows, self._seen = _Rows(), 0
        else:
            self._seen = len(self.log)
            self._rows = _Rows(self._match(0, self._seen))
        self.endResetModel()

    def _match(self, first: int, last: int) -> np.ndarray:
        """The rows among [first, last) the filter and the step range let through."""
        first, last = self._scope(first, last)
        if self._filter is None:
            return np.arange(first, last, dtype=np.int64)
        return self._filter.select(self.log, first, last)

    def colour_index(self, log_row: int) -> int:
        """The colouring rule of `log_row` (-1: none), computed for a window of shown rows
        at a time so painting a screen costs one numpy pass per rule."""
        found = self._colours.get(log_row)
        if found is not None:
            return found
        if len(self._colours) > 8 * _COLOUR_WINDOW:
            self._colours.clear()
        at = self.view_row(log_row)
        shown = self._rows.view()
        rows = shown[max(0, at - _COLOUR_WINDOW // 2):at + _COLOUR_WINDOW // 2]
        if at < 0 or not len(rows):
            rows = np.array([log_row], np.int64)
        indices = colour_rows(self.colour_rules, self.log, rows)
        self._colours.update(zip(rows.tolist(), indices.tolist(), strict=True))
        return self._colours.get(log_row, -1)

    # --- lookups ----------------------------------------------------------------------------
    def shown_rows(self) -> np.ndarray:
        """The log rows the table shows (filter and step range applied), in order."""
        return self._rows.view().copy()

    def log_row(self, view_row: int) -> int:
        return int(self._rows.data[view_row])

    def view_row(self, log_row: int) -> int:
        """The model row showing `log_row`, or the next one the filter shows (-1: none)."""
        rows = self._rows.view()
        at = int(np.searchsorted(rows, log_row))
        return at if at < len(rows) else -1

    def mark_msr(self, index: int) -> int:
        """Embolden the rows about MSR `index` (-1: none); the first such shown row, or -1."""
        self.marked_msr = index
        if self._rows.n:
            self.dataChanged.emit(self.index(0, 0), self.index(self._rows.n - 1,
                                                                len(COLUMNS) - 1))
        if index < 0 or self.log is None:
            return -1
        rows = self.log.select(msr=index)
        shown = [self.view_row(int(r)) for r in rows[:1]]
        return shown[0] if shown else -1

    def view_row_of_step(self, step: int) -> int:
        if self.log is None:
            return -1
        return self.view_row(self.log.row_of_step(step))

    def record(self, log_row: int) -> dict[str, Any]:
        """log.row(), cached while it is on screen."""
        rec = self._cache.get(log_row)
        if rec is None:
            if len(self._cache) >= _CACHE_ROWS:
                self._forget()
            rec = self.log.row(log_row)
            self._cache[log_row] = rec
        return rec

    def _forget(self) -> None:
        self._cache.clear()
        self._texts.clear()
        self._brushes.clear()
        self._colours.clear()

    def _text(self, row: int, column: int) -> str:
        key = (row, column)
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = self.text(row, column)
        return text

    def _brush(self, row: int) -> QBrush | None:
        if row not in self._brushes:
            rule = self.colour_index(row)
            if 0 <= rule < len(self._rule_brushes):
                self._brushes[row] = self._rule_brushes[rule]
            else:
                record = self.record(row)
                colour = QColor(_FAILED_COLOUR) if failed_ioctl(record) else kind_colour(
                    record["kind"])
                self._brushes[row] = QBrush(colour) if colour is not None else None
        return self._brushes[row]

    # --- QAbstractTableModel ------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._rows.n

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role not in _ROLES or not index.isValid() or index.row() >= self._rows.n \
                or self.log is None:
            return None
        row = int(self._rows.data[index.row()])
        if role == Qt.ItemDataRole.DisplayRole:
            try:
                return self._text(row, index.column())
            except IndexError:  # truncated under us; the next sync resets the model
                return None
        if role == Qt.ItemDataRole.ForegroundRole and row >= self.future_from:
            return self._future_brush
        if role == Qt.ItemDataRole.FontRole and row >= self.future_from:
            return self._italic
        if role == Qt.ItemDataRole.FontRole and self.marked_msr >= 0:
            record = self.record(row)
            if record["kind"] in MSR_KINDS and record["msr"] == self.marked_msr:
                return self._bold
        if role == Qt.ItemDataRole.BackgroundRole and row < self.future_from:
            try:
                return self._brush(row)
            except IndexError:
                return None
        if role == Qt.ItemDataRole.ToolTipRole and row >= self.future_from:
            return "future: after the step the session stands at"
        return None

    def text(self, row: int, column: int) -> str:
        r = self.record(row)
        kind: EventKind = r["kind"]
        if column == KIND:
            return kind.name
        if column == STEP:
            return str(r["step"])
        if column == VCPU:
            return str(r["vcpu"]) if r["vcpu"] >= 0 else ""
        if column == MSR:
            return msr_label(r['msr']) if kind in MSR_KINDS else ""
        if column == REASON:
            return reason_text(r["reason"]) if kind in _REASON_KINDS else ""
        if column == VALUE:
            return errno_text(r["errno"]) if failed_ioctl(r) else f"{r['value']:#x}"
        if column == DEVICE:
            return r["device"] or ""
        return self.log.format_row(row)

    def filter_token(self, view_row: int, column: int) -> str | None:
        """The display-filter token that keeps rows like this cell's (None: no such key)."""
        r = self.record(self.log_row(view_row))
        kind: EventKind = r["kind"]
        if column == KIND:
            return f"kind={kind.name}"
        if column == STEP:
            return f"step={r['step']}"
        if column == VCPU:
            return f"vcpu={r['vcpu']}"
        if column == MSR and kind in MSR_KINDS:
            return f"msr={r['msr']:#x}"
        if column == REASON and kind in _REASON_KINDS and r["reason"]:
            return f"reason={reason_text(r['reason']).replace('+', ',')}"
        if column == DEVICE and r["device"]:
            return f"device={r['device']}"
        return None
