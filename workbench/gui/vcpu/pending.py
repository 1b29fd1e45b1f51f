"""The exit a vCPU is waiting on, with the fields user space fills in to answer it.

Shown only while the exit needs an answer (no rule took it): the VMM's side of kvm_run.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)

from workbench.gui.vcpu.hexedit import HexLineEdit
from workbench.kvm import uapi
from workbench.kvm.exits import VcpuExit
from workbench.kvm.msrs.catalogue import msr_label


def describe_exit(exit_: VcpuExit) -> tuple[str, str]:
    """(what the guest did, why user space sees it)."""
    code = exit_.exit_reason
    if code in (uapi.KVM_EXIT_X86_RDMSR, uapi.KVM_EXIT_X86_WRMSR):
        m = exit_.msr
        op = "WRMSR" if code == uapi.KVM_EXIT_X86_WRMSR else "RDMSR"
        data = f" data={m.data:#x}" if code == uapi.KVM_EXIT_X86_WRMSR else ""
        return f"{op} {msr_label(m.index)}{data}", m.reason_name
    io = exit_.io
    return f"IN port {io.port:#x} size {io.size}", "KVM_EXIT_IO"


class PendingExitEditor(QGroupBox):
    answered = Signal(object, int)  # data (u64: not a C int), error

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Pending exit to user space", parent)
        self.what = QLabel()
        self.why = QLabel()
        self.rip = QLabel()
        self.data = HexLineEdit(64, "data to return (hex)")
        self.error = QSpinBox(minimum=0, maximum=255, prefix="error ")
        self.error.setToolTip("kvm_run.msr.error: non-zero injects #GP")
        self.answer_button = QPushButton("Answer")
        self.answer_button.clicked.connect(self._answer)
        # Three compact rows, so the registers above keep their room.
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 2, 4, 2)
        grid.addWidget(self.what, 0, 0, 1, 4)
        grid.addWidget(self.why, 1, 0, 1, 2)
        grid.addWidget(self.rip, 1, 2, 1, 2)
        grid.addWidget(QLabel("data"), 2, 0)
        grid.addWidget(self.data, 2, 1)
        grid.addWidget(self.error, 2, 2)
        grid.addWidget(self.answer_button, 2, 3)
        grid.setColumnStretch(1, 1)
        self.exit: VcpuExit | None = None
        self.hide()

    def show_exit(self, exit_: VcpuExit | None) -> None:
        """Show `exit_` (None hides the editor); fields start at what a rule would leave."""
        if exit_ is None:
            self.exit = None
            self.hide()
            return
        if self.exit is None or _identity(exit_) != _identity(self.exit):
            self.exit = exit_
            what, why = describe_exit(exit_)
            self.what.setText(what)
            self.why.setText(why)
            self.rip.setText(f"rip {exit_.rip:#x}")
            is_msr = exit_.exit_reason != uapi.KVM_EXIT_IO
            self.data.set_value(exit_.msr.data if is_msr else exit_.io.data)
            self.error.setValue(0)
            self.error.setEnabled(is_msr)
        self.show()

    def _answer(self) -> None:
        data = self.data.value()
        if data is None:
            self.data.setFocus()
            return
        self.answered.emit(data, self.error.value())


def _identity(exit_: VcpuExit) -> tuple[int, ...]:
    """What tells one pending exit from the next: the session hands out copies, so a
    refresh showing the same exit keeps what the user typed."""
    return (exit_.rip, *exit_.key())
