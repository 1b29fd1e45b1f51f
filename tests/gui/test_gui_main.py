"""The main window: status bar, keys, free runs off the GUI thread, undo, layout, files."""


import pytest
from PySide6.QtCore import Qt, QTimer

from workbench.cli import DEMO_SCENARIO
from workbench.gui.main_window import MainWindow
from workbench.kvm.filter import MsrFilter
from workbench.session.eventlog import EventKind

SHIFT, CTRL = Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.ControlModifier


def test_opens_the_demo_with_its_facts_in_the_status_bar(qtbot, make_window):
    window = make_window()
    texts = {name: label.text() for name, label in window.status.items()}
    assert texts == {"engine": "engine sim", "profile": "profile linux-6.18",
                     "vendor": "vendor intel", "step": "step 0/0"}
    assert "MSR_CORE_THREAD_COUNT" in window.windowTitle()
    assert window.vcpu_panel.disassembly.rowCount() == 14
    qtbot.keyClick(window, Qt.Key.Key_F10)
    assert window.status["step"].text() == "step 1/1"
    assert window.controller.session.step == 1


def test_run_to_next_exit_then_run_to_halt(qtbot, make_window):
    window = make_window()
    session = window.controller.session
    qtbot.keyClick(window, Qt.Key.Key_F8)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    assert [EventKind(k) for k in session.log.column("kind")] == [
        EventKind.MSR_EXIT, EventKind.USER_ANSWER]
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    assert session.halted(0) and session.regs(0).rbx == 0x00040008
    assert window.vcpu_panel.state.text() == "halted (KVM_EXIT_HLT)"
    assert window.log_panel.model.rowCount() == len(session.log)


def test_free_run_keeps_the_gui_thread_live_and_pause_stops_it(qtbot, make_window, loop):
    """The GUI thread keeps serving timers during a free run, and Pause ends the run.
    Only hang guards here (>= 10 s): bench_gui measures responsiveness and pause latency."""
    window = make_window(loop)
    session = window.controller.session
    ticks = []
    timer = QTimer(interval=5)
    timer.timeout.connect(lambda: ticks.append(len(ticks)))
    timer.start()
    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert window.runner.running and window.pause_action.isEnabled()
    assert not window.step_action.isEnabled()
    qtbot.waitUntil(lambda: window.log_panel.model.rowCount() > 2000, timeout=10_000)
    # The run never ends by itself, so timer ticks during it mean the GUI thread is free.
    before = len(ticks)
    qtbot.waitUntil(lambda: len(ticks) >= before + 5, timeout=10_000)
    assert window.runner.running
    qtbot.keyClick(window, Qt.Key.Key_F5, SHIFT)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    timer.stop()
    assert EventKind(session.log.row(-1)["kind"]) is EventKind.INTR
    assert window.log_panel.model.rowCount() == len(session.log)
    assert window.step_action.isEnabled() and not window.pause_action.isEnabled()
    assert session.regs(0).rbx > 100
    assert window.timeline.index.seen == len(session.log)  # the timeline caught up


def test_undo_and_redo_the_filter_with_the_keyboard(qtbot, make_window):
    window = make_window()
    controller, session = window.controller, window.controller.session
    before = session.msr_filter().to_dict()
    controller.set_filter(MsrFilter())
    assert session.msr_filter().to_dict() != before
    assert window.undo_action.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_Z, CTRL)
    assert session.msr_filter().to_dict() == before
    qtbot.keyClick(window, Qt.Key.Key_Z, CTRL | SHIFT)
    assert session.msr_filter().to_dict() == MsrFilter().to_dict()


def test_step_back_travels_in_time(qtbot, make_window):
    window = make_window()
    session = window.controller.session
    for _ in range(3):
        qtbot.keyClick(window, Qt.Key.Key_F10)
    rcx = session.regs(0).rcx
    qtbot.keyClick(window, Qt.Key.Key_F10, SHIFT)
    assert session.step == 2 and window.status["step"].text() == "step 2/3"
    qtbot.keyClick(window, Qt.Key.Key_F10, SHIFT)
    qtbot.keyClick(window, Qt.Key.Key_F10, SHIFT)
    assert session.step == 0 and session.regs(0).rcx != rcx
    assert window.log_panel.model.future_from == 0


def test_layout_round_trip_and_reset(qtbot, make_window, settings):
    window = make_window()
    window.docks["timeline"].hide()
    window.docks["vcpu"].setFloating(True)
    window.close()
    again = make_window(store=settings)
    assert not again.docks["timeline"].isVisible()
    assert again.docks["vcpu"].isFloating()
    assert again.docks["log"].isVisible()
    again.reset_layout_action.trigger()
    assert again.docks["timeline"].isVisible()
    assert not again.docks["vcpu"].isFloating()


def test_recent_files_are_remembered(qtbot, make_window, settings, filtered):
    window = make_window()
    assert window.open_path(filtered)
    titles = [a.text() for a in window.recent_menu.actions()]
    assert titles == [str(filtered.resolve()), str(DEMO_SCENARIO.resolve())]
    other = MainWindow(settings)
    qtbot.addWidget(other)
    other.recent_menu.actions()[1].trigger()
    assert other.controller.path == DEMO_SCENARIO


def test_opens_a_recording_with_its_history(qtbot, make_window, tmp_path):
    from workbench.session.recording.cli import record

    path = tmp_path / "demo.jsonl"
    assert record(DEMO_SCENARIO, path) == 0
    window = make_window(path)
    session = window.controller.session
    assert session.history and session.step == len(session.history)
    assert window.log_panel.model.rowCount() == len(session.log) > 0
    window.log_panel.select_step(1)
    assert session.step == 1


def test_bad_file_keeps_the_old_session(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window()
    old = window.controller.session
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\n[[vcpus]]\nsource = 'bogus'\n")
    shown = []
    monkeypatch.setattr("workbench.gui.main_window.QMessageBox.warning",
                        lambda _parent, _title, text: shown.append(text))
    assert not window.open_path(bad)
    assert window.controller.session is old and shown and "bad.toml" in shown[0]


def test_workbench_run_with_the_host_engine_opens_the_gui_on_the_host(monkeypatch):
    """`workbench run --engine host FILE` once opened the GUI on the sim, saying so only
    in the status bar."""
    import workbench.gui.app
    from workbench.cli import main

    opened = []
    monkeypatch.setattr(workbench.gui.app, "run_gui",
                        lambda path, engine="sim": opened.append((path, engine)) or 0)
    assert main(["run", "--engine", "host", str(DEMO_SCENARIO)]) == 0
    assert opened == [(DEMO_SCENARIO, "host")]


@pytest.mark.host
def test_a_scenario_opens_on_the_engine_asked_for(make_window):
    window = make_window(None)
    assert window.open_path(DEMO_SCENARIO, "host")
    assert window.status["engine"].text() == "engine host"
