"""A sim vCPU's state as plain data for a file (a recorded interrupted run resumes from
it): architectural registers, RAM (zlib + base64), the MSR file, guest time and the
dynamic intercept reasons.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from workbench.kvm.guest.layout import GUEST_MEM_SIZE
from workbench.kvm.intercepts import InterceptState

if TYPE_CHECKING:
    from workbench.kvm.sim import SimVcpu


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
