"""One vCPU up close: its code and registers, how to move it, and what waits on it.

Stepping, answering and breakpoints go through the controller; free runs through the
Runner, so the panel only reads the session when no worker owns it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.controller import SessionController
from workbench.gui.navigation import SHORTCUTS
from workbench.gui.runner_thread import Runner
from workbench.gui.vcpu.breakpoints import MsrBreakpoints
from workbench.gui.vcpu.disassembly import DisassemblyView
from workbench.gui.vcpu.handlers import HandlersEditor
from workbench.gui.vcpu.pending import PendingExitEditor
from workbench.gui.vcpu.registers import RegistersView
from workbench.gui.vcpu.source_editor import SourceEditor
from workbench.gui.widgets import ElidedLabel
from workbench.kvm import uapi
from workbench.kvm.guest.assembler import Program
from workbench.kvm.regs import REG_NAMES
from workbench.session import commands as c
from workbench.session.capture_session import READ_ONLY
from workbench.session.runner import next_pci_command
from workbench.session.session import Session

STOPPED_BY = {uapi.KVM_EXIT_HLT: "halted (KVM_EXIT_HLT)",
              uapi.KVM_EXIT_SHUTDOWN: "shut down (KVM_EXIT_SHUTDOWN)",
              uapi.KVM_EXIT_INTR: "paused (KVM_EXIT_INTR)"}


def vcpu_state(session: Session, vcpu: int) -> str:
    """What the vCPU is doing, from its real last exit."""
    if session.needs_answer(vcpu):
        return "waiting for user space"
    if session.halted(vcpu):
        return STOPPED_BY.get(session.last_exit(vcpu), "stopped")
    return ""


class VcpuPanel(QWidget):
    def __init__(self, controller: SessionController, runner: Runner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller, self.runner = controller, runner
        self.vcpu = 0
        self.run_vcpu = 0  # the vCPU a free run runs (the runner's `started` says which)
        self.toolbar = QToolBar()
        self.selector = QComboBox()
        self.selector.currentIndexChanged.connect(self._choose_vcpu)
        # A worker's failure can be long: elided, never wider; a state always readable.
        self.state = ElidedLabel(chars=36, least=24)
        self.state.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.disassembly = DisassemblyView()
        self.disassembly.breakpoint_toggled.connect(self._toggle_address)
        self.source = SourceEditor()
        self.source.assembled.connect(self._replace_program)
        self.registers = RegistersView()
        self.registers.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.registers.customContextMenuRequested.connect(self._register_menu)
        trace = QAction(self.registers, shortcut=QKeySequence(SHORTCUTS["register_change"]),
                        shortcutContext=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        trace.triggered.connect(lambda: self._trace_register(self.registers.currentRow()))
        self.registers.addAction(trace)
        self.pending = PendingExitEditor()
        self.pending.answered.connect(self.answer)
        self.msr_breakpoints = MsrBreakpoints()
        self.msr_breakpoints.toggled.connect(self._toggle_msr)
        self.handlers = HandlersEditor(controller)

        self.code_tabs = QTabWidget()
        self.code_tabs.addTab(self.disassembly, "Disassembly")
        self.code_tabs.addTab(self.source, "Source")
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        # Handlers and MSR breakpoints share a tab widget: the column fits a 1280x800
        # screen with the pending exit's editor open.
        self.side_tabs = QTabWidget()
        self.side_tabs.addTab(self.handlers, "User-space handlers")
        self.side_tabs.addTab(self.msr_breakpoints, "MSR breakpoints")
        side_layout.addWidget(self.registers, 3)
        side_layout.addWidget(self.pending)
        side_layout.addWidget(self.side_tabs, 2)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.code_tabs)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        head = QHBoxLayout()
        head.addWidget(QLabel("vCPU"))
        head.addWidget(self.selector)
        head.addWidget(self.toolbar, 1)
        head.addWidget(self.state)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(head)
        layout.addWidget(split, 1)

        controller.session_replaced.connect(self.reload)
        controller.changed.connect(self.refresh)
        runner.started.connect(self._running)
        runner.stopped.connect(self._stopped)
        self.reload()

    # --- actions (the main window's F10/F5/Shift+F5 end here) ---------------------------------
    def step(self) -> None:
        """One instruction; in a scenario without vCPUs, the PCI story's next action."""
        if not self._idle():
            return
        session = self.controller.session
        if session.vcpu_count:
            self.controller.apply(c.StepVcpu(vcpu=self.vcpu))
        elif (command := next_pci_command(session)) is not None:
            self.controller.apply(command)

    def action_tips(self) -> tuple[str | None, str | None]:
        """(why Step cannot act, why Run cannot act); None where it can."""
        session = self.controller.session
        if session is None:
            return "Open a scenario first", "Open a scenario first"
        if getattr(session, "read_only", False):
            return READ_ONLY, READ_ONLY
        if session.vcpu_count:
            return None, None
        no_run = "This scenario has no vCPUs: there is nothing to run"
        command = next_pci_command(session)
        if command is None:
            return "No vCPUs, and every PCI action of the scenario has played", no_run
        return None, no_run

    def run(self) -> None:
        if self._idle():
            self.runner.start(self.vcpu)

    def run_to_exit(self) -> None:
        if self._idle():
            self.runner.start(self.vcpu, once=True)

    def pause(self) -> None:
        self.runner.pause()

    def answer(self, data: int, error: int) -> None:
        if self._idle():
            self.controller.apply(c.Answer(vcpu=self.vcpu, data=data, error=error))

    def _idle(self) -> bool:
        return self.controller.session is not None and not self.runner.running

    # --- reverse navigation from a register ---------------------------------------------------
    def register_actions(self, row: int, menu: QMenu) -> list[QAction]:
        """"When did this register get this value?" for the register in `row`."""
        return [self.controller.navigator.register_action(menu, self.vcpu, REG_NAMES[row])]

    def _register_menu(self, pos: QPoint) -> None:
        row = self.registers.rowAt(pos.y())
        if row < 0 or not self._idle():
            return
        menu = QMenu(self)
        menu.addActions(self.register_actions(row, menu))
        menu.popup(self.registers.viewport().mapToGlobal(pos))

    def _trace_register(self, row: int) -> None:
        if row >= 0 and self._idle():
            self.controller.navigator.register_change(self.vcpu, REG_NAMES[row])

    # --- edits ---------------------------------------------------------------------------------
    def _toggle_address(self, address: int, enable: bool) -> None:
        self._push_breakpoint("address", address, enable, f"address {address:#x}")

    def _toggle_msr(self, index: int, enable: bool) -> None:
        self._push_breakpoint("msr", index, enable, f"MSR {index:#x}")

    def _push_breakpoint(self, kind: str, value: int, enable: bool, what: str) -> None:
        if not self._idle():
            return
        verb = "Set" if enable else "Clear"
        do = c.SetBreakpoint(vcpu=self.vcpu, kind=kind, value=value, enabled=enable)
        undo = c.SetBreakpoint(vcpu=self.vcpu, kind=kind, value=value, enabled=not enable)
        self.controller.push(f"{verb} breakpoint on {what}", do, undo)

    def _replace_program(self, program: Program) -> None:
        if self._idle():
            self.controller.replace_program(self.vcpu, program)

    # --- showing the session -----------------------------------------------------------------
    def reload(self) -> None:
        """A new session: vCPU list, listing and source, then the state."""
        session = self.controller.session
        count = 0 if session is None else session.vcpu_count
        self.selector.blockSignals(True)
        self.selector.clear()
        self.selector.addItems([f"vcpu{i}" for i in range(count)])
        self.vcpu = min(self.vcpu, max(count - 1, 0))
        self.selector.setCurrentIndex(self.vcpu if count else -1)
        self.selector.blockSignals(False)
        self._load_vcpu()

    def _choose_vcpu(self, index: int) -> None:
        if index >= 0:
            self.vcpu = index
            self._load_vcpu()

    def _load_vcpu(self) -> None:
        session = self.controller.session
        self.registers.forget()
        if session is None or not session.vcpu_count:
            self._show_nothing()
            return
        self.disassembly.set_listing(session.listing(self.vcpu))
        self.source.set_program(session.scenario.programs[self.vcpu])
        self.refresh()

    def _show_nothing(self) -> None:
        """No vCPU to show: no code, registers, rules or pending exit of an older one."""
        self.disassembly.set_listing(())
        self.source.clear()
        self.registers.clear_values()
        self.msr_breakpoints.show_indices(frozenset())
        self.handlers.refresh()
        self.pending.show_exit(None)
        session = self.controller.session
        self.state.setText("" if session is None else "no vCPUs (a PCI story: F10 plays it)")

    def refresh(self, *_: Any) -> None:
        session = self.controller.session
        if session is None or not session.vcpu_count:
            self._show_nothing()
            return
        regs = session.regs(self.vcpu)
        self.registers.show_regs(regs, session.step, session.regs_before(self.vcpu))
        addresses, msrs = (session.breakpoints(self.vcpu) if session.can_breakpoint(self.vcpu)
                           else (frozenset(), frozenset()))
        self.disassembly.set_state(regs.rip, addresses)
        self.msr_breakpoints.show_indices(msrs)
        self.handlers.refresh()
        self.pending.show_exit(session.pending_exit(self.vcpu)
                               if session.needs_answer(self.vcpu) else None)
        self.state.setText(f"vcpu{self.run_vcpu} running…" if self.runner.running
                           else vcpu_state(session, self.vcpu))

    def _running(self, vcpu: int) -> None:
        self.run_vcpu = vcpu
        self.state.setText(f"vcpu{vcpu} running…")
        self._set_editable(False)

    def _stopped(self, _vcpu: int) -> None:
        self._set_editable(True)
        self.refresh()

    def _set_editable(self, editable: bool) -> None:
        for widget in (self.pending, self.msr_breakpoints, self.handlers, self.source,
                       self.selector):
            widget.setEnabled(editable)
