"""The debugger views through their widgets: the machine state panel after a wrmsr, the
memory view following RSP, and reverse navigation (previous write from a trap-log row of
a recording, reverse-continue at the end of the demo, when a register got its value) with
Back/Forward."""

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QLabel, QMenu

from workbench.gui.vcpu.registers import CHANGED
from workbench.kvm.regs import REG_NAMES
from workbench.session import commands as c
from workbench.session.eventlog import EventKind
from workbench.session.eventlog.kinds import EXIT_KINDS
from workbench.session.recording import Recorder
from workbench.session.scenario import load
from workbench.session.session import Session

EFER, PAT = 0xC0000080, 0x277
WRITES = '''
version = 1
name = "EFER.NXE, then PAT"
[[vcpus]]
source = """
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x800
    wrmsr
    mov ecx, 0x277
    mov eax, 0x00000001
    mov edx, 0x00000007
    wrmsr
    mov ecx, 0x277
    rdmsr
    mov rax, 0x1122334455667788
    push rax
    hlt
"""
'''
WRITE_EFER, WRITE_PAT, READ_PAT, SET_RAX, PUSH, HLT = 4, 8, 10, 11, 12, 13


@pytest.fixture
def writes(tmp_path: Path) -> Path:
    path = tmp_path / "writes.toml"
    path.write_text(WRITES)
    return path


def shown(window, dock: str):
    """Raise a panel's tab: a hidden panel waits until it is shown to read the session."""
    window.docks[dock].raise_()
    return window


def step(qtbot, window, times: int) -> None:
    for _ in range(times):
        qtbot.keyClick(window, Qt.Key.Key_F10)


def highlighted(item) -> bool:
    """A tree row's value cell, or a table cell, has the changed colour."""
    brush = item.background(1) if hasattr(item, "childCount") else item.background()
    return brush.color() == CHANGED


def test_stepping_over_wrmsr_highlights_and_decodes_efer_then_pat(qtbot, make_window, writes):
    window = shown(make_window(writes), "machine")
    panel = window.machine_state
    step(qtbot, window, WRITE_EFER)
    efer = panel.item(EFER)
    assert efer.text(1) == "0x0000000000000d00"
    assert efer.text(2) == "LME LMA NXE"
    assert efer.text(3) == f"step {WRITE_EFER}"
    assert highlighted(efer) and highlighted(panel.item("efer"))
    assert not highlighted(panel.item(PAT))
    step(qtbot, window, WRITE_PAT - WRITE_EFER)
    pat = panel.item(PAT)
    assert pat.text(1) == "0x0000000700000001"
    assert pat.text(2).startswith("PA0=WC PA1=UC PA2=UC PA3=UC PA4=UC- PA5=UC")
    assert highlighted(pat) and not highlighted(panel.item(EFER))
    assert panel.item("cs").text(2).startswith("type=0xb code DPL=0 P L")
    assert not panel.note.isVisible()


def test_memory_view_follows_rsp_and_highlights_the_pushed_value(qtbot, make_window, writes):
    window = shown(make_window(writes), "memory")
    view = window.memory_view
    step(qtbot, window, PUSH - 1)
    assert view.address == window.controller.session.regs(0).rsp
    step(qtbot, window, 1)
    rsp = window.controller.session.regs(0).rsp
    assert view.address == rsp
    pushed = [view.byte_item(i) for i in range(8)]
    assert [item.text() for item in pushed] == ["88", "77", "66", "55", "44", "33", "22", "11"]
    assert all(highlighted(item) for item in pushed)
    assert not highlighted(view.byte_item(8))
    view.expression.clear()
    qtbot.keyClicks(view.expression, "rsp+0x10")
    qtbot.keyClick(view.expression, Qt.Key.Key_Return)
    assert view.address == rsp + 0x10
    view.show_address("rsq")
    assert view.error.isVisible() and "address: 'rsq'" in view.error.text()
    view.show_address("rip")
    assert view.byte_item(0).text() == "f4"  # hlt
    step(qtbot, window, 1)
    assert not any(highlighted(view.byte_item(i)) for i in range(16))


@pytest.fixture
def recording(tmp_path: Path, writes: Path) -> Path:
    session = Session(load(writes))
    recorder = Recorder.start(session, tmp_path / "writes.jsonl")
    for _ in range(HLT):
        assert session.apply(c.StepVcpu()).error is None
    recorder.close()
    session.close()
    return recorder.path


def log_row(panel, kind: EventKind, msr: int) -> int:
    for row in range(panel.model.rowCount()):
        record = panel.model.record(panel.model.log_row(row))
        if record["kind"] == kind and record["msr"] == msr:
            return row
    raise AssertionError(f"no {kind.name} row of {msr:#x}")


