"""The vCPU panel driven by keys and clicks: stepping, the pending exit, handlers,
breakpoints and the source editor, checked in the session and on screen."""

from PySide6.QtCore import Qt

from workbench.session.eventlog import EventKind


def kinds(window):
    log = window.controller.session.log
    return [EventKind(k) for k in log.column("kind")]


def press(qtbot, window, key, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(window, key, modifier)


def test_step_onto_filtered_rdmsr_opens_the_pending_exit_editor(qtbot, make_window, filtered):
    window = make_window(filtered)
    panel, session = window.vcpu_panel, window.controller.session
    press(qtbot, window, Qt.Key.Key_F10)   # mov ecx
    assert session.step == 1
    assert "rcx" in panel.registers.changed
    assert not panel.pending.isVisible()
    press(qtbot, window, Qt.Key.Key_F10)   # rdmsr -> KVM_EXIT_X86_RDMSR, reason FILTER
    assert EventKind.MSR_EXIT in kinds(window)
    assert session.needs_answer(0)
    assert panel.pending.isVisible()
    assert "0xc0010015" in panel.pending.what.text()
    assert "FILTER" in panel.pending.why.text()
    assert panel.pending.data.text() == "0x0"
    assert window.log_panel.model.rowCount() == len(session.log)

    panel.pending.data.setText("0x1122334455667788")
    qtbot.mouseClick(panel.pending.answer_button, Qt.MouseButton.LeftButton)
    assert kinds(window)[-1] is EventKind.USER_ANSWER
    assert not session.needs_answer(0)
    assert not panel.pending.isVisible()
    press(qtbot, window, Qt.Key.Key_F10)   # completes the rdmsr with the answer
    regs = session.regs(0)
    assert (regs.rdx << 32 | regs.rax) == 0x1122334455667788
    assert {"rax", "rdx", "rip"} <= panel.registers.changed
    assert panel.disassembly.rip == regs.rip
    row = panel.disassembly.current_row()
    assert panel.disassembly.item(row, 3).text() == "mov rbx, rax"


def test_answer_with_error_injects_gp(qtbot, make_window, filtered):
    window = make_window(filtered)
    for _ in range(2):
        press(qtbot, window, Qt.Key.Key_F10)
    panel = window.vcpu_panel
    panel.pending.error.setValue(1)
    qtbot.mouseClick(panel.pending.answer_button, Qt.MouseButton.LeftButton)
    row = window.controller.session.log.row(-1)
    assert row["kind"] is EventKind.USER_ANSWER and row["errno"] == 1


def test_handler_edit_is_undoable(qtbot, make_window, filtered):
    window = make_window(filtered)
    handlers, session = window.vcpu_panel.handlers, window.controller.session
    handlers.msr.setText("c0010015")
    handlers.kind.setCurrentText("constant")
    handlers.value.setText("0xabc")
    qtbot.mouseClick(handlers.set_button, Qt.MouseButton.LeftButton)
    assert session.handler_rules()[0xC0010015].value == 0xABC
    assert handlers.table.rowCount() == 1 and handlers.table.item(0, 1).text() == "constant"

    handlers.kind.setCurrentText("fail")
    qtbot.mouseClick(handlers.set_button, Qt.MouseButton.LeftButton)
    assert session.handler_rules()[0xC0010015].kind == "fail"

    press(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert session.handler_rules()[0xC0010015].kind == "constant"
    press(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert 0xC0010015 not in session.handler_rules()
    assert handlers.table.rowCount() == 0
    press(qtbot, window, Qt.Key.Key_Z,
          Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert session.handler_rules()[0xC0010015].kind == "constant"

    # With the rule in place the run no longer stops for the user.
    press(qtbot, window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    assert session.halted(0)
    assert session.regs(0).rbx == 0xABC


def test_address_breakpoint_from_the_gutter(qtbot, make_window, filtered):
    window = make_window(filtered)
    view, session = window.vcpu_panel.disassembly, window.controller.session
    hlt = view.addresses[-1]
    rect = view.visualItemRect(view.item(len(view.addresses) - 1, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert hlt in session.breakpoints(0)[0]
    assert view.item(len(view.addresses) - 1, 0).text() == "●"
    press(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert hlt not in session.breakpoints(0)[0]
    assert view.item(len(view.addresses) - 1, 0).text() == ""


def test_msr_breakpoint_list_takes_hex_and_stops_the_run(qtbot, make_window):
    window = make_window()
    bps, session = window.vcpu_panel.msr_breakpoints, window.controller.session
    tabs = window.vcpu_panel.side_tabs
    qtbot.mouseClick(tabs.tabBar(), Qt.MouseButton.LeftButton,
                     pos=tabs.tabBar().tabRect(tabs.indexOf(bps)).center())
    assert bps.isVisible()
    qtbot.keyClicks(bps.index, "zz")
    assert bps.index.text() == ""          # the validator refuses non-hex
    qtbot.keyClicks(bps.index, "0xc0010015")
    qtbot.mouseClick(bps.add_button, Qt.MouseButton.LeftButton)
    assert session.breakpoints(0)[1] == {0xC0010015}
    assert bps.list.count() == 1 and "HWCR" in bps.list.item(0).text()
    press(qtbot, window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    assert kinds(window)[-1] is EventKind.BREAKPOINT
    bps.list.setCurrentRow(0)
    qtbot.mouseClick(bps.remove_button, Qt.MouseButton.LeftButton)
    assert session.breakpoints(0)[1] == frozenset()


def test_source_editor_points_at_the_bad_line_then_replaces_the_program(
        qtbot, make_window, filtered):
    window = make_window(filtered)
    source = window.vcpu_panel.source
    window.vcpu_panel.code_tabs.setCurrentWidget(source)
    old_session = window.controller.session
    old_listing = [i.text for i in old_session.listing(0)]
    source.editor.setPlainText("mov ecx, 0x10\nfrobnicate eax\nhlt")
    qtbot.mouseClick(source.assemble_button, Qt.MouseButton.LeftButton)
    assert source.error.isVisible() and "line 2" in source.error.text()
    assert source.error_line == 2
    assert source.editor.extraSelections()[0].cursor.blockNumber() == 1
    assert window.controller.session is old_session

    source.editor.setPlainText("mov ecx, 0x10\nrdmsr\nhlt")
    qtbot.mouseClick(source.assemble_button, Qt.MouseButton.LeftButton)
    assert not source.error.isVisible()
    new = window.controller.session
    assert new is not old_session
    assert [i.text for i in new.listing(0)] == ["mov ecx, 0x10", "rdmsr", "hlt"]
    assert window.vcpu_panel.disassembly.item(1, 3).text() == "rdmsr"

    press(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [i.text for i in window.controller.session.listing(0)] == old_listing
    assert "mov rbx, rax" in source.editor.toPlainText()
