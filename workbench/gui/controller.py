"""The GUI's only door to the session: commands go in here, Qt signals come out.

Widgets never hold engines. They read `controller.session` (state, log, filter) and change
things by `apply()` or, for edits a user may want to take back, `push()` which goes through
the QUndoStack (Ctrl+Z / Ctrl+Shift+Z). Linked selection lives here too, so choosing an MSR
in any panel highlights it in all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from workbench.gui.navigation import Navigator
from workbench.kvm.filter import MsrFilter
from workbench.kvm.guest.assembler import Program
from workbench.session import commands as c
from workbench.session.handlers import KINDS
from workbench.session.scenario import Scenario, load
from workbench.session.session import CommandResult, Session


class _Edit(QUndoCommand):
    """An undoable edit: `redo` applies the command, `undo` applies its inverse."""

    def __init__(self, controller: SessionController, text: str, do: c.Command,
                 undo: c.Command, applied: CommandResult | None = None) -> None:
        super().__init__(text)
        self._controller, self._do, self._undo = controller, do, undo
        self.result = applied
        self._already_applied = applied is not None  # QUndoStack.push() calls redo() once

    def redo(self) -> None:
        if self._already_applied:
            self._already_applied = False
            return
        self.result = self._controller.apply(self._do)

    def undo(self) -> None:
        self._controller.apply(self._undo)


def carried_over(session: Session) -> list[c.Command]:
    """The commands that give a fresh session on the same scenario this session's filter,
    handlers and breakpoints: what the user set up survives a program swap."""
    fresh = session.scenario
    commands: list[c.Command] = []
    current = session.msr_filter()
    if current != (fresh.msr_filter or MsrFilter()):
        commands.append(c.SetFilter(filter=current.to_dict()))
    rules = session.handler_rules()
    initial = {h.msr: (h.kind, h.value) for h in fresh.handlers.values()}
    for msr in sorted(set(rules) | set(initial)):
        rule = rules.get(msr)
        now = None if rule is None else (rule.kind, rule.value)
        if now != initial.get(msr) and (rule is None or rule.kind in KINDS):
            commands.append(c.SetHandler(msr=msr, kind="none") if rule is None
                            else c.SetHandler(msr=msr, kind=rule.kind, value=rule.value))
    for vcpu in range(session.vcpu_count):
        if session.can_breakpoint(vcpu):
            addresses, msrs = session.breakpoints(vcpu)
            commands += [c.SetBreakpoint(vcpu=vcpu, kind="address", value=a, enabled=True)
                         for a in sorted(addresses)]
            commands += [c.SetBreakpoint(vcpu=vcpu, kind="msr", value=m, enabled=True)
                         for m in sorted(msrs)]
    return commands


class _SwapScenario(QUndoCommand):
    """An edit no command can express (a vCPU's new program): redo starts a session on the
    new scenario, undo on the old one, each followed by the filter, handlers and
    breakpoints the user had (as commands, so they are in the new history). Both keep the
    undo stack, which holds this edit."""

    def __init__(self, controller: SessionController, text: str, old: Scenario,
                 new: Scenario, setup: list[c.Command]) -> None:
        super().__init__(text)
        self._controller, self._old, self._new, self._setup = controller, old, new, setup

    def redo(self) -> None:
        self._controller.restart(self._new, self._setup)

    def undo(self) -> None:
        self._controller.restart(self._old, self._setup)


class SessionController(QObject):
    session_replaced = Signal()       # a new scenario or recording: drop per-session view state
    msr_selected = Signal(object)     # linked selection: an MSR index (-1 = none); u32, not C int
    error = Signal(str)               # a command failed; the text names the field and errno
    notice = Signal(str)              # something the user should know happened (status bar)
    changed = Signal()                # the one refresh path: the session's state is new, once

    def __init__(self, session: Session | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.session: Session | None = session
        self.path: Path | None = None
        self.selected_msr = -1
        self.navigator = Navigator(self, self)  # Back/Forward and reverse navigation
        if session is not None:
            session.track_changes(True)

    # --- opening ----------------------------------------------------------------------
    def open_scenario(self, path: Path, engine: str = "sim") -> Scenario:
        """Load and start a scenario; raises ScenarioError (the old session stays)."""
        scenario = load(path)
        self.replace_session(Session(scenario, engine=engine), path)
        return scenario

    def replace_session(self, session: Session, path: Path | None = None,
                        keep_undo: bool = False) -> None:
        """Swap in a session; `keep_undo` only for edits that swap sessions themselves."""
        if self.session is not None:
            self.session.close()
        self.session, self.path = session, path
        session.track_changes(True)  # the panels show what each step changed
        if not keep_undo:
            self.undo_stack.clear()
        self.session_replaced.emit()
        self.changed.emit()

    def restart(self, scenario: Scenario, setup: Sequence[c.Command] = ()) -> None:
        """A fresh session on `scenario` (same engine and file), keeping the undo stack;
        `setup` commands are applied before the panels are told."""
        if self.session is None:
            raise RuntimeError("no session is open")
        session = Session(scenario, engine=self.session.engine)
        for command in setup:
            session.apply(command)
        self.replace_session(session, self.path, keep_undo=True)
        self.notice.emit(f"{scenario.name or 'scenario'}: new program; the step history "
                         f"restarts at step 0 ({len(setup)} setup steps replayed: filter, "
                         "handlers and breakpoints kept)")

    def replace_program(self, vcpu: int, program: Program) -> None:
        """Give one vCPU a new program, as an undoable edit. No command can change code in
        a running VM, so the session restarts from the scenario with the program swapped."""
        if self.session is None:
            raise RuntimeError("no session is open")
        old = self.session.scenario
        programs = list(old.programs)
        programs[vcpu] = program
        new = dataclasses.replace(old, programs=programs)
        self.undo_stack.push(_SwapScenario(self, f"Replace vcpu{vcpu} program", old, new,
                                           carried_over(self.session)))

    # --- commands ---------------------------------------------------------------------
    def apply(self, command: c.Command, announce: bool = True) -> CommandResult:
        """Apply a command now (not undoable: runs, steps, answers).

        A worker thread passes announce=False and has the GUI thread `announce` the result
        later, so widgets only read the session while the worker waits."""
        if self.session is None:
            raise RuntimeError("no session is open")
        result = self.session.apply(command)
        if announce:
            self.announce(result)
        return result

    def announce(self, result: CommandResult) -> None:
        """Tell the widgets a command was applied (and whether it failed)."""
        self.changed.emit()
        if result.error is not None:
            self.error.emit(result.error)

    def pause(self, vcpu: int) -> None:
        """Interrupt a free run of `vcpu` from the GUI thread (thread-safe in the session):
        the running Run returns with KVM_EXIT_INTR. SessionError if the engine cannot."""
        if self.session is not None:
            self.session.pause(vcpu)

    def cancel_pause(self, vcpu: int) -> None:
        """Drop a pause that no run consumed, so the user's next command runs."""
        if self.session is not None and 0 <= vcpu < self.session.vcpu_count:
            self.session.cancel_pause(vcpu)

    def seek(self, step: int) -> None:
        """Put the session back (or forward) to the state after `step` commands."""
        if self.session is None:
            raise RuntimeError("no session is open")
        self.session.seek(step)
        self.changed.emit()

    def push(self, text: str, do: c.Command, undo: c.Command) -> CommandResult | None:
        """Apply an edit through the undo stack; returns its result. A setting whose
        inverse is itself changes nothing: it is not pushed, so it cannot discard redo
        history. (A config write of the same value still traps, so it is pushed.)"""
        if do == undo and isinstance(do, c.SetHandler | c.SetBreakpoint):
            return None
        edit = _Edit(self, text, do, undo)
        self.undo_stack.push(edit)
        return edit.result

    def set_filter(self, msr_filter: MsrFilter | None, text: str = "Apply MSR filter"
                   ) -> CommandResult | None:
        """KVM_X86_SET_MSR_FILTER as an undoable edit. A rejected filter is not pushed: the
        kernel left the old one in force, so there is nothing to undo."""
        if self.session is None:
            raise RuntimeError("no session is open")
        old = self.session.msr_filter()
        do = c.SetFilter(filter=None if msr_filter is None else msr_filter.to_dict())
        result = self.apply(do)
        if result.error is None:
            self.undo_stack.push(_Edit(self, text, do, c.SetFilter(filter=old.to_dict()), result))
        return result

    # --- linked selection ---------------------------------------------------------------
    def select_msr(self, index: int) -> None:
        if index != self.selected_msr:
            self.selected_msr = index
            self.msr_selected.emit(index)
