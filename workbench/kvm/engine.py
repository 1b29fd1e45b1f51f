"""The one interface both engines implement, and the errors they share.

The sim (workbench.kvm.sim) and the real /dev/kvm (workbench.hostkvm) both import this
module and neither imports the other: callers such as the session hold a `Kvm`, `Vm` or
`Vcpu` and ask its capabilities (`vcpu.can_step`, `vm.can_checkpoint`, ...) instead of
the engine's name. A method whose capability is False raises SimOnlyError saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from workbench.kvm.exits import VcpuExit
    from workbench.kvm.filter import MsrFilter
    from workbench.kvm.guest.assembler import Program
    from workbench.kvm.msr_exits import MsrAccess
    from workbench.kvm.regs import Regs, Sregs


class ClosedError(ValueError):
    """A KVM, VM or vCPU handle used after its close()."""


class SimOnlyError(RuntimeError):
    """Raised by the host engine for what only the sim can show or do."""


@runtime_checkable
class Vcpu(Protocol):
    """A vCPU handle (kvm-ioctls' VcpuFd)."""

    vcpu_id: int
    program: Program
    pending: VcpuExit | None      # the exit whose answer the next run() hands over
    # Capabilities: what this vCPU can do beyond running (False = SimOnlyError).
    can_step: bool                # step(): one guest instruction at a time
    can_breakpoint: bool          # set_breakpoint(), set_msr_breakpoint(), breakpoints()
    can_budget: bool              # instruction_budget bounds a run deterministically
    has_msr_bitmap: bool          # msr_bitmap() shows the VMX bitmap / SVM MSRPM
    can_read_state: bool          # get_sregs(), msr_file(), read_memory(): the debugger views
    msr_file_note: str            # what msr_file() cannot show on this engine ("" = nothing)
    instruction_budget: int       # guest instructions per run(), 0 = unbounded

    def get_regs(self) -> Regs: ...
    def set_regs(self, regs: Regs | dict[str, int]) -> None: ...
    def get_tsc_khz(self) -> int: ...
    def get_msr(self, index: int) -> int: ...
    def set_msr(self, index: int, value: int) -> None: ...
    def get_sregs(self) -> Sregs:
        """KVM_GET_SREGS: segments with their hidden parts, CRs, EFER, GDTR/IDTR."""

    def msr_file(self) -> dict[int, int]:
        """Index -> value of every MSR the in-kernel emulation holds for this vCPU that
        KVM_GET_MSRS answers (where the engine can only ask, the catalogue's indices)."""

    def read_memory(self, address: int, size: int) -> bytes:
        """Guest physical memory as this vCPU sees it; ValueError outside guest RAM."""

    def run(self) -> VcpuExit: ...
    def step(self) -> VcpuExit | None: ...

    def pause(self) -> None:
        """Make a run() in another thread return KVM_EXIT_INTR; made between runs, the next
        run returns at once (kvm_run.immediate_exit) until cancel_pause()."""

    def cancel_pause(self) -> None:
        """Forget a pause() that no run has consumed yet."""

    def set_breakpoint(self, address: int, enabled: bool = True) -> None: ...
    def set_msr_breakpoint(self, index: int, enabled: bool = True) -> None: ...

    def breakpoints(self) -> tuple[frozenset[int], frozenset[int]]:
        """(addresses, MSR indices) this vCPU stops at with KVM_EXIT_DEBUG."""

    def msr_bitmap(self) -> np.ndarray: ...

    def export_state(self) -> dict[str, Any]:
        """This vCPU's state as plain data for a file (needs the VM's can_checkpoint)."""

    def import_state(self, data: dict[str, Any]) -> None: ...

    def state_parts(self) -> Iterator[bytes]:
        """What a session's state digest covers beyond registers and the pending exit:
        everything this engine can see of the vCPU (nothing, where it sees no more)."""

    def close(self) -> None: ...


@runtime_checkable
class Vm(Protocol):
    """A VM handle (kvm-ioctls' VmFd)."""

    vendor: str                   # the KVM vendor module: "intel", "amd" or "pvm"
    irqchip: bool
    # Called with every guest RDMSR/WRMSR the engine sees, handled in the kernel or not;
    # the real kernel tells user space nothing of the ones it handles, so the host never calls it.
    observer: Callable[[MsrAccess], None] | None
    # Capabilities (False = SimOnlyError).
    can_checkpoint: bool          # save_state()/restore_state(), vCPU export/import_state
    can_inspect_filter: bool      # msr_allowed(), filter_map(): the filter's decisions
    observes_msrs: bool           # the observer sees accesses the kernel handles itself

    @property
    def profile_name(self) -> str:
        """The kernel this VM behaves as: "linux-M.m"."""

    def enable_cap(self, cap: int, *args: int) -> None: ...
    def set_msr_filter(self, msr_filter: MsrFilter | None) -> None: ...

    def filter_in_force(self) -> MsrFilter:
        """The filter the VM applies now: the installed one, or the last one accepted."""

    def create_vcpu(self, program: Program | bytes | str) -> Vcpu: ...
    def msr_allowed(self, index: int, write: bool) -> bool: ...
    def filter_map(self, first: int, count: int, write: bool) -> np.ndarray: ...
    def save_state(self) -> Any: ...
    def restore_state(self, state: Any) -> None: ...

    def state_parts(self) -> Iterator[bytes]:
        """The VM-wide part of a session's state digest (see Vcpu.state_parts)."""

    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class Kvm(Protocol):
    """A KVM system handle (kvm-ioctls' Kvm), from workbench.kvm.open()."""

    engine: str                   # "sim" or "host"
    # Capability: create_vm takes any vendor and profile, and the machine-dependent
    # keyword options ignore_msrs, cstate_in_guest, tsc_khz and host_msrs: the engine
    # models a machine instead of being this one.
    can_model_machine: bool

    def check_extension(self, cap: int) -> int: ...
    def create_vm(self, vendor: str | None = None, profile: str | None = None,
                  irqchip: bool = False, cpuid: Iterable[Any] | None = None) -> Vm: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...
