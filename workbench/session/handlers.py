"""User space's side of MSR exits: one rule per MSR, as a VMM implements them.

constant: reads return `value`, writes are accepted; register: reads return the last value
written (initially `value`); fail: the access gets #GP (kvm_run.msr.error = 1); ask: the
run pauses with the exit pending until the user answers; a Python callable decides
(data, error) itself. The seed's example, MSR_CORE_THREAD_COUNT emulated in user space, is
`constant` with the core/thread counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from workbench.kvm.exits import ExitKind, VcpuExit

GP_ERROR = 1
KINDS = ("constant", "register", "fail", "ask")

# (index, write, data) -> (data, error)
MsrCallable = Callable[[int, bool, int], tuple[int, int]]


@dataclass
class Rule:
    kind: str
    value: int = 0
    func: MsrCallable | None = None


@dataclass
class UserSpaceMsrs:
    rules: dict[int, Rule] = field(default_factory=dict)
    registers: dict[int, int] = field(default_factory=dict)

    def set(self, msr: int, kind: str, value: int = 0, func: MsrCallable | None = None) -> None:
        if kind == "none":
            self.rules.pop(msr, None)
            self.registers.pop(msr, None)
            return
        if kind not in (*KINDS, "callable"):
            raise ValueError(f"handler kind {kind!r} is not one of {', '.join(KINDS)}")
        if kind == "callable" and not callable(func):
            raise ValueError("a callable handler needs a function")
        self.rules[msr] = Rule(kind, value, func)
        self.registers.pop(msr, None)

    def answer(self, exit_: VcpuExit) -> bool:
        """Fill in the exit's answer if a rule decides it; False = the user must."""
        msr = exit_.msr
        rule = self.rules.get(msr.index)
        if rule is None or rule.kind == "ask":
            return False
        write = exit_.kind is ExitKind.WRMSR
        if rule.kind == "fail":
            msr.error = GP_ERROR
        elif rule.kind == "callable":
            data, error = rule.func(msr.index, write, msr.data)
            msr.error = error & 0xFF
            if not write:
                msr.data = data & 0xFFFF_FFFF_FFFF_FFFF
        elif write:
            if rule.kind == "register":
                self.registers[msr.index] = msr.data
        else:
            msr.data = self.registers.get(msr.index, rule.value) & 0xFFFF_FFFF_FFFF_FFFF
        return True
