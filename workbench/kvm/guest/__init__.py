"""Guest programs and the runtime both engines start them in."""

from workbench.kvm.guest.assembler import AssemblyError, Instruction, Program, assemble
from workbench.kvm.guest.layout import GUEST_CODE_BASE, GUEST_STACK_TOP

__all__ = [
    "GUEST_CODE_BASE", "GUEST_STACK_TOP", "AssemblyError", "Instruction", "Program", "assemble",
]
