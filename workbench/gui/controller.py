"""The GUI's only door to the session: commands go in here, Qt signals come out.

Widgets never hold engines. They read `controller.session` (state, log, filter) and change
things by `apply()` or, for edits a user may want to take back, `push()` which goes through
the QUndoStack (Ctrl+Z / Ctrl+Shift+Z). Linked selection lives here too, so choosing an MSR
in any panel highlights it in all of them.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from workbench.kvm.filter import MsrFilter
from workbench.session import commands as c
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


class SessionController(QObject):
    applied = Signal(object)          # CommandResult, after every command
    session_replaced = Signal()       # a new scenario or recording was opened
    msr_selected = Signal(int)        # linked selection: an MSR index (-1 = none)
    error = Signal(str)               # a command failed; the text names the field and errno

    def __init__(self, session: Session | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.session: Session | None = session
        self.path: Path | None = None
        self.selected_msr = -1

    # --- opening ----------------------------------------------------------------------
    def open_scenario(self, path: Path, engine: str = "sim") -> Scenario:
        """Load and start a scenario; raises ScenarioError (the old session stays)."""
        scenario = load(path)
        self.replace_session(Session(scenario, engine=engine), path)
        return scenario

    def replace_session(self, session: Session, path: Path | None = None) -> None:
        if self.session is not None:
            self.session.close()
        self.session, self.path = session, path
        self.undo_stack.clear()
        self.session_replaced.emit()

    # --- commands ---------------------------------------------------------------------
    def apply(self, command: c.Command) -> CommandResult:
        """Apply a command now (not undoable: runs, steps, answers)."""
        if self.session is None:
            raise RuntimeError("no session is open")
        result = self.session.apply(command)
        self.applied.emit(result)
        if result.error is not None:
            self.error.emit(result.error)
        return result

    def push(self, text: str, do: c.Command, undo: c.Command) -> CommandResult | None:
        """Apply an edit through the undo stack; returns its result."""
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
