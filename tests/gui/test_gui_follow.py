"""Issue 12, one refresh path: after a seek, a replay step, a scenario or a recording swap,
every panel shows what the session's queries say for the current step, driven as a user
would (keys, buttons, the slider, File -> Open)."""

from pathlib import Path

from clicks import click_dock_tab
from PySide6.QtCore import QPoint, Qt

from workbench.cli import DEMO_SCENARIO
from workbench.gui.filter_editor.table import NMSRS
from workbench.gui.log.panel import format_counters
from workbench.gui.vcpu.panel import vcpu_state
from workbench.session import pci_view as pv
from workbench.session.recording.cli import record
from workbench.vfio import config_space as cs

S390 = DEMO_SCENARIO.parent / "s390-detached-vf.toml"
SRIOV = DEMO_SCENARIO.parent / "x86-sriov-vf.toml"


def command_bits_shown(panel) -> int:
    boxes = panel.command_bits.boxes
    return sum(mask for name, mask in pv.COMMAND_BITS.items() if boxes[name].isChecked())


def decisions(msr_filter) -> tuple:
    """A filter as the kernel reads it: a bitmap shorter than nmsrs bits is zero-padded."""
    return msr_filter.flags, tuple(
        (r.flags, r.base, r.nmsrs, r.bitmap.ljust((r.nmsrs + 7) // 8, b"\0"))
        for r in msr_filter.ranges)


def assert_shows_the_session(window) -> None:
    """Every panel against the session's own answers for the step it stands at."""
    session = window.controller.session
    step, last = session.step, len(session.history)
    assert window.status["step"].text() == f"step {step}/{last}"
    replay = window.replay_view
    assert replay.step_label.text() == f"step {step} / {last}"
    assert replay.slider.value() == step and replay.slider.maximum() == last
    assert window.timeline.step == step
    assert window.log_panel.model.future_from == session.visible_rows
    assert window.log_panel.counters.text() == format_counters(session.counters())
    assert session.counters()["events"] == session.visible_rows
    assert decisions(window.filter_editor.draft.to_filter()) == decisions(session.msr_filter())
    vcpu = window.vcpu_panel
    if session.vcpu_count:
        assert vcpu.state.text() == vcpu_state(session, 0)
        rip = session.regs(0).rip
        assert vcpu.registers.item(16, 0).text() == f"{rip:#018x}"
        assert vcpu.disassembly.rip == rip
    else:
        assert vcpu.disassembly.rowCount() == 0
    vfio = window.vfio_panel
    if session.has_pci:
        word = session.pci_word(vfio.device, cs.COMMAND)
        assert command_bits_shown(vfio) == (word.user if word.user is not None else word.phys)
        assert vfio.grid.grid_model.traps == session.pci_step_trap_bits(vfio.device)
    else:
        assert not vfio.tabs.isEnabled()


def test_every_panel_follows_seeks_and_replay_steps(qtbot, make_window):
    window = make_window()
    editor = window.filter_editor
    for _ in range(2):
        qtbot.keyClick(window, Qt.Key.Key_F10)
    editor.table.set_text(0, NMSRS, "0x2")
    qtbot.mouseClick(editor.apply_button, Qt.MouseButton.LeftButton)  # step 3: a new filter
    qtbot.keyClick(window, Qt.Key.Key_F10)
    assert window.controller.session.step == 4
    assert_shows_the_session(window)
    for _ in range(2):  # back before the filter: the editor shows the scenario's again
        qtbot.keyClick(window, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    assert window.controller.session.step == 2
    assert_shows_the_session(window)
    editor.table.set_text(0, NMSRS, "0x5")  # an edit in progress survives a step that
    qtbot.mouseClick(window.replay_view.back_button, Qt.MouseButton.LeftButton)
    assert editor.table.item(0, NMSRS).text() == "0x5"  # leaves the filter in force alone
    qtbot.mouseClick(editor.revert_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.replay_view.forward_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.replay_view.forward_button, Qt.MouseButton.LeftButton)
    assert window.controller.session.step == 3
    assert_shows_the_session(window)
    window.replay_view.slider.setValue(0)
    assert_shows_the_session(window)


def test_the_vfio_panel_follows_seeks_with_the_traps_of_the_step(qtbot, make_window):
    window = make_window(SRIOV)
    click_dock_tab(qtbot, window, "VFIO")
    tree = window.vfio_panel.tree
    vf0 = tree.visualItemRect(tree.item_of("vf0"))
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=vf0.topLeft() + QPoint(8, 4))
    assert window.vfio_panel.device == "vf0"
    for _ in range(4):
        qtbot.keyClick(window, Qt.Key.Key_F10)
    qtbot.keyClick(window, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    assert window.controller.session.step == 3
    assert_shows_the_session(window)
    assert window.vfio_panel.grid.grid_model.traps  # clear_memory's write is outlined
    qtbot.mouseClick(window.replay_view.back_button, Qt.MouseButton.LeftButton)
    assert_shows_the_session(window)
    window.replay_view.slider.setValue(0)
    assert_shows_the_session(window)
    assert window.vfio_panel.grid.grid_model.traps == {}


def test_every_panel_follows_scenario_and_recording_swaps(qtbot, make_window,
                                                          tmp_path: Path):
    window = make_window()
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    assert_shows_the_session(window)
    assert window.open_path(S390)
    assert_shows_the_session(window)
    for _ in range(3):
        qtbot.keyClick(window, Qt.Key.Key_F10)
    assert_shows_the_session(window)
    recording = tmp_path / "demo.jsonl"
    assert record(DEMO_SCENARIO, recording) == 0
    assert window.open_path(recording)
    assert window.replay_view.replay is not None
    assert_shows_the_session(window)
    qtbot.mouseClick(window.replay_view.back_button, Qt.MouseButton.LeftButton)
    assert_shows_the_session(window)
    assert window.open_path(SRIOV)
    assert window.replay_view.replay is None  # the recording went with its session
    assert_shows_the_session(window)
