"""`workbench open CAPTURE`: every panel shows a capture, read-only until "Use in a scenario"."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

FIXTURES = Path(__file__).parent.parent / "capture" / "fixtures"


def test_kernel_trace_fills_the_trap_log_and_locks_the_filter(make_window) -> None:
    window = make_window(FIXTURES / "probe.tracefs.txt")
    assert window.controller.session.read_only
    assert window.log_panel.model.rowCount() == 9
    editor = window.filter_editor
    assert not editor.apply_button.isEnabled()
    assert editor.use_button.isVisible() and editor.whatif_button.isVisible()


def test_what_if_replays_the_edited_filter(make_window) -> None:
    from workbench.kvm import MsrFilter, MsrFilterRange, uapi

    window = make_window(FIXTURES / "probe.tracefs.txt")
    editor = window.filter_editor
    editor.load(MsrFilter(0, [MsrFilterRange(uapi.KVM_MSR_FILTER_READ, 0x1B, 1, b"\x00")]))
    dialog = editor.what_if()
    assert "rdmsr 0x1b (line 13): stays in kernel -> exits with FILTER" in dialog.text.toPlainText()
    dialog.vendor_box.setCurrentText("amd")
    dialog.replay()
    assert "(amd vendor" in dialog.text.toPlainText()
    assert window.controller.session.msr_filter() == MsrFilter()   # nothing was applied


def test_use_in_a_scenario_gives_a_runnable_session(make_window) -> None:
    window = make_window(FIXTURES / "probe.tracefs.txt")
    editor = window.filter_editor
    editor.use_button.click()
    session = window.controller.session
    assert not getattr(session, "read_only", False)
    assert session.scenario.name == "capture: probe.tracefs.txt"
    assert editor.apply_button.isEnabled() and not editor.use_button.isVisible()


def test_qemu_config_trace_is_listed_in_the_vfio_panel(make_window) -> None:
    window = make_window(FIXTURES / "seabios-e1000.qemu.log")
    vfio = window.vfio_panel
    assert vfio.tabs.isEnabled() and vfio.tabs.currentWidget() is vfio.captured
    assert "e1000 @0x010/? <- 0xffffffff" in vfio.captured.toPlainText()
    assert "traced config-space accesses" in vfio.header.text()


def test_opening_a_scenario_after_a_capture_unlocks_the_editor(make_window) -> None:
    window = make_window(FIXTURES / "probe.tracefs.txt")
    from workbench.cli import DEMO_SCENARIO

    assert window.open_path(DEMO_SCENARIO)
    assert window.filter_editor.apply_button.isEnabled()
    assert window.vfio_panel.captured.toPlainText() == ""


def test_a_capture_spans_its_steps_in_the_replay_slider_timeline_and_log(make_window) -> None:
    window = make_window(Path(__file__).parent.parent / "capture" / "data"
                         / "qemu-probe.capture.gz")
    session = window.controller.session
    last = len(session.history)
    assert last > 100 and session.step == last
    assert window.replay_view.slider.maximum() == last
    assert window.status["step"].text() == f"step {last}/{last}"
    window.replay_view.slider.setValue(40)
    assert session.step == 40 and session.visible_rows == session.log.row_of_step(41)
    panel = window.log_panel
    panel.table.selectRow(panel.model.view_row_of_step(7))
    assert session.step == 7 and window.timeline.step == 7
    assert panel.model.rowCount() == len(session.log)     # later rows stay, greyed


def test_step_and_run_are_off_on_a_capture_and_f10_is_harmless(qtbot, make_window) -> None:
    """F10 on a capture once raised SessionError out of the slot (a traceback, no message);
    Step and Run are now disabled and say why."""
    window = make_window(FIXTURES / "probe.tracefs.txt")
    for action in (window.step_action, window.run_action, window.run_to_exit_action):
        assert not action.isEnabled()
        assert "read-only" in action.toolTip()
    qtbot.keyClick(window, Qt.Key.Key_F10)
    qtbot.keyClick(window, Qt.Key.Key_F8)
    assert window.controller.session.read_only


def test_importing_a_filter_into_a_capture_points_to_what_if(make_window, tmp_path) -> None:
    """A capture cannot Apply: the import's notice once told the user to."""
    window = make_window(FIXTURES / "probe.tracefs.txt")
    path = tmp_path / "deny-apic-base.toml"
    path.write_text('flags = 0\nranges = [{ flags = 1, base = "0x1b", nmsrs = 1, '
                    'bitmap = "00" }]\n')
    notices: list[str] = []
    window.controller.notice.connect(notices.append)
    files = window.filter_editor.files
    assert files.import_from(path)
    assert "What if" in notices[-1] and "Apply" not in notices[-1]
    assert "Apply" not in files.import_action.text()


def test_step_back_on_a_capture_shows_one_step_less(qtbot, make_window) -> None:
    """A capture's steps are its exits: Shift+F10 (and the toolbar's Step back) hide the
    last step's rows, as the replay slider does."""
    window = make_window(FIXTURES / "probe.tracefs.txt")
    session = window.controller.session
    last = session.step
    assert last > 1 and window.step_back_action.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    assert session.step == last - 1
    assert session.visible_rows == session.log.row_of_step(last)
    assert window.status["step"].text() == f"step {last - 1}/{last}"
    window.replay_view.slider.setValue(0)
    assert not window.step_back_action.isEnabled()
    assert "step 0" in window.step_back_action.toolTip()
    qtbot.keyClick(window, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    assert session.step == 0
