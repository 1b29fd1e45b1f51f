"""GUI test fixtures: offscreen Qt pinned for pixel-stable rendering (see
workbench.gui.screenshot), a throw-away settings file, small scenarios."""

from workbench.gui.screenshot import pin_environment, prepare_application

pin_environment()  # before any QApplication: offscreen, DPR 1, only the shipped fonts

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from workbench.cli import DEMO_SCENARIO  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def workbench_application(qapp):
    """Every GUI test runs in the application the workbench and the screenshots use."""
    return prepare_application()

# A filter denies 0xc0010015 (FILTER exits on), and no handler answers it: the user must.
FILTERED = '''
version = 1
name = "HWCR denied, answered by hand"
[vm]
vendor = "intel"
[caps]
user_space_msr = ["FILTER"]
[filter]
default = "allow"
[[filter.ranges]]
flags = "rw"
base = "0xc0010015"
nmsrs = 1
deny = ["0xc0010015"]
[[vcpus]]
source = """
    mov ecx, 0xc0010015
    rdmsr
    mov rbx, rax
    hlt
"""
'''

# Runs until paused: every iteration exits to user space and a rule answers.
LOOP = '''
version = 1
name = "endless rdmsr loop"
[caps]
user_space_msr = ["UNKNOWN"]
[[vcpus]]
source = """
again:
    mov ecx, 0x35
    rdmsr
    inc rbx
    jmp again
"""
[[handlers]]
msr = "0x35"
kind = "constant"
value = "0x00010001"
'''


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "workbench.ini"), QSettings.Format.IniFormat)


def scenario(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.fixture
def make_window(qtbot, settings):
    """make_window(path=None): a shown, active main window on `path` (the demo by default)."""
    from workbench.gui.main_window import MainWindow

    windows = []

    def make(path: Path | None = DEMO_SCENARIO, store: QSettings | None = None) -> MainWindow:
        window = MainWindow(store if store is not None else settings)
        qtbot.addWidget(window)
        windows.append(window)
        if path is not None:
            assert window.open_path(path)
        window.show()
        window.activateWindow()
        # Shortcuts need the active window; a hang guard (Qt waits 5 s by default: a busy
        # machine can take that long), never a duration the test expects.
        assert QTest.qWaitForWindowActive(window, 30_000)
        return window

    yield make
    for window in windows:
        window.runner.stop()


@pytest.fixture
def filtered(tmp_path: Path) -> Path:
    return scenario(tmp_path, "filtered", FILTERED)


@pytest.fixture
def loop(tmp_path: Path) -> Path:
    return scenario(tmp_path, "loop", LOOP)
