"""The machine state a debugger shows (gdb's `info all-registers`), as plain rows.

One vCPU's special registers and MSR file become `StateRow`s: name, value, decoded fields,
the step of an MSR's last in-kernel write, and whether the current step's command changed
it (against a `VcpuSnapshot` taken before that command). Also the address grammar of the
memory view: `rip`, `rsp+0x10`, `0x1000`, `rbx-8`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench.kvm import decode
from workbench.kvm.engine import Vcpu
from workbench.kvm.guest.layout import GUEST_MEM_SIZE
from workbench.kvm.msrs.catalogue import msr_name
from workbench.kvm.msrs.decode import decode_msr
from workbench.kvm.regs import REG_NAMES, SEGMENT_NAMES, Sregs
from workbench.values import U64_MAX, parse_int


@dataclass(frozen=True)
class StateRow:
    """One line of the machine-state panel."""

    group: str              # "segments", "control", "tables" or "msrs"
    name: str               # "cs", "cr0", "rflags", "gdtr", "IA32_PAT"
    key: str | int          # what navigation names: a register name or an MSR index
    value: int              # a segment's selector, a table's base
    text: str               # the value as shown (a segment's hidden base and limit too)
    decoded: str            # named fields ("" where there are none)
    changed: bool           # the current step's command changed it
    last_write: int | None = None  # an MSR's last in-kernel write (step), None = unknown


@dataclass(frozen=True)
class MachineState:
    step: int
    rows: tuple[StateRow, ...]
    note: str  # what this engine cannot show ("" = nothing)

    def row(self, key: str | int) -> StateRow:
        for row in self.rows:
            if row.key == key:
                return row
        raise KeyError(key)


@dataclass(frozen=True)
class VcpuSnapshot:
    """What a vCPU looked like before a command: for "changed by the last step"."""

    regs: dict[str, int]
    sregs: Sregs
    msrs: dict[int, int]
    memory: bytes


def snapshot(vcpu: Vcpu) -> VcpuSnapshot:
    return VcpuSnapshot(vcpu.get_regs().as_dict(), vcpu.get_sregs(), vcpu.msr_file(),
                        vcpu.read_memory(0, GUEST_MEM_SIZE))


def state_rows(now: VcpuSnapshot, before: VcpuSnapshot | None,
               last_writes: dict[int, int]) -> list[StateRow]:
    """The panel's rows for `now`; `changed` against `before` (None: nothing changed)."""
    s, b = now.sregs, None if before is None else before.sregs
    rows = []
    for name in SEGMENT_NAMES:
        seg = s.segment(name)
        rows.append(StateRow(
            "segments", name, name, seg.selector,
            f"{seg.selector:#06x} base={seg.base:#x} limit={seg.limit:#x}",
            decode.segment(seg), b is not None and b.segment(name) != seg))
    flags = now.regs["rflags"]
    rows.append(StateRow("control", "rflags", "rflags", flags, f"{flags:#x}",
                         decode.rflags(flags),
                         before is not None and before.regs["rflags"] != flags))
    decoders = {"cr0": decode.cr0, "cr4": decode.cr4,
                "efer": lambda v: decode_msr(0xC0000080, v) or "",
                "apic_base": lambda v: decode_msr(0x1B, v) or ""}
    for name, value in s.control().items():
        shown = decoders.get(name, lambda _v: "")(value)
        rows.append(StateRow("control", name, name, value, f"{value:#x}", shown,
                             b is not None and getattr(b, name) != value))
    for name in ("gdt", "idt"):
        table = getattr(s, name)
        rows.append(StateRow("tables", f"{name}r", f"{name}r", table.base,
                             f"base={table.base:#x} limit={table.limit:#x}", "",
                             b is not None and getattr(b, name) != table))
    for index, value in now.msrs.items():
        old = None if before is None else before.msrs.get(index)
        rows.append(StateRow("msrs", msr_name(index), index, value, f"{value:#018x}",
                             decode_msr(index, value) or "",
                             before is not None and old != value, last_writes.get(index)))
    return rows


_TERM = re.compile(r"\s*([+-])?\s*([0-9a-zA-Z_]+)\s*")


def resolve_address(text: str, regs: dict[str, int]) -> int:
    """The address an expression names: registers and numbers joined by + and -
    ("rsp+0x10", "rip", "0x1000"); ValueError naming the field and the bad term."""
    if not text.strip():
        raise ValueError("address: empty (a number, a register such as rsp, or rsp+0x10)")
    total, pos = 0, 0
    while pos < len(text):
        match = _TERM.match(text, pos)
        if match is None or match.end() == pos or (pos and not match.group(1)):
            raise ValueError(f"address: cannot read {text[pos:]!r} in {text!r} "
                             "(registers and numbers joined by + or -)")
        sign, term = match.group(1), match.group(2).lower()
        if term in REG_NAMES:
            value = regs[term]
        else:
            try:
                value = parse_int(term)
            except ValueError:
                raise ValueError(f"address: {term!r} is neither a register "
                                 f"({', '.join(REG_NAMES)}) nor a number") from None
        total += -value if sign == "-" else value
        pos = match.end()
    return total & U64_MAX
