"""Issue 12: the GUI never wedges and every panel shows the session's current state,
driven as a user would (keys and clicks on the window)."""

from pathlib import Path

import numpy as np
import pytest
from clicks import click_row
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from workbench.cli import DEMO_SCENARIO
from workbench.gui.replay.landmarks import LANDMARKS
from workbench.gui.timeline.lanes import EMPTY
from workbench.gui.timeline.marks import CATEGORIES, SEVERITY_SHIFT
from workbench.session import commands as c
from workbench.session.eventlog import EventKind
from workbench.session.recording.cli import record

S390 = DEMO_SCENARIO.parent / "s390-detached-vf.toml"
PCI_ACTIONS = 10  # s390-detached-vf.toml: 8 actions, one of them repeated 3 times


def gp_count(window) -> int:
    """#GP marks the whole-session timeline draws (runs of #GP pixels in any lane)."""
    window.timeline.fit()
    gp = [c.label for c in CATEGORIES].index("#GP")
    codes = window.timeline.codes
    severity = np.where(codes == EMPTY, -1, codes >> SEVERITY_SHIFT) == gp
    return int(np.sum(severity[:, 1:] & ~severity[:, :-1]) + np.sum(severity[:, 0]))


def test_a_scenario_without_vcpus_cannot_be_run_and_never_wedges(qtbot, make_window):
    window = make_window(S390)
    for action in (window.run_action, window.run_to_exit_action, window.pause_action):
        assert not action.isEnabled()
    assert "no vCPUs" in window.run_action.toolTip()
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.keyClick(window, Qt.Key.Key_F8)
    assert not window.runner.running
    assert "running" not in window.vcpu_panel.state.text()
    assert window.open_action.isEnabled() and window.step_action.isEnabled()


def test_a_failing_worker_is_shown_and_the_window_returns_to_idle(qtbot, make_window, loop,
                                                                   monkeypatch):
    window = make_window(loop)

    def broken(command, announce=True):
        raise RuntimeError("engine lost")

    monkeypatch.setattr(window.controller, "apply", broken)
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    assert "engine lost" in window.statusBar().currentMessage()
    assert "engine lost" in window.vcpu_panel.state.toolTip()  # elided in the label
    assert window.step_action.isEnabled() and window.run_action.isEnabled()
    assert not window.pause_action.isEnabled()


def test_a_gp_from_a_user_space_error_is_a_gp_event(qtbot, make_window):
    window = make_window()
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    session = window.controller.session
    gp_rows = session.log.select(kinds=EventKind.MSR_GP)
    assert [session.log.row(int(r))["msr"] for r in gp_rows] == [0xC0010015, 0xC0011029]
    assert session.regs(0).r14 == 2  # the guest took two #GPs
    # Both #GPs happened in the run's one step: the timeline shows that step as a #GP.
    assert len({session.log.row(int(r))["step"] for r in gp_rows}) == 1
    assert gp_count(window) == 1
    assert "MSR_GP 2" in window.log_panel.counters.text()


def test_the_replay_of_the_demo_offers_its_first_gp(qtbot, make_window, tmp_path: Path):
    recording = tmp_path / "demo.jsonl"
    assert record(DEMO_SCENARIO, recording) == 0
    window = make_window(recording)
    button = window.replay_view.jump_buttons[LANDMARKS[0].label]
    assert button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert window.controller.session.step == 1


def test_opening_a_pci_story_leaves_nothing_of_the_previous_scenario(qtbot, make_window):
    window = make_window()
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    panel = window.vcpu_panel
    assert panel.handlers.table.rowCount() == 3 and "halted" in panel.state.text()
    assert window.open_path(S390)
    assert panel.handlers.table.rowCount() == 0
    assert panel.source.editor.toPlainText() == ""
    assert all(panel.registers.item(r, 0).text() == "" for r in range(panel.registers.rowCount()))
    assert "halted" not in panel.state.text()
    assert "no vCPU" in window.bitmaps.status.text()
    assert window.bitmaps.images["bitmap"].values is None
    assert window.status["profile"].text() == "vfio-pci linux-5.9"
    assert not window.status["vendor"].isVisible()


