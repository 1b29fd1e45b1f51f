"""Guest programs and the runtime both engines start them in.

The assembler's names load on first use (workbench.lazy): modules that only need the
memory layout (workbench.kvm.guest.layout) must not load capstone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.kvm.guest.layout import GUEST_CODE_BASE, GUEST_STACK_TOP
from workbench.lazy import lazy_face

if TYPE_CHECKING:
    from workbench.kvm.guest.assembler import AssemblyError, Instruction, Program, assemble

__all__ = [
    "GUEST_CODE_BASE", "GUEST_STACK_TOP", "AssemblyError", "Instruction", "Program", "assemble",
]

__getattr__, __dir__ = lazy_face(globals(), {
    name: "workbench.kvm.guest.assembler"
    for name in ("AssemblyError", "Instruction", "Program", "assemble")
})
