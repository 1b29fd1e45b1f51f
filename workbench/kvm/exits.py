"""The exit record `vcpu.run()` returns: the parts of `struct kvm_run` user space reads.

Like kvm_run, the record is also how user space answers: it sets `msr.data` /
`msr.error` (or `io.data` for an IN) and the next `run()` consumes the answer. Both engines
return these classes, so scripts and the differential tests compare them directly.

`exit.kind` names the variant as rust-vmm kvm-ioctls' `VcpuExit` enum does (X86Rdmsr,
IoIn, Hlt, ...), and `as_msr()` / `as_io()` hand out the union member that variant
carries, so callers match on kinds instead of comparing `exit_reason` integers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from workbench.kvm import uapi


class ExitKind(enum.Enum):
    """The variant of an exit (kvm-ioctls' VcpuExit); OTHER is any exit_reason the
    workbench does not model (KVM_EXIT_MMIO, ...): read `exit_reason` for it."""

    RDMSR = "rdmsr"
    WRMSR = "wrmsr"
    IO_IN = "io_in"
    IO_OUT = "io_out"
    HLT = "hlt"
    SHUTDOWN = "shutdown"
    INTR = "intr"
    DEBUG = "debug"
    INTERNAL_ERROR = "internal_error"
    OTHER = "other"

    @property
    def is_msr(self) -> bool:
        return self is ExitKind.RDMSR or self is ExitKind.WRMSR

    @property
    def awaits_answer(self) -> bool:
        """User space completes it through the record before re-entering (kvm_run's
        complete_userspace_io / complete_userspace_rdmsr/wrmsr)."""
        return self in _ANSWERED


_ANSWERED = frozenset({ExitKind.RDMSR, ExitKind.WRMSR, ExitKind.IO_IN})
_KIND_OF_REASON = {
    uapi.KVM_EXIT_X86_RDMSR: ExitKind.RDMSR,
    uapi.KVM_EXIT_X86_WRMSR: ExitKind.WRMSR,
    uapi.KVM_EXIT_HLT: ExitKind.HLT,
    uapi.KVM_EXIT_SHUTDOWN: ExitKind.SHUTDOWN,
    uapi.KVM_EXIT_INTR: ExitKind.INTR,
    uapi.KVM_EXIT_DEBUG: ExitKind.DEBUG,
    uapi.KVM_EXIT_INTERNAL_ERROR: ExitKind.INTERNAL_ERROR,
}
_PLAIN_REASON = {kind: reason for reason, kind in _KIND_OF_REASON.items()
                 if not kind.is_msr and kind is not ExitKind.DEBUG}


@dataclass(slots=True)
class MsrExit:
    """kvm_run.msr: `error` and (for RDMSR) `data` are written by user space."""

    index: int = 0
    data: int = 0
    reason: int = 0
    error: int = 0

    @property
    def reason_name(self) -> str:
        return uapi.MSR_EXIT_REASON_NAMES.get(self.reason, f"{self.reason:#x}")


@dataclass(slots=True)
class IoExit:
    """kvm_run.io, with the data already fetched from the data page as an int."""

    direction: int = 0
    size: int = 0
    port: int = 0
    count: int = 0
    data: int = 0


class VcpuExit:
    """One exit. Like kvm_run's union, `msr` and `io` both exist; the one this exit does
    not use is built only if asked for, because records are made on the per-exit path."""

    __slots__ = ("exit_reason", "rip", "_msr", "_io")

    def __init__(self, exit_reason: int, msr: MsrExit | None = None, io: IoExit | None = None,
                 rip: int = 0) -> None:
        self.exit_reason = exit_reason
        # Where the guest stood when it exited: RIP of the exiting instruction for MSR and
        # IO exits, of the next instruction for HLT, as KVM reports them.
        self.rip = rip
        self._msr = msr
        self._io = io

    # --- one constructor per variant: the engines never pick integers or union members --
    @classmethod
    def of(cls, kind: ExitKind, rip: int = 0) -> VcpuExit:
        """An exit of a kind that carries no union member (HLT, SHUTDOWN, INTR, ...)."""
        if kind not in _PLAIN_REASON:
            raise ValueError(f"{kind.name} exits carry data: build them with msr_access, "
                             "pio or debug")
        return cls(_PLAIN_REASON[kind], rip=rip)

    @classmethod
    def msr_access(cls, write: bool, index: int, data: int, reason: int, rip: int) -> VcpuExit:
        """KVM_EXIT_X86_WRMSR (data: the value written) or KVM_EXIT_X86_RDMSR (data: 0
        until user space answers)."""
        code = uapi.KVM_EXIT_X86_WRMSR if write else uapi.KVM_EXIT_X86_RDMSR
        return cls(code, MsrExit(index, data, reason), None, rip)

    @classmethod
    def debug(cls, rip: int, msr_index: int | None = None) -> VcpuExit:
        """KVM_EXIT_DEBUG at a breakpoint; before an MSR access, msr.index names the MSR."""
        msr = None if msr_index is None else MsrExit(msr_index)
        return cls(uapi.KVM_EXIT_DEBUG, msr, None, rip)

    @classmethod
    def pio(cls, out: bool, port: int, size: int, data: int, rip: int, count: int = 1
            ) -> VcpuExit:
        """KVM_EXIT_IO: an OUT carries the value written, an IN waits for its data."""
        direction = uapi.KVM_EXIT_IO_OUT if out else uapi.KVM_EXIT_IO_IN
        return cls(uapi.KVM_EXIT_IO, None, IoExit(direction, size, port, count, data), rip)

    @property
    def msr(self) -> MsrExit:
        if self._msr is None:
            self._msr = MsrExit()
        return self._msr

    @property
    def io(self) -> IoExit:
        if self._io is None:
            self._io = IoExit()
        return self._io

    @property
    def kind(self) -> ExitKind:
        reason = self.exit_reason
        if reason == uapi.KVM_EXIT_IO:
            io = self._io
            out = io is not None and io.direction == uapi.KVM_EXIT_IO_OUT
            return ExitKind.IO_OUT if out else ExitKind.IO_IN
        return _KIND_OF_REASON.get(reason, ExitKind.OTHER)

    def as_msr(self) -> MsrExit | None:
        """The msr member of an RDMSR/WRMSR exit, or of a DEBUG stop before an MSR access
        (None at an address breakpoint); None for any other exit, which never builds one."""
        reason = self.exit_reason
        if reason == uapi.KVM_EXIT_X86_RDMSR or reason == uapi.KVM_EXIT_X86_WRMSR:
            return self.msr
        return self._msr if reason == uapi.KVM_EXIT_DEBUG else None

    def as_io(self) -> IoExit | None:
        """The io member of a KVM_EXIT_IO, else None (never built for other exits)."""
        return self.io if self.exit_reason == uapi.KVM_EXIT_IO else None

    def __repr__(self) -> str:
        return f"VcpuExit({self.name}, {self.describe()}, rip={self.rip:#x})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VcpuExit):
            return NotImplemented
        # A member never built equals a blank one: compare without building either.
        return (self.exit_reason == other.exit_reason and self.rip == other.rip
                and (self._msr or _BLANK_MSR) == (other._msr or _BLANK_MSR)
                and (self._io or _BLANK_IO) == (other._io or _BLANK_IO))

    __hash__ = None  # mutable, like kvm_run

    @property
    def name(self) -> str:
        return uapi.EXIT_REASON_NAMES.get(self.exit_reason, str(self.exit_reason))

    def key(self) -> tuple[int, ...]:
        """The fields the differential tests compare between engines."""
        kind = self.kind
        if kind.is_msr:
            msr = self.msr
            return (self.exit_reason, msr.index, msr.data, msr.reason)
        if kind is ExitKind.IO_IN or kind is ExitKind.IO_OUT:
            io = self.io
            return (self.exit_reason, io.direction, io.port, io.size, io.data)
        return (self.exit_reason,)

    def describe(self) -> str:
        """One line, as the headless runner and the trap log print it."""
        kind = self.kind
        if kind.is_msr:
            from workbench.kvm.msrs.catalogue import msr_name

            msr = self.msr
            text = f"{kind.name} {msr.index:#x} ({msr_name(msr.index)}) "
            text += f"reason={msr.reason_name}"
            if kind is ExitKind.WRMSR:
                text += f" data={msr.data:#x}"
            return text
        if kind is ExitKind.IO_IN or kind is ExitKind.IO_OUT:
            io = self.io
            way = "OUT" if kind is ExitKind.IO_OUT else "IN"
            return f"IO {way} port={io.port:#x} size={io.size} data={io.data:#x}"
        return self.name.removeprefix("KVM_EXIT_")


_BLANK_MSR = MsrExit()  # compared against, never handed out
_BLANK_IO = IoExit()
