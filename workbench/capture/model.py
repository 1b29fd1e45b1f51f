"""What a capture or a trace says a real VMM and its guest did, as plain values.

Every source (a `workbench capture` file, tracefs `trace` text, `trace-cmd report` text, a
QEMU `-trace` log) is turned into one `Capture`: an ordered list of events plus what the VMM
configured (its MSR filter and user-space MSR mask). The views, the session and `whatif` read
only this, so none of them knows which source an event came from. The shapes follow api.md's
"Captures and traces".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from workbench.kvm.filter import MsrFilter


@dataclass(frozen=True)
class MsrExitAnswer:
    """An MSR access that exited to user space, and how the VMM completed it in kvm_run."""

    exit_reason: int            # uapi.KVM_EXIT_X86_RDMSR or KVM_EXIT_X86_WRMSR
    msr_reason: int             # uapi.KVM_MSR_EXIT_REASON_*
    data: int                   # kvm_run.msr.data after the VMM's completion
    error: int                  # kvm_run.msr.error: non-zero makes KVM inject #GP


@dataclass(slots=True)
class MsrAccess:
    """One guest rdmsr/wrmsr: handled in the kernel (`exit` is None) or in user space.

    Not frozen, unlike the other values here, though nothing changes one once read: a trace
    holds millions, and a frozen dataclass takes about 8x as long to construct."""

    vcpu: int                   # vCPU index, or the thread id where only a kernel trace names it
    index: int
    write: bool
    value: int | None           # written value; for reads the value the guest got; None if unknown
    gp: bool                    # the guest took #GP for it
    exit: MsrExitAnswer | None
    time: float | None = None   # seconds, as the source timestamps it; None where it does not
    line: int | None = None     # the source line, for messages and the views


@dataclass(frozen=True)
class UserExit:
    """One return of KVM_RUN to the VMM."""

    vcpu: int
    exit_reason: int            # uapi.KVM_EXIT_*
    detail: dict[str, int] = field(default_factory=dict)   # e.g. io port/size/data, msr index
    time: float | None = None
    line: int | None = None


@dataclass(frozen=True)
class ConfigAccess:
    """One PCI config-space access as a VMM's trace shows it."""

    device: str                 # the VMM's name for the device, e.g. "e1000" or a BDF
    offset: int
    size: int | None            # None where the trace omits it
    write: bool
    value: int
    time: float | None = None
    line: int | None = None


@dataclass(frozen=True)
class IoctlRecord:
    """A KVM ioctl the VMM issued that matters here (create VM/vCPU, enable cap, set filter)."""

    name: str                   # e.g. "KVM_X86_SET_MSR_FILTER"
    result: int                 # 0 or the negative errno the kernel returned
    args: dict[str, object] = field(default_factory=dict)
    time: float | None = None
    line: int | None = None


@dataclass(frozen=True)
class SkippedLine:
    """An input line a parser could not read: counted and shown, never fatal."""

    line: int
    reason: str


# The modelled functions a device's traced config accesses can replay on (the VFIO what-if,
# `workbench whatif --as`).
AS_KINDS = ("pf", "vf", "detached-vf")

Event = MsrAccess | UserExit | ConfigAccess | IoctlRecord


@dataclass
class Capture:
    """A capture or trace, loaded. `events` are in the order they happened."""

    source: Path
    format: str                 # "capture" | "tracefs" | "trace-cmd" | "qemu-trace"
    events: list[Event] = field(default_factory=list)
    msr_filter: MsrFilter | None = None
    user_space_msr_mask: int | None = None
    skipped: list[SkippedLine] = field(default_factory=list)
    meta: dict[str, object] = field(default_factory=dict)  # VMM command line, host, kernel...

    def msr_accesses(self) -> list[MsrAccess]:
        return [e for e in self.events if isinstance(e, MsrAccess)]

    def user_exits(self) -> list[UserExit]:
        return [e for e in self.events if isinstance(e, UserExit)]

    def config_accesses(self, device: str | None = None) -> list[ConfigAccess]:
        return [e for e in self.events if isinstance(e, ConfigAccess)
                and (device is None or e.device == device)]

    def ioctls(self) -> list[IoctlRecord]:
        return [e for e in self.events if isinstance(e, IoctlRecord)]