def test_f10_plays_the_pci_actions_one_step_each(qtbot, make_window):
    window = make_window(S390)
    session = window.controller.session
    assert session.step == 0
    for step in range(1, PCI_ACTIONS + 1):
        assert window.step_action.isEnabled()
        qtbot.keyClick(window, Qt.Key.Key_F10)
        assert session.step == step and isinstance(session.history[-1], c.Pci)
        assert window.status["step"].text() == f"step {step}/{step}"
    assert type(session.history[0].action).__name__ == "EnableMemoryStep"
    assert not window.step_action.isEnabled()
    assert "every PCI action" in window.step_action.toolTip()
    qtbot.keyClick(window, Qt.Key.Key_F10)
    assert session.step == PCI_ACTIONS
    steps = session.log.column("step")  # step 0: the scenario builds its devices
    assert set(steps.tolist()) == set(range(PCI_ACTIONS + 1))
    assert window.log_panel.model.rowCount() == len(session.log)
    table = window.log_panel.table  # VFIO kind names are not truncated
    assert table.columnWidth(0) > table.fontMetrics().horizontalAdvance("VFIO_PHYS_CONFIG_WRITE")


def test_the_timeline_marks_the_current_step_on_whole_steps(qtbot, make_window, filtered):
    window = make_window(filtered)
    timeline = window.timeline
    qtbot.keyClick(window, Qt.Key.Key_F10)
    qtbot.keyClick(window, Qt.Key.Key_F10)
    assert timeline.step == 2
    qtbot.keyClick(window, Qt.Key.Key_F8)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    assert timeline.step == 3
    axis = timeline.plot.getPlotItem().getAxis("bottom")
    ticks = [v for _, values in axis.tickValues(0.0, 3.0, 400.0) for v in values]
    assert ticks and all(float(v).is_integer() for v in ticks)
    assert timeline.plot.getPlotItem().legend is None  # the legend sits under the plot
    assert all(c.label.replace(" ", "&nbsp;") in timeline.legend.text() for c in CATEGORIES)
    assert timeline.legend.geometry().top() >= timeline.plot.geometry().bottom()


