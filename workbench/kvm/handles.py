"""What both engines' handles share: the one way a vCPU's program argument is understood,
and the error for using one after close() (defined in workbench.kvm.engine).

On either engine a closed KVM, VM or vCPU handle refuses every call with ClosedError (a
ValueError, as a closed file's methods do), instead of the sim silently working on and
the host failing in an ioctl on fd -1.
"""

from __future__ import annotations

from workbench.kvm.engine import ClosedError
from workbench.kvm.guest.assembler import Program, assemble

__all__ = ["Closed", "ClosedError", "as_program"]


def as_program(program: object) -> Program:
    """A vCPU's program: a Program, machine code (bytes) or assembler text (str)."""
    if isinstance(program, Program):
        return program
    if isinstance(program, str):
        return assemble(program)
    if isinstance(program, bytes | bytearray | memoryview):
        return Program(bytes(program))
    raise TypeError(f"create_vcpu: program must be a Program, machine code (bytes) or "
                    f"assembler text (str), not {type(program).__name__}")


class Closed:
    """Stands in for a closed handle's internals, so that every method reaching them
    raises ClosedError without a check on the per-exit hot path."""

    def __init__(self, what: str) -> None:
        self._what = what

    def __getattr__(self, name: str) -> object:
        raise ClosedError(f"{self._what} is closed")
