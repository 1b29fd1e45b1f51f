"""A sim VM's and vCPU's state: the records a checkpoint keeps (restoring them resumes bit
for bit), and a vCPU's state as plain data for a file (a recorded interrupted run resumes
from it): architectural registers, RAM (zlib + base64), the MSR file, guest time and the
dynamic intercept reasons.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, NamedTuple

from workbench.kvm.exits import IoExit, MsrExit, VcpuExit
from workbench.kvm.filter import InstalledFilter
from workbench.kvm.guest.layout import GUEST_MEM_SIZE
from workbench.kvm.intercepts import InterceptState

if TYPE_CHECKING:
    from workbench.kvm.sim_vcpu import SimVcpu


class PendingExit(NamedTuple):
    """An exit user space has not answered yet, as a checkpoint keeps it: the VcpuExit is
    kvm_run, which user space writes its answer into, so the checkpoint holds its values."""

    exit_reason: int
    rip: int
    msr: MsrExit  # copies that nothing else holds: of() and to_exit() copy again
    io: IoExit

    @classmethod
    def of(cls, exit_: VcpuExit) -> PendingExit:
        return cls(exit_.exit_reason, exit_.rip, replace(exit_.msr), replace(exit_.io))

    def to_exit(self) -> VcpuExit:
        return VcpuExit(self.exit_reason, replace(self.msr), replace(self.io), self.rip)


@dataclass(frozen=True)
class VcpuState:
    """Everything a sim vCPU holds, for checkpoints: restoring it resumes bit for bit."""

    context: object                  # unicorn.UcContext
    memory: bytes
    msrs: dict[int, int]
    intercepts: InterceptState
    pending: PendingExit | None
    shutdown_reason: str | None
    ticks: int
    breakpoints: tuple[frozenset[int], int | None] = (frozenset(), None)
    msr_breakpoints: tuple[frozenset[int], int | None] = (frozenset(), None)


@dataclass(frozen=True)
class VmState:
    filter: InstalledFilter
    filter_generation: int
    user_space_msr_mask: int
    vcpus: tuple[VcpuState, ...]


def export_vcpu_state(vcpu: SimVcpu) -> dict[str, Any]:
    return {
        "regs": vcpu.cpu.arch_state(),
        "memory": base64.b64encode(
            zlib.compress(vcpu.cpu.read_memory(0, GUEST_MEM_SIZE), 6)).decode(),
        "msrs": vcpu.msrs.snapshot(),
        "ticks": vcpu.ticks,
        "intercepts": asdict(vcpu.intercepts),
    }


def import_vcpu_state(vcpu: SimVcpu, data: dict[str, Any]) -> None:
    """Inverse of export_vcpu_state; ValueError (naming what is wrong) for data that does
    not fit the vCPU. Any exit the vCPU was waiting on is dropped."""
    try:
        memory = inflate_memory(data["memory"])
        intercepts = InterceptState(**data["intercepts"])
        vcpu.cpu.set_arch_state({k: int(v) for k, v in data["regs"].items()})
        vcpu.msrs.restore({int(k): int(v) for k, v in data["msrs"].items()})
        vcpu.ticks = int(data["ticks"])
    except (KeyError, TypeError, zlib.error, binascii.Error) as exc:
        raise ValueError(f"vCPU state: {exc}") from None
    vcpu.cpu.write_memory(0, memory)
    vcpu.intercepts = intercepts
    vcpu.pending = None
    vcpu._bitmap = None


def inflate_memory(encoded: str) -> bytes:
    """Guest RAM from export_state's base64 zlib text, inflated with a bound (a few KB of
    zlib can claim gigabytes); ValueError unless it is exactly GUEST_MEM_SIZE bytes."""
    try:
        inflate = zlib.decompressobj()
        memory = inflate.decompress(base64.b64decode(encoded, validate=True), GUEST_MEM_SIZE + 1)
    except (TypeError, zlib.error, binascii.Error) as exc:
        raise ValueError(f"memory: {exc}") from None
    if len(memory) != GUEST_MEM_SIZE or not inflate.eof:
        raise ValueError(f"memory: does not inflate to exactly {GUEST_MEM_SIZE} bytes")
    return memory
