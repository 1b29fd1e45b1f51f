"""The main window: the scenario's guest code beside the stream of exits it causes.

It reads the session layer (scenario loading and the runner) and never touches an engine;
the filter editor, heatmaps, vCPU stepping and the trap log dock into it later.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction, QFont, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QSplitter,
)

from workbench.session.runner import run_scenario
from workbench.session.scenario import Scenario, ScenarioError, load
from workbench.session.session import Session


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("KVM Trap Workbench")
        self.resize(1100, 700)
        self.scenario: Scenario | None = None
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.listing = QListWidget()
        self.listing.setFont(mono)
        self.log = QListWidget()
        self.log.setFont(mono)
        splitter = QSplitter()
        splitter.addWidget(self.listing)
        splitter.addWidget(self.log)
        splitter.setSizes([400, 700])
        self.setCentralWidget(splitter)
        self.run_action = QAction("&Run", self, shortcut=QKeySequence("F5"),
                                  triggered=self.run_scenario)
        open_action = QAction("&Open…", self, shortcut=QKeySequence.StandardKey.Open,
                              triggered=self._choose_file)
        toolbar = self.addToolBar("Run")
        toolbar.setObjectName("run-toolbar")
        toolbar.addAction(open_action)
        toolbar.addAction(self.run_action)
        menu = self.menuBar().addMenu("&File")
        menu.addAction(open_action)
        menu.addAction(QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit,
                               triggered=self.close))

    def open_scenario(self, path: Path) -> bool:
        try:
            scenario = load(path)
        except ScenarioError as exc:
            QMessageBox.warning(self, "Cannot open scenario", str(exc))
            return False
        self.scenario = scenario
        self.setWindowTitle(f"{scenario.name or path.name} — KVM Trap Workbench")
        self.listing.clear()
        for vcpu_id, program in enumerate(scenario.programs):
            self.listing.addItem(f"; vcpu{vcpu_id}")
            for insn in program.listing:
                self.listing.addItem(f"{insn.address:#010x}  {insn.text}")
        self.log.clear()
        self.statusBar().showMessage(
            f"engine sim · profile {scenario.profile or 'linux-6.18'} · vendor {scenario.vendor}")
        return True

    def run_scenario(self) -> None:
        if self.scenario is None:
            return
        self.log.clear()
        try:
            self.log.addItems(list(run_scenario(Session(self.scenario))))
        except (OSError, ValueError, RuntimeError) as exc:
            self.log.addItem(f"error: {exc}")

    def _choose_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open scenario", "", "Scenarios (*.toml)")
        if name:
            self.open_scenario(Path(name))
