"""The Diff dock (RenderDoc's capture comparison, rr's divergence hunting): recording B beside
the session the window shows, its first divergent step, and B following the session's step
in lock-step, with the events, registers and MSR values that differ at that step.

B is a Replay of its own (never the controller's session): its commands are applied on
demand as the session's step moves. B's side of the events is what B *recorded*, so a
recording whose text was changed shows where; registers and MSR values are B's replayed
state. The comparison itself is workbench.session.recording.diff (no Qt).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.controller import SessionController
from workbench.gui.widgets import busy, side_by_side_table
from workbench.session.recording import RecordingError, Replay, read_recording
from workbench.session.recording import diff as d

COLUMNS = ("at this step", "this session", "B")
SECTION = QColor("#e8e8e8")
DIFFERS = QColor("#fde2b8")


class DiffView(QWidget):
    """`open_recording(path)` sets B; `first_divergence` and `differences` are what the
    dock shows (for tests and other panels)."""

    def __init__(self, controller: SessionController, busy_run: Callable[[], bool] = bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller, self.busy_run = controller, busy_run
        self.replay: Replay | None = None
        self.side_b: d.Side | None = None
        self.first_divergence: int | None = None
        self.differences: list[tuple[str, d.Difference]] = []
        self._compared_history: tuple[int, str] | None = None
        self.title = QLabel("Diff with recording… (File menu) opens a recording B beside "
                            "this session.")
        self.title.setWordWrap(True)
        self.go_button = QPushButton("Go to first divergence")
        self.go_button.clicked.connect(self.go_to_divergence)
        self.close_button = QPushButton("Close B")
        self.close_button.clicked.connect(self.close_recording)
        self.table = side_by_side_table(COLUMNS)
        # An event line wraps to its full height: the differing value is often at its end.
        self.table.verticalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.go_button)
        top.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        controller.changed.connect(self.refresh)
        controller.session_replaced.connect(self._forget_comparison)
        self._show_buttons()

    # --- B --------------------------------------------------------------------------------
    def open_recording(self, path: Path) -> str | None:
        """Open `path` as B; the reason it cannot be (also shown), or None."""
        try:
            recording = read_recording(path)
            if recording.problem is not None:
                raise RecordingError(recording.problem)
            replay = Replay(recording)
        except (RecordingError, OSError, ValueError, RuntimeError) as exc:
            self.title.setText(f"Cannot diff with {path}: {exc}")
            return str(exc)
        self.close_recording()
        self.replay, self.side_b = replay, d.file_side(recording)
        self.refresh()
        return None

    def close_recording(self) -> None:
        if self.replay is not None:
            self.replay.close()
        self.replay = self.side_b = None
        self.first_divergence = None
        self.differences = []
        self._compared_history = None
        self.table.setRowCount(0)
        self._show_buttons()

    def _forget_comparison(self) -> None:
        self._compared_history = None

    # --- following the session ---------------------------------------------------------------
    def refresh(self) -> None:
        """B to the session's step (lock-step), then what differs there. Skipped while a
        free run owns the session; the run's end announces the state again."""
        session = self.controller.session
        if self.replay is None or self.side_b is None or session is None or self.busy_run():
            return
        with busy():
            self._update_divergence()
            step = min(session.step, self.replay.steps)
            self.replay.seek(step)
            events = d.event_differences(d.session_events(session, session.step),
                                         d.events_at(self.side_b, session.step))
            self.differences = [
                *(("events", x) for x in events),
                *(("registers", x) for x in d.register_differences(session,
                                                                   self.replay.session)),
                *(("MSRs", x) for x in d.msr_differences(session, self.replay.session)),
            ]
        self._show(session.step)

    def _update_divergence(self) -> None:
        """The first divergence, recomputed only when the session's history changed."""
        session = self.controller.session
        assert session is not None and self.side_b is not None
        key = d.history_key(session)
        if key != self._compared_history:
            side_a = d.session_side(session, str(self.controller.path or "session"))
            self.first_divergence = d.first_divergence(side_a, self.side_b)
            self._compared_history = key

    def go_to_divergence(self) -> None:
        """Seek the session (and so B) to the first divergent step it has."""
        session = self.controller.session
        step = self.first_divergence
        if session is None or step is None or self.busy_run():
            return
        try:
            self.controller.seek(min(step, d.history_key(session)[0]))
        except (ValueError, RuntimeError) as exc:  # an engine that cannot travel in time
            self.controller.error.emit(f"Go to first divergence: {exc}")

    # --- showing -------------------------------------------------------------------------------
    def _show(self, step: int) -> None:
        assert self.replay is not None
        b_step = self.replay.step
        where = f"step {step}" + (f" (B ends at step {b_step})" if b_step != step else "")
        if self.first_divergence is None:
            verdict = "no divergence: B and this session agree at every step"
        elif self.first_divergence == 0:
            verdict = "first divergence: the scenario"
        else:
            verdict = f"first divergence at step {self.first_divergence}"
        if self.replay.divergence is not None:
            verdict += (f"; B's own replay diverges from its recording at step "
                        f"{self.replay.divergence.step}")
        self.title.setText(f"B: {self.replay.recording.path} — {verdict}. Now at {where}: "
                           f"{len(self.differences) or 'nothing'} differ"
                           f"{'s' if len(self.differences) == 1 else ''}.")
        self.table.setRowCount(0)
        rows: list[tuple[str, str, str, QColor]] = []
        for section in ("events", "registers", "MSRs"):
            found = [x for kind, x in self.differences if kind == section]
            rows.append((f"{section}: {'differ' if found else 'same'}", "", "", SECTION))
            rows += [(x.what, x.a, x.b, DIFFERS) for x in found]
        self.table.setRowCount(len(rows))
        for i, (*texts, colour) in enumerate(rows):
            for column, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                item.setBackground(colour)
                self.table.setItem(i, column, item)
        self._show_buttons()

    def _show_buttons(self) -> None:
        self.go_button.setEnabled(bool(self.first_divergence))
        self.close_button.setEnabled(self.replay is not None)

