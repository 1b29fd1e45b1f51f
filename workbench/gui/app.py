"""The desktop workbench's entry point: a Qt application around one scenario."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from workbench.gui.main_window import MainWindow


def run_gui(scenario_path: Path) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("KVM Trap Workbench")
    app.setOrganizationName("kvm-trap-workbench")
    window = MainWindow()
    window.open_scenario(scenario_path)
    window.show()
    return app.exec()