def test_previous_write_from_a_trap_log_row_then_back_and_forward(qtbot, make_window,
                                                                   recording):
    window = shown(make_window(recording), "machine")
    session = window.controller.session
    panel = window.log_panel
    assert session.step == HLT
    menu = QMenu()
    actions = panel.navigation_actions(log_row(panel, EventKind.MSR_READ, PAT), menu)
    previous = next(a for a in actions if a.text() == "Previous write of IA32_PAT")
    previous.trigger()
    assert session.step == WRITE_PAT
    assert highlighted(window.machine_state.item(PAT))
    assert window.back_action.isEnabled() and not window.forward_action.isEnabled()
    nxt = next(a for a in panel.navigation_actions(log_row(panel, EventKind.MSR_WRITE, PAT),
                                                    menu) if a.text().startswith("Next access"))
    nxt.trigger()
    assert session.step == READ_PAT
    qtbot.keyClick(window, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert session.step == WRITE_PAT
    qtbot.keyClick(window, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert session.step == HLT
    assert not window.back_action.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert session.step == WRITE_PAT
    assert window.forward_action.isEnabled()


def test_msr_file_context_menu_goes_to_the_previous_write(qtbot, make_window, writes):
    window = shown(make_window(writes), "machine")
    step(qtbot, window, HLT)
    panel = window.machine_state
    menu = QMenu()
    actions = panel.context_actions(EFER, menu)
    assert [a.text() for a in actions] == ["Previous write of EFER", "Next access of EFER"]
    actions[0].trigger()
    assert window.controller.session.step == WRITE_EFER
    assert highlighted(panel.item(EFER))
    qtbot.keyClick(window, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert window.controller.session.step == HLT
    panel.tree.setCurrentItem(panel.item(PAT))  # by key, from the tree
    assert window.controller.selected_msr == PAT  # linked selection
    panel.tree.setFocus()
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(panel.tree, Qt.Key.Key_P, ctrl_shift)
    assert window.controller.session.step == WRITE_PAT
    qtbot.keyClick(panel.tree, Qt.Key.Key_N, ctrl_shift)
    assert window.controller.session.step == READ_PAT


def test_reverse_continue_from_the_end_of_the_demo_lands_on_the_last_exit(qtbot, make_window):
    window = make_window()
    session = window.controller.session
    while not session.halted(0):
        qtbot.keyClick(window, Qt.Key.Key_F8)
        qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    end = session.step
    log = session.log
    exits = [int(log.column("step")[row]) for row in range(len(log))
             if log.column("kind")[row] in EXIT_KINDS]
    last_before_end = max(s for s in exits if s < end)
    qtbot.keyClick(window, Qt.Key.Key_F8, Qt.KeyboardModifier.ShiftModifier)
    assert session.step == last_before_end
    assert window.log_panel.model.rowCount() > 0
    assert f"step {last_before_end}" in window.statusBar().currentMessage()
    qtbot.keyClick(window, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert session.step == end


def test_when_did_a_register_get_its_value(qtbot, make_window, writes):
    window = make_window(writes)
    step(qtbot, window, HLT)
    panel = window.vcpu_panel
    menu = QMenu()
    actions = panel.register_actions(REG_NAMES.index("rax"), menu)
    assert actions[0].text() == "When did rax get this value?"
    actions[0].trigger()
    assert window.controller.session.step == SET_RAX
    assert "rax" in panel.registers.changed


@pytest.mark.host
def test_host_engine_shows_its_msr_file_with_a_note(qtbot, make_window, writes):
    window = make_window(None)
    window.controller.open_scenario(writes, engine="host")
    qtbot.keyClick(window, Qt.Key.Key_F8)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    panel = shown(window, "machine").machine_state
    assert panel.note.isVisible() and "host engine" in panel.note.text()
    assert panel.item(PAT).text(1) == "0x0000000700000001"
    assert "NXE" in panel.item(EFER).text(2)
    assert shown(window, "memory").memory_view.byte_item(0).text() == "88"


def test_a_hidden_panel_reads_the_session_when_shown(qtbot, make_window, writes):
    window = shown(make_window(writes), "log")
    step(qtbot, window, WRITE_EFER)
    assert window.machine_state.state is None  # a background tab: not read at every step
    shown(window, "machine")
    assert window.machine_state.state.step == WRITE_EFER
    assert highlighted(window.machine_state.item(EFER))


@pytest.mark.parametrize("dock", ["machine", "memory"])
def test_one_vcpu_shows_no_orphan_vcpu_caption(make_window, dock):
    """The vCPU chooser hides with one vCPU; its caption once stayed behind, alone."""
    window = shown(make_window(), dock)
    panel = window.docks[dock].widget()
    assert not panel.vcpu.isVisible()
    captions = [label.text() for label in panel.findChildren(QLabel) if label.isVisible()]
    assert not any("vCPU" in text for text in captions), captions


def test_ctrl_shift_p_and_n_work_on_the_selected_trap_log_row(qtbot, make_window, recording):
    """The trap log's menu shows Ctrl+Shift+P/N beside its MSR commands; the keys once did
    nothing there."""
    window = make_window(recording)
    session, panel = window.controller.session, window.log_panel
    panel.table.setFocus()
    panel.table.selectRow(log_row(panel, EventKind.MSR_READ, PAT))
    assert session.step == READ_PAT                     # selecting a row travels to it
    qtbot.keyClick(panel.table, Qt.Key.Key_P,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert session.step == WRITE_PAT
    panel.table.selectRow(log_row(panel, EventKind.MSR_WRITE, PAT))
    qtbot.keyClick(panel.table, Qt.Key.Key_N,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert session.step == READ_PAT


def test_segment_values_show_whole_at_1280x800(qtbot, make_window, writes):
    """A segment's value (selector, base, limit, attributes) was cut off in the docked
    panel at 1280x800: its column fits its longest text, and a tooltip gives it whole."""
    window = shown(make_window(writes), "machine")
    window.resize(1280, 800)
    panel = window.machine_state
    step(qtbot, window, 1)
    tree = panel.tree
    for name in ("cs", "ds", "ss"):
        item = panel.item(name)
        text = item.text(1)
        assert "limit=" in text and item.toolTip(1) == text
        need = QFontMetrics(item.font(1)).horizontalAdvance(text)
        assert tree.columnWidth(1) >= need, (name, text)