def test_pause_shows_the_real_last_exit(qtbot, make_window, loop):
    window = make_window(loop)
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: window.controller.session.log.counters()["exits"] > 0,
                    timeout=10_000)
    qtbot.keyClick(window, Qt.Key.Key_F5, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    state = window.vcpu_panel.state.text()
    assert state == "paused (KVM_EXIT_INTR)" and "halted" not in state
    assert np.any(window.controller.session.log.column("kind") == EventKind.INTR)


def test_handlers_remove_acts_on_the_highlighted_row_and_never_pushes_a_no_op(
        qtbot, make_window):
    window = make_window()
    handlers, session = window.vcpu_panel.handlers, window.controller.session
    stack = window.controller.undo_stack
    assert not handlers.remove_button.isEnabled()  # nothing highlighted
    click_row(qtbot, handlers.table, 0)
    assert handlers.msr.value() == 0x35
    qtbot.mouseClick(handlers.remove_button, Qt.MouseButton.LeftButton)
    assert sorted(session.handler_rules()) == [0xC0010015, 0xC0011029]
    click_row(qtbot, handlers.table, 0)  # the row that moved up is HWCR's now
    assert handlers.msr.value() == 0xC0010015
    qtbot.mouseClick(handlers.remove_button, Qt.MouseButton.LeftButton)
    assert sorted(session.handler_rules()) == [0xC0011029]
    assert stack.count() == 2
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert 0xC0010015 in session.handler_rules()
    qtbot.mouseClick(handlers.set_button, Qt.MouseButton.LeftButton)  # no change: no edit
    assert stack.count() == 2 and stack.canRedo()


def test_a_rejected_filter_row_is_coloured_and_shows_its_errno(qtbot, make_window):
    from workbench.gui.filter_editor.table import NMSRS
    from workbench.gui.log.model import VALUE

    window = make_window()
    editor = window.filter_editor
    editor.table.set_text(0, NMSRS, "13000")
    qtbot.mouseClick(editor.apply_button, Qt.MouseButton.LeftButton)
    model = window.log_panel.model
    rows = [r for r in range(model.rowCount()) if model.text(model.log_row(r), 0) ==
            "FILTER_SET"]
    assert len(rows) == 1
    assert model.text(model.log_row(rows[0]), VALUE) == "EINVAL (-22)"
    failed = model.data(model.index(rows[0], 0), Qt.ItemDataRole.BackgroundRole).color()
    qtbot.keyClick(window, Qt.Key.Key_F10)
    ok = model.data(model.index(model.rowCount() - 1, 0), Qt.ItemDataRole.BackgroundRole)
    assert ok is None or ok.color() != failed


def test_assembling_a_program_keeps_handlers_filter_and_breakpoints(qtbot, make_window):
    window = make_window()
    panel = window.vcpu_panel
    handlers = panel.handlers
    handlers.msr.setText("0x35")
    handlers.kind.setCurrentText("constant")
    handlers.value.setText("0x20002")
    qtbot.mouseClick(handlers.set_button, Qt.MouseButton.LeftButton)
    tabs = panel.side_tabs
    qtbot.mouseClick(tabs.tabBar(), Qt.MouseButton.LeftButton,
                     pos=tabs.tabBar().tabRect(tabs.indexOf(panel.msr_breakpoints)).center())
    panel.msr_breakpoints.index.setText("0x10")
    qtbot.mouseClick(panel.msr_breakpoints.add_button, Qt.MouseButton.LeftButton)
    filter_before = window.controller.session.msr_filter()
    panel.code_tabs.setCurrentWidget(panel.source)
    panel.source.editor.setPlainText("mov ecx, 0x35\nrdmsr\nhlt")
    qtbot.mouseClick(panel.source.assemble_button, Qt.MouseButton.LeftButton)
    session = window.controller.session
    assert session.handler_rules()[0x35].value == 0x20002
    assert session.breakpoints(0)[1] == frozenset({0x10})
    assert session.msr_filter() == filter_before
    assert "history restarts" in window.statusBar().currentMessage()
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    assert session.regs(0).rax == 0x20002
    assert panel.disassembly.rowCount() == 3
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undoable
    assert panel.disassembly.rowCount() > 3  # the scenario's own program again
    assert window.controller.session.handler_rules()[0x35].value == 0x20002


def test_the_window_fits_1280x800_with_a_long_recording_open(qtbot, make_window,
                                                             tmp_path: Path):
    recording = tmp_path / "s390.jsonl"
    assert record(S390, recording) == 0
    window = make_window(recording)
    hint = window.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 800
    assert window.width() <= 1280 and window.height() <= 800


def test_a_saved_layout_that_does_not_fit_is_discarded(qtbot, make_window, settings):
    first = make_window(None)
    first.resize(1726, 900)  # as an older workbench could save it
    first.settings.save_layout(first.saveGeometry(), first.saveState(), first.size())
    again = make_window(None)
    assert again.width() <= 1280 and again.height() <= 800
    assert again.settings.layout() == (None, None)


def test_a_layout_that_fits_is_restored(qtbot, make_window):
    first = make_window(None)
    first.docks["compare"].close()
    first.close()  # saves the layout
    again = make_window(None)
    assert not again.docks["compare"].isVisible() and again.docks["log"].isVisible()


def test_the_profile_tab_numbers_steps_as_the_log_does(qtbot, make_window):
    window = make_window(S390)
    session = window.controller.session
    qtbot.keyClick(window, Qt.Key.Key_F10)  # step 1: enable_memory
    qtbot.mouseClick(window.filter_editor.apply_button, Qt.MouseButton.LeftButton)
    assert session.step == 2 and not isinstance(session.history[1], c.Pci)
    qtbot.keyClick(window, Qt.Key.Key_F10)  # step 3: config_read
    window.docks["vfio"].raise_()
    panel = window.vfio_panel
    panel.tabs.setCurrentWidget(panel.profiles)
    qtbot.waitUntil(lambda: bool(panel.profiles.rows), timeout=10_000)
    assert sorted({row.step for row in panel.profiles.rows}) == [0, 1, 3]
    log_steps = set(session.log.column("step").tolist())
    assert {1, 3} <= log_steps


IN_KERNEL_LOOP = '''
version = 1
name = "in-kernel TSC reads only"
[[vcpus]]
source = """
again:
    mov ecx, 0x10
    rdmsr
    inc rbx
    jmp again
"""
'''


def test_a_free_run_without_exits_shows_progress_while_it_runs(qtbot, make_window,
                                                               tmp_path: Path):
    path = tmp_path / "tsc-loop.toml"
    path.write_text(IN_KERNEL_LOOP)
    window = make_window(path)
    qtbot.keyClick(window, Qt.Key.Key_F5)
    model = window.log_panel.model
    qtbot.waitUntil(lambda: model.rowCount() > 100, timeout=10_000)  # hang guard
    assert window.runner.running
    assert window.vcpu_panel.state.text() == "vcpu0 running…"  # refreshes keep saying so
    assert "MSR_READ" in window.log_panel.counters.text()
    qtbot.keyClick(window, Qt.Key.Key_F5, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    session = window.controller.session
    assert window.vcpu_panel.state.text() == "paused (KVM_EXIT_INTR)"
    assert model.rowCount() == len(session.log)
    assert session.regs(0).rbx > 0


@pytest.mark.host
def test_compare_shows_time_derived_values_as_volatile_with_their_cause(qtbot, make_window):
    window = make_window()
    view = window.compare_view
    window.docks["compare"].raise_()
    qtbot.mouseClick(view.compare_button, Qt.MouseButton.LeftButton)
    result = view.result
    assert result is not None and result.compared, result and result.reason
    assert result.first_divergence is None
    table = view.table
    marks = {table.item(r, 1).text(): table.item(r, 0).text() for r in range(table.rowCount())}
    tsc = [text for text in marks if "IA32_TSC" in text]
    assert len(tsc) == 1 and marks[tsc[0]].endswith("~ volatile")
    rdx = [text for text in marks if text.startswith("vcpu0 rdx=")]
    assert marks[rdx[0]].endswith("~ volatile")
    assert "volatile" in view.status.text()


def test_a_pending_exit_keeps_registers_addresses_and_the_window_in_view(
        qtbot, make_window, filtered):
    window = make_window(filtered)
    panel = window.vcpu_panel
    for _ in range(2):
        qtbot.keyClick(window, Qt.Key.Key_F10)
    assert panel.pending.isVisible()
    hint = window.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 800
    registers = panel.registers
    visible_rows = registers.viewport().height() // registers.rowHeight(0)
    assert visible_rows >= 5  # not squeezed to a row or two
    view = panel.disassembly
    assert view.horizontalScrollBar().value() == 0
    address = view.visualItemRect(view.item(view.current_row(), 1))
    assert view.viewport().rect().contains(address.center())
    assert not view.wordWrap()  # an instruction is one line, never clipped mid-wrap


def test_heatmaps_are_readable_docked_and_no_two_meanings_share_a_green(qtbot, make_window):
    from workbench.gui import palette

    window = make_window()
    window.resize(1280, 760)
    window.docks["bitmaps"].raise_()
    qtbot.wait(50)
    for name in ("read", "write", "bitmap"):
        image = window.bitmaps.images[name]
        shown = image.mapRectToScene(image.boundingRect()).size()
        assert shown.width() >= 60 and shown.height() >= 100, name
    meanings = (palette.ALLOW, palette.DENY, palette.EXEMPT, palette.PASSTHROUGH,
                palette.INTERCEPT)
    assert len({colour.lower() for colour in meanings}) == len(meanings)
    assert palette.PASSTHROUGH.lower() in window.bitmaps.findChildren(QLabel)[-1].text().lower()
