"""The desktop workbench's entry point: a Qt application around one scenario.

The application brings its own fonts (resources/fonts, DejaVu) and the Fusion style, so
the workbench looks the same on every desktop and the screenshot tests compare pixels
that depend on nothing installed on the machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QApplication

from workbench.gui.gc_thread import GuiThreadCollector

APP_NAME, ORG_NAME = "KVM Trap Workbench", "kvm-trap-workbench"
FONT_DIR = Path(__file__).resolve().parents[2] / "resources" / "fonts"
SANS, MONO = "DejaVu Sans", "DejaVu Sans Mono"
FONT_POINTS = 9
# Generic names the panels ask for, mapped onto the shipped families.
GENERIC_FAMILIES = {"monospace": MONO, "Monospace": MONO, "Courier": MONO,
                    "Courier New": MONO, "sans-serif": SANS, "Sans Serif": SANS,
                    "Helvetica": SANS, "Arial": SANS}


def load_fonts(app: QApplication) -> None:
    """Register the shipped fonts, make them answer the generic names, set the default."""
    for path in sorted(FONT_DIR.glob("*.ttf")):
        if QFontDatabase.addApplicationFont(str(path)) < 0:
            raise RuntimeError(f"{path}: Qt cannot load this font")
    for generic, family in GENERIC_FAMILIES.items():
        QFont.insertSubstitution(generic, family)
    font = QFont(SANS, FONT_POINTS)
    font.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
    app.setFont(font)


def application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    if app.applicationName() != APP_NAME:   # style and fonts once per process
        app.setApplicationName(APP_NAME)
        app.setOrganizationName(ORG_NAME)
        app.setStyle("Fusion")
        app.setPalette(app.style().standardPalette())
        load_fonts(app)
    GuiThreadCollector.install(app)
    return app


def run_gui(path: Path, engine: str = "sim") -> int:
    """Open `path` (a scenario, on `engine`, or a recording or capture) in the main window
    and run the event loop."""
    from workbench.gui.main_window import MainWindow
    from workbench.gui.qtlibs import wants_xcb, xcb_problem

    if wants_xcb() and (problem := xcb_problem()) is not None:
        print(f"workbench: {problem}", file=sys.stderr)
        return 1
    app = application()
    window = MainWindow()
    window.open_path(path, engine)
    window.show()
    return app.exec()
