"""Replay view: seeking and stepping back show the chosen step in every panel, the
jump-to-first buttons land on the right step, bookmarks persist in the recording, and
playing is a stoppable timer."""

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from workbench.cli import DEMO_SCENARIO
from workbench.gui.filter_editor.draft import Draft
from workbench.kvm.filter import MsrFilter
from workbench.session import commands as c
from workbench.session.recording import Recorder, read_recording
from workbench.session.recording.cli import record
from workbench.session.scenario import load
from workbench.session.session import Session

# TSC read in the kernel, then denied by a SetFilter (a FILTER exit, answered by hand),
# then an MSR KVM does not know: the kernel injects #GP (no UNKNOWN exits asked for).
PROBE = '''
version = 1
name = "replay probe"
[vm]
vendor = "intel"
[caps]
user_space_msr = ["FILTER"]
[[vcpus]]
source = """
    mov ecx, 0x10
    rdmsr
    mov ecx, 0x10
    rdmsr
    mov ecx, 0x12345678
    rdmsr
    hlt
"""
'''
DENY_TSC = {"flags": 0, "ranges": [{"flags": 3, "base": "0x10", "nmsrs": 1, "bitmap": "00"}]}
COMMANDS = [c.StepVcpu(), c.StepVcpu(), c.SetFilter(filter=DENY_TSC), c.StepVcpu(),
            c.StepVcpu(), c.Answer(data=0x1234), c.StepVcpu(), c.StepVcpu(),
            c.SetFilter(filter=None), c.Run()]
FIRST_DENIED, FIRST_GP = 5, 10


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    """A recording of COMMANDS on PROBE."""
    scenario = tmp_path / "probe.toml"
    scenario.write_text(PROBE)
    session = Session(load(scenario))
    recorder = Recorder.start(session, tmp_path / "probe.jsonl")
    for command in COMMANDS:
        assert session.apply(command).error is None
    recorder.close()
    session.close()
    return recorder.path


def reference(scenario_text_path: Path, step: int) -> Session:
    """A fresh session that applied the first `step` commands: the truth to compare with."""
    session = Session(load(scenario_text_path))
    for command in COMMANDS[:step]:
        session.apply(command)
    return session


def shown_registers(window) -> dict[str, int]:
    view = window.vcpu_panel.registers
    return {view.verticalHeaderItem(row).text(): int(view.item(row, 0).text(), 16)
            for row in range(view.rowCount())}


def check_panels(window, truth: Session) -> None:
    session = window.controller.session
    step = truth.step
    assert session.step == step
    assert shown_registers(window) == truth.regs(0).as_dict()
    assert window.log_panel.model.future_from == session.visible_rows == len(truth.log)
    expected = Draft.from_filter(truth.msr_filter()).to_filter()
    assert window.filter_editor.draft.to_filter() == expected
    tsc_read = window.bitmaps.pixel("read", 0x10)
    assert bool(tsc_read) == truth.msr_allowed(0x10, False)
    assert window.timeline.step == step
    view = window.replay_view
    assert view.slider.value() == step and view.step_label.text() == f"step {step} / 10"


def test_seek_and_step_back_show_the_step_in_every_panel(qtbot, make_window, probe, tmp_path):
    scenario = tmp_path / "probe.toml"
    window = make_window(probe)
    view = window.replay_view
    assert view.replay is not None and view.last_step == len(COMMANDS)
    assert window.docks["replay"].isVisible()
    for step in (4, 2, 8, 0, 10):
        view.slider.setValue(step)
        check_panels(window, reference(scenario, step))
    view.seek(7)
    qtbot.mouseClick(view.back_button, Qt.MouseButton.LeftButton)
    check_panels(window, reference(scenario, 6))
    qtbot.mouseClick(view.back_button, Qt.MouseButton.LeftButton)
    check_panels(window, reference(scenario, 5))   # the filter still denies TSC here
    deny = Draft.from_filter(MsrFilter.from_dict(DENY_TSC)).to_filter()
    assert window.filter_editor.draft.to_filter() == deny
    qtbot.mouseClick(view.forward_button, Qt.MouseButton.LeftButton)
    check_panels(window, reference(scenario, 6))


