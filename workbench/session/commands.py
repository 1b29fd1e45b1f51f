"""Every user action as a typed, serializable command: what the session applies, the
recording stores and replay re-applies. Numbers are plain ints (u64 fits JSON)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

# The PCI actions a Pci command carries: part of the command vocabulary the GUI builds.
from workbench.vfio.story import (
    ConfigWriteStep,
    MmapReadStep,
    MmapWriteStep,
    OpenStep,
    RegionReadStep,
    RegionWriteStep,
)
from workbench.vfio.story import Step as PciStep

__all__ = ["ConfigWriteStep", "MmapReadStep", "MmapWriteStep", "OpenStep", "PciStep",
           "RegionReadStep", "RegionWriteStep"]


class _Command(msgspec.Struct, tag_field="command", forbid_unknown_fields=True, frozen=True,
               kw_only=True):
    pass


class SetFilter(_Command, tag="set_filter"):
    """KVM_X86_SET_MSR_FILTER with MsrFilter.to_dict() data; None clears the filter."""

    filter: dict[str, Any] | None = None


class EnableCap(_Command, tag="enable_cap"):
    cap: int
    args: list[int] = []


class StepVcpu(_Command, tag="step"):
    """Execute one guest instruction (sim only)."""

    vcpu: int = 0


class Interrupt(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Where a pause landed: after `exits` exits, in the exported vCPU `state`. A pause
    hits the guest at a moment no re-execution can find again, so the session rewrites
    an interrupted run into this: re-applying it runs `exits` exits and loads `state`."""

    exits: int
    state: dict[str, Any]


class RunToExit(_Command, tag="run_to_exit"):
    """KVM_RUN once: until the next exit to user space."""

    vcpu: int = 0
    interrupt: Interrupt | None = None


class Run(_Command, tag="run"):
    """KVM_RUN again and again while handlers answer, until an exit needs the user, the
    guest halts or shuts down, or `max_exits` exits have passed."""

    vcpu: int = 0
    max_exits: int = 10_000
    interrupt: Interrupt | None = None


class Answer(_Command, tag="answer"):
    """Complete the vCPU's pending exit as user space does in kvm_run (data, error; for an
    IN exit, data is what the guest reads)."""

    vcpu: int = 0
    data: int = 0
    error: int = 0


class SetHandler(_Command, tag="set_handler"):
    """Change user space's rule for one MSR ("none" removes it)."""

    msr: int
    kind: Literal["constant", "register", "fail", "ask", "none"]
    value: int = 0


class SetRegs(_Command, tag="set_regs"):
    vcpu: int = 0
    regs: dict[str, int] = {}


class SetMsr(_Command, tag="set_msr"):
    """KVM_SET_MSRS: host-initiated, never filtered."""

    vcpu: int = 0
    index: int = 0
    value: int = 0


class SetBreakpoint(_Command, tag="set_breakpoint"):
    """Stop a vCPU (KVM_EXIT_DEBUG) before the instruction at an address, or before any
    guest RDMSR/WRMSR of an MSR index (sim only)."""

    vcpu: int = 0
    kind: Literal["address", "msr"] = "address"
    value: int = 0
    enabled: bool = True


class Pci(_Command, tag="pci"):
    """One vfio/PCI action (config access, region/mmap access, host-side change...)."""

    action: PciStep


Command = (
    SetFilter | EnableCap | StepVcpu | RunToExit | Run | Answer | SetHandler | SetRegs | SetMsr
    | SetBreakpoint | Pci
)

_encoder = msgspec.json.Encoder()


def to_builtins(command: Command) -> dict[str, Any]:
    return msgspec.to_builtins(command)


def from_builtins(data: Any) -> Command:
    """Validate a decoded command; msgspec.ValidationError names the bad field."""
    return msgspec.convert(data, Command)


def encode(command: Command) -> bytes:
    return _encoder.encode(command)
