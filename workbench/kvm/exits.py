"""The exit record `vcpu.run()` returns: the parts of `struct kvm_run` user space reads.

Like kvm_run, the record is also how user space answers: it sets `msr.data` /
`msr.error` (or `io.data` for an IN) and the next `run()` consumes the answer. Both engines
return these classes, so scripts and the differential tests compare them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(slots=True)
class VcpuExit:
    exit_reason: int
    msr: MsrExit = field(default_factory=MsrExit)
    io: IoExit = field(default_factory=IoExit)
    # Where the guest stood when it exited (RIP of the exiting instruction for MSR exits,
    # of the next instruction for HLT/IO, as KVM reports them).
    rip: int = 0

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
            from workbench.kvm.msrs import msr_name

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