def test_jump_buttons_land_on_the_first_row_of_their_kind(qtbot, make_window, probe, tmp_path):
    window = make_window(probe)
    buttons = window.replay_view.jump_buttons
    session = window.controller.session
    qtbot.mouseClick(buttons["First denied MSR"], Qt.MouseButton.LeftButton)
    assert session.step == FIRST_DENIED
    qtbot.mouseClick(buttons["First #GP"], Qt.MouseButton.LeftButton)
    assert session.step == FIRST_GP
    assert not buttons["First blocked MMIO"].isEnabled()

    # The s390 story, with a vCPU: the bitmap inspector needs one to show anything.
    scenario = tmp_path / "s390.toml"
    scenario.write_text((DEMO_SCENARIO.parent / "s390-detached-vf.toml").read_text()
                        + '\n[[vcpus]]\nsource = "hlt"\n')
    vfio = tmp_path / "s390.jsonl"
    assert record(scenario, vfio) == 0
    window = make_window(vfio)
    session = window.controller.session
    blocked = session.log.select(kinds="VFIO_REGION_BLOCKED")
    expected = int(session.log.column("step")[blocked[0]])
    qtbot.mouseClick(window.replay_view.jump_buttons["First blocked MMIO"],
                     Qt.MouseButton.LeftButton)
    assert session.step == expected == 5   # step 1 runs the vCPU; the 4th PCI action


def test_bookmarks_are_saved_in_the_recording(qtbot, make_window, probe, monkeypatch):
    window = make_window(probe)
    marks = window.replay_view.bookmarks
    window.replay_view.seek(FIRST_DENIED)
    monkeypatch.setattr("workbench.gui.replay.bookmarks.QInputDialog.getText",
                        lambda *_a, **_k: ("TSC denied here", True))
    qtbot.mouseClick(marks.add_button, Qt.MouseButton.LeftButton)
    window.replay_view.seek(2)
    marks.set_note(2, "in-kernel TSC read")
    assert read_recording(probe).bookmarks == {2: "in-kernel TSC read",
                                               FIRST_DENIED: "TSC denied here"}

    again = make_window(probe)
    marks = again.replay_view.bookmarks
    assert [marks.list.item(i).text() for i in range(marks.list.count())] == [
        "step 2: in-kernel TSC read", f"step {FIRST_DENIED}: TSC denied here"]
    marks.list.setCurrentRow(1)
    monkeypatch.setattr("workbench.gui.replay.bookmarks.QInputDialog.getText",
                        lambda *_a, **_k: ("first FILTER exit", True))
    qtbot.mouseClick(marks.edit_button, Qt.MouseButton.LeftButton)
    marks.list.setCurrentRow(0)
    qtbot.mouseClick(marks.remove_button, Qt.MouseButton.LeftButton)
    marks.list.itemActivated.emit(marks.list.item(0))
    assert again.controller.session.step == FIRST_DENIED
    assert read_recording(probe).bookmarks == {FIRST_DENIED: "first FILTER exit"}
    assert make_window(probe).replay_view.bookmarks.bookmarks() == {
        FIRST_DENIED: "first FILTER exit"}


def test_play_steps_on_a_timer_and_stops(qtbot, make_window, probe):
    window = make_window(probe)
    view = window.replay_view
    view.timer.setInterval(5)
    seen: list[int] = []
    window.controller.changed.connect(lambda: seen.append(window.controller.session.step))
    view.seek(7)
    seen.clear()
    view.play()
    assert view.playing and not view.play_button.isEnabled()
    qtbot.waitUntil(lambda: not view.playing, timeout=10_000)
    assert seen == [8, 9, 10] and window.controller.session.step == 10
    view.play()   # at the end: plays again from the start
    qtbot.waitUntil(lambda: window.controller.session.step >= 2, timeout=10_000)
    qtbot.mouseClick(view.pause_button, Qt.MouseButton.LeftButton)
    stopped_at = window.controller.session.step
    qtbot.wait(50)
    assert not view.playing and window.controller.session.step == stopped_at < 10


def test_a_scenario_replays_its_own_history_without_bookmarks(qtbot, make_window):
    window = make_window()
    view = window.replay_view
    assert view.replay is None and not view.bookmarks.add_button.isEnabled()
    window.vcpu_panel.step()
    window.vcpu_panel.step()
    assert view.last_step == 2 and view.step_label.text() == "step 2 / 2"
    view.step_back()
    assert window.controller.session.step == 1 and view.slider.value() == 1


def test_a_one_step_recording_says_one_step(make_window, tmp_path):
    recording = tmp_path / "demo.jsonl"
    assert record(DEMO_SCENARIO, recording) == 0   # one Run command
    window = make_window(recording)
    assert window.replay_view.source_label.text() == "Recording demo.jsonl: 1 step."
