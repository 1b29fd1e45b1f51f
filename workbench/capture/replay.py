"""Runs captured MSR accesses on an engine, one vCPU per captured vCPU, in captured order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.capture.errors import CaptureError
from workbench.capture.model import MsrAccess
from workbench.kvm import uapi
from workbench.kvm.engine import Vcpu, Vm
from workbench.kvm.exits import VcpuExit

_MSR_EXITS = (uapi.KVM_EXIT_X86_RDMSR, uapi.KVM_EXIT_X86_WRMSR)
_MAX_EXITS_PER_ACCESS = 4


@dataclass
class _Lane:
    """One replay vCPU and how far it got."""

    vcpu: Vcpu
    gp_count: int = 0
    broken: str | None = None


def _answer(exit_: VcpuExit, access: MsrAccess) -> bool:
    """Completes an MSR exit as the VMM did, or as the kernel did; True if the VMM's answer."""
    if access.exit is not None:
        exit_.msr.data, exit_.msr.error = access.exit.data, access.exit.error
        return True
    exit_.msr.data = 0 if access.write else (access.value or 0)
    exit_.msr.error = 1 if access.gp else 0
    return False


def run_access(lane: _Lane, access: MsrAccess) -> tuple[dict[str, Any], bool]:
    """Runs one access's instructions up to its report; the outcome and whether whatif (not
    the VMM's recorded answer) completed an exit."""
    outcome: dict[str, Any] = {"exit": None, "gp": False, "value": None}
    by_whatif = False
    if lane.broken:
        outcome["error"] = lane.broken
        return outcome, by_whatif
    for _ in range(_MAX_EXITS_PER_ACCESS):
        exit_ = lane.vcpu.run()
        if exit_.exit_reason in _MSR_EXITS:
            outcome["exit"] = {"exit_reason": exit_.exit_reason, "msr_reason": exit_.msr.reason,
                               "index": exit_.msr.index}
            by_whatif = not _answer(exit_, access)
            continue
        if exit_.exit_reason == uapi.KVM_EXIT_IO:
            regs = lane.vcpu.get_regs()
            outcome["gp"] = regs.r14 != lane.gp_count
            lane.gp_count = regs.r14
            if access.write:
                outcome["value"] = access.value
            elif not outcome["gp"]:
                outcome["value"] = (regs.rdx & 0xFFFFFFFF) << 32 | (regs.rax & 0xFFFFFFFF)
            return outcome, by_whatif
        break
    lane.broken = f"the replay vCPU stopped with exit reason {exit_.exit_reason}"
    outcome["error"] = lane.broken
    return outcome, by_whatif


def lanes_for(vm: Vm, accesses: list[MsrAccess], program_text) -> dict[int, _Lane]:
    """A vCPU per captured vCPU, in order of first appearance (the first is the BSP)."""
    from workbench.kvm.guest import AssemblyError, assemble

    order = list(dict.fromkeys(a.vcpu for a in accesses))
    lanes = {}
    for vcpu_id in order:
        mine = [a for a in accesses if a.vcpu == vcpu_id]
        try:
            program = assemble(program_text(mine))
        except AssemblyError as why:
            raise CaptureError(f"the replay program for vCPU {vcpu_id} does not assemble: "
                               f"{why}") from None
        lanes[vcpu_id] = _Lane(vm.create_vcpu(program))
    return lanes
