"""Issue 12, defect 2: every demo scenario and its recording fit a 1280x800 screen, docks
and all, after steps as when opened; minimum sizes come from layouts, not from texts."""

from pathlib import Path

from PySide6.QtCore import QSize, Qt

from workbench.cli import DEMO_SCENARIO
from workbench.session.recording.cli import record

SCREEN = QSize(1280, 800)
SCENARIOS = sorted(DEMO_SCENARIO.parent.glob("*.toml"))


def assert_fits(window, what: str) -> None:
    for name, size in [("window", window.size()), ("window minimum", window.minimumSizeHint())] \
            + [(f"dock {key}", dock.minimumSizeHint()) for key, dock in window.docks.items()]:
        assert size.width() <= SCREEN.width() and size.height() <= SCREEN.height(), \
            f"{what}: {name} {size.width()}x{size.height()}"


def test_every_demo_scenario_and_recording_fits_1280x800(qtbot, make_window, tmp_path: Path):
    assert len(SCENARIOS) >= 6
    window = make_window(None)
    window.resize(SCREEN)
    for scenario in SCENARIOS:
        recording = tmp_path / f"{scenario.stem}.jsonl"
        assert record(scenario, recording) == 0
        for path in (scenario, recording):
            assert window.open_path(path)
            assert_fits(window, path.name)
            for _ in range(2):
                qtbot.keyClick(window, Qt.Key.Key_F10)
            assert_fits(window, f"{path.name} after two steps")


def test_a_long_message_never_widens_the_window(qtbot, make_window, loop, monkeypatch):
    window = make_window(loop)
    window.resize(SCREEN)
    before = window.minimumSizeHint()

    def broken(command, announce=True):
        raise RuntimeError("engine lost: " + "the reason, at length; " * 30)

    monkeypatch.setattr(window.controller, "apply", broken)
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    assert "engine lost" in window.vcpu_panel.state.toolTip()
    qtbot.wait(50)  # the layouts take in the new text
    assert window.minimumSizeHint() == before
    assert_fits(window, "a failed run's message")


def test_an_open_capture_fits_1280x800(make_window):
    """The read-only filter editor's capture buttons once widened the window to 1394 px."""
    window = make_window(None)
    window.resize(SCREEN)
    capture = Path(__file__).parents[1] / "capture" / "data" / "qemu-probe.capture.gz"
    assert window.open_path(capture)
    assert window.filter_editor.whatif_button.isVisibleTo(window.filter_editor)
    assert_fits(window, capture.name)


def test_a_long_display_filter_error_never_widens_the_window(qtbot, make_window):
    window = make_window()
    window.resize(SCREEN)
    window.docks["log"].raise_()
    qtbot.keyClicks(window.log_panel.filter_edit, "kind=MSR_GP and (v")
    qtbot.keyClick(window.log_panel.filter_edit, Qt.Key.Key_Return)
    assert "fields: row, step" in window.log_panel.filter_error.text()
    qtbot.wait(50)
    assert_fits(window, "a display filter listing every field")
