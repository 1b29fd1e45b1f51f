"""The exit record `vcpu.run()` returns: the parts of `struct kvm_run` user space reads.

Like kvm_run, the record is also how user space answers: it sets `msr.data` /
`msr.error` (or `io.data` for an IN) and the next `run()` consumes the answer. Both engines
return these classes, so scripts and the differential tests compare them directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.kvm import uapi


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

    def __repr__(self) -> str:
        return f"VcpuExit({self.name}, {self.describe()}, rip={self.rip:#x})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VcpuExit):
            return NotImplemented
        return (self.exit_reason, self.rip, self.msr, self.io) == (
            other.exit_reason, other.rip, other.msr, other.io)

    __hash__ = None  # mutable, like kvm_run

    @property
    def name(self) -> str:
        return uapi.EXIT_REASON_NAMES.get(self.exit_reason, str(self.exit_reason))

    def key(self) -> tuple[int, ...]:
        """The fields the differential tests compare between engines."""
        if self.exit_reason in (uapi.KVM_EXIT_X86_RDMSR, uapi.KVM_EXIT_X86_WRMSR):
            return (self.exit_reason, self.msr.index, self.msr.data, self.msr.reason)
        if self.exit_reason == uapi.KVM_EXIT_IO:
            io = self.io
            return (self.exit_reason, io.direction, io.port, io.size, io.data)
        return (self.exit_reason,)

    def describe(self) -> str:
        """One line, as the headless runner and the trap log print it."""
        if self.exit_reason in (uapi.KVM_EXIT_X86_RDMSR, uapi.KVM_EXIT_X86_WRMSR):
            from workbench.kvm.msrs.catalogue import msr_name

            kind = "RDMSR" if self.exit_reason == uapi.KVM_EXIT_X86_RDMSR else "WRMSR"
            text = f"{kind} {self.msr.index:#x} ({msr_name(self.msr.index)}) "
            text += f"reason={self.msr.reason_name}"
            if self.exit_reason == uapi.KVM_EXIT_X86_WRMSR:
                text += f" data={self.msr.data:#x}"
            return text
        if self.exit_reason == uapi.KVM_EXIT_IO:
            io = self.io
            way = "OUT" if io.direction == uapi.KVM_EXIT_IO_OUT else "IN"
            return f"IO {way} port={io.port:#x} size={io.size} data={io.data:#x}"
        return self.name.removeprefix("KVM_EXIT_")
