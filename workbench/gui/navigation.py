"""Reverse navigation (rr, gdb's reverse execution) and its Back/Forward history.

Each command asks the session where to go (a step) and lands the whole session there with
a seek, like selecting a row does. The step it left goes on a Back stack, as a browser's
page does, so Alt+Left returns and Alt+Right goes again. This history is navigation only:
it is separate from the undo stack, which holds edits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence

from workbench.kvm.msrs.catalogue import msr_name
from workbench.session.errors import SessionError

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from workbench.gui.controller import SessionController

SHORTCUTS = {
    "back": "Alt+Left",
    "forward": "Alt+Right",
    "reverse_continue": "Shift+F8",
    "previous_breakpoint": "Ctrl+Shift+F8",
    "previous_write": "Ctrl+Shift+P",
    "next_access": "Ctrl+Shift+N",
    "register_change": "Ctrl+Shift+R",
}


class Navigator(QObject):
    moved = Signal(str)          # where a navigation landed, or why it did not move
    history_changed = Signal()   # Back/Forward gained or lost a step

    def __init__(self, controller: SessionController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.busy: Callable[[], bool] = lambda: False  # a free run owns the session
        self.back_steps: list[int] = []
        self.forward_steps: list[int] = []
        controller.session_replaced.connect(self.forget)

    def forget(self) -> None:
        self.back_steps.clear()
        self.forward_steps.clear()
        self.history_changed.emit()

    # --- landing -------------------------------------------------------------------------
    def go(self, step: int | None, what: str) -> bool:
        """Land the session at `step` (None: say there is no such step); the step left
        goes on the Back stack."""
        session = self.controller.session
        if session is None or self.busy():
            self.moved.emit(f"{what}: not while a run owns the session")
            return False
        if step is None:
            self.moved.emit(f"{what}: none found")
            return False
        here = session.step
        if not self._seek(step, what):
            return False
        if step != here:
            self.back_steps.append(here)
            self.forward_steps.clear()
            self.history_changed.emit()
        self.moved.emit(f"{what}: step {step}")
        return True

    def _seek(self, step: int, what: str) -> bool:
        try:
            self.controller.seek(step)
        except (ValueError, RuntimeError) as exc:
            self.moved.emit(f"{what}: {exc}")
            return False
        return True

    def back(self) -> bool:
        return self._travel(self.back_steps, self.forward_steps, "Back")

    def forward(self) -> bool:
        return self._travel(self.forward_steps, self.back_steps, "Forward")

    def _travel(self, source: list[int], other: list[int], what: str) -> bool:
        session = self.controller.session
        if session is None or self.busy():
            return False
        while source and source[-1] > len(session.history):
            source.pop()  # a new command cut that step off the history
        if not source:
            self.moved.emit(f"{what}: nothing to go to")
            return False
        here, step = session.step, source.pop()
        if self._seek(step, what):
            other.append(here)
            self.moved.emit(f"{what}: step {step}")
        self.history_changed.emit()
        return True

    # --- the commands ---------------------------------------------------------------------
    def _ask(self, question: Callable[[], int | None], what: str) -> bool:
        session = self.controller.session
        if session is None:
            return False
        try:
            step = question()
        except (SessionError, ValueError) as exc:
            self.moved.emit(f"{what}: {exc}")
            return False
        return self.go(step, what)

    def reverse_continue(self, before: int | None = None) -> bool:
        """To the last step before this one (or `before`) in which a vCPU exited."""
        return self._ask(lambda: self.controller.session.previous_exit_step(before),
                         "Reverse-continue to the previous exit")

    def previous_breakpoint(self, before: int | None = None) -> bool:
        return self._ask(lambda: self.controller.session.previous_breakpoint_step(before),
                         "Reverse-continue to the previous breakpoint hit")

    def previous_write(self, msr: int, before: int | None = None) -> bool:
        return self._ask(lambda: self.controller.session.previous_msr_write_step(msr, before),
                         f"Previous write of {msr_name(msr)}")

    def next_access(self, msr: int, after: int | None = None) -> bool:
        return self._ask(lambda: self.controller.session.next_msr_access_step(msr, after),
                         f"Next access of {msr_name(msr)}")

    def register_change(self, vcpu: int, name: str) -> bool:
        """To the last step that changed register `name` of `vcpu` (to its value now)."""
        session = self.controller.session
        if session is None or self.busy():
            return False
        return self._ask(lambda: session.register_change_step(vcpu, name),
                         f"When did {name} get this value")

    # --- menus -----------------------------------------------------------------------------
    def msr_actions(self, owner: QWidget, msr: int, step: int | None = None) -> list[QAction]:
        """Context-menu actions for one MSR, from `step` (a log row's) or the current one."""
        name = msr_name(msr)
        previous = QAction(f"Previous write of {name}", owner)
        previous.setShortcut(QKeySequence(SHORTCUTS["previous_write"]))
        previous.triggered.connect(lambda: self.previous_write(msr, step))
        following = QAction(f"Next access of {name}", owner)
        following.setShortcut(QKeySequence(SHORTCUTS["next_access"]))
        following.triggered.connect(lambda: self.next_access(msr, step))
        return [previous, following]

    def register_action(self, owner: QWidget, vcpu: int, name: str) -> QAction:
        action = QAction(f"When did {name} get this value?", owner)
        action.setShortcut(QKeySequence(SHORTCUTS["register_change"]))
        action.triggered.connect(lambda: self.register_change(vcpu, name))
        return action
