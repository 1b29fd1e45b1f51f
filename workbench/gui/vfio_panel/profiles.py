"""linux-5.9 beside linux-5.10: the current session's PCI commands replayed on two
headless sessions, one per profile, so the effect of is_virtfn vs no_command_memory shows
on the very sequence the user built. Differences are tinted."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QShowEvent
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.controller import SessionController
from workbench.gui.widgets import read_only_table
from workbench.session import commands as c
from workbench.session import pci_compare as pc

DIFFERS = QColor("#fde2b8")
STATE_COLUMNS = ("command", "MSE read", "memory")


def _state_texts(state: pc.DeviceState | None) -> list[str]:
    if state is None or state.command is None:
        return ["not open", "—", "—"]
    memory = "enabled" if state.memory_enabled else "disabled (EIO)"
    return [f"{state.command:#06x}", str(int(bool(state.mse))), memory]


def _table(headers: list[str]) -> QTableWidget:
    table = read_only_table(headers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    mono = QFont("monospace")
    mono.setStyleHint(QFont.StyleHint.Monospace)
    table.setFont(mono)
    return table


class ProfileSideBySide(QWidget):
    """Device states and event streams of both profiles; `rows` holds the last run."""

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.rows: list[pc.SideRow] = []
        self.runs: tuple[pc.ProfileRun, pc.ProfileRun] | None = None
        self._stale = True
        self._shown: tuple[object, list[c.Pci]] = (None, [])  # (session, its PCI commands)
        old, new = pc.PROFILES
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.refresh_button = QPushButton("Replay on both profiles")
        self.refresh_button.clicked.connect(self.refresh)
        self.states = _table(["device"] + [f"{p} {col}" for p in (old, new)
                                           for col in STATE_COLUMNS])
        self.events = _table(["step", "command", old, new])
        for column in (2, 3):  # the two streams share the width
            self.events.horizontalHeader().setSectionResizeMode(
                column, QHeaderView.ResizeMode.Stretch)
        self.states.setMaximumHeight(6 * self.states.verticalHeader().defaultSectionSize())
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.refresh_button)
        layout.addWidget(self.states)
        layout.addWidget(self.events, 1)
        controller.changed.connect(self._on_changed)
        self._on_changed()

    # --- when to recompute -------------------------------------------------------------------
    def _on_changed(self) -> None:
        """Recompute when the session or the PCI commands that brought it here differ from
        the ones shown (a command, a seek, a swap); two sessions per refresh, so only while
        someone can see them."""
        session = self.controller.session
        shown = (session, [] if session is None else pc.pci_commands(session))
        if shown[0] is not self._shown[0] or shown[1] != self._shown[1]:
            self._stale = True
        self._shown = shown
        if self._stale and self.isVisible():
            self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh()

    # --- the comparison ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Replay the session's PCI commands under both profiles and show the result."""
        self._stale = False
        session = self.controller.session
        if session is None or not session.has_pci:
            self.runs, self.rows = None, []
            self._fill_states()
            self._fill_events()
            self.status.setText("This scenario has no PCI system ([pci] table).")
            return
        commands = pc.pci_commands(session)
        old, new, self.rows = pc.compare_profiles(session.scenario, commands,
                                                  pc.pci_command_steps(session))
        self.runs = (old, new)
        self._fill_states()
        self._fill_events()
        differing = sum(row.differs for row in self.rows)
        self.status.setText(
            f"{len(commands)} PCI command(s) of this session on {old.profile} and "
            f"{new.profile} ({session.pci_summary().platform}): {differing} of {len(self.rows)} "
            "event lines differ.")

    def _fill_states(self) -> None:
        self.states.setRowCount(0)
        if self.runs is None:
            return
        old, new = ({d.name: d for d in run.devices} for run in self.runs)
        names = sorted(old.keys() | new.keys())
        self.states.setRowCount(len(names))
        for row, name in enumerate(names):
            left, right = _state_texts(old.get(name)), _state_texts(new.get(name))
            self.states.setItem(row, 0, QTableWidgetItem(name))
            for col, (a, b) in enumerate(zip(left, right, strict=True)):
                for column, text in ((1 + col, a), (1 + len(STATE_COLUMNS) + col, b)):
                    item = QTableWidgetItem(text)
                    if a != b:
                        item.setBackground(DIFFERS)
                    self.states.setItem(row, column, item)

    def _fill_events(self) -> None:
        self.events.setRowCount(len(self.rows))
        previous = None
        for i, row in enumerate(self.rows):
            first_of_step = row.step != previous
            previous = row.step
            texts = (str(row.step) if first_of_step else "",
                     row.command if first_of_step else "", row.left, row.right)
            for column, text in enumerate(texts):
                item = QTableWidgetItem(text)
                if row.differs:
                    item.setBackground(DIFFERS)
                self.events.setItem(i, column, item)

    def differing_rows(self) -> list[int]:
        return [i for i, row in enumerate(self.rows) if row.differs]
