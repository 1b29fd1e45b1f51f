"""The desktop workbench's entry point: a Qt application around one scenario."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from workbench.gui.main_window import MainWindow

APP_NAME, ORG_NAME = "KVM Trap Workbench", "kvm-trap-workbench"


def application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    return app


def run_gui(path: Path) -> int:
    """Open `path` (a scenario or a recording) in the main window and run the event loop."""
    app = application()
    window = MainWindow()
    window.open_path(path)
    window.show()
    return app.exec()
