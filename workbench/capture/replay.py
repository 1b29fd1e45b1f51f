"""Runs captured MSR accesses on an engine, one vCPU per captured vCPU, in captured order.

Every replay vCPU runs the same small loop, so a capture of any length needs no program of
its length: the loop asks for the next access with an `out` to ASK_PORT, the replayer puts
it in the registers (RCX index, EDX:EAX value, RBX 1 for a write), the guest executes the
rdmsr or wrmsr, and reports with an `out` to REPORT_PORT, where the replayer reads RDX:RAX
and R14 (the runtime's #GP count).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from workbench.capture.errors import CaptureError
from workbench.capture.model import MsrAccess
from workbench.kvm import uapi
from workbench.kvm.engine import Vcpu, Vm
from workbench.kvm.exits import VcpuExit
from workbench.kvm.guest import Program

ASK_PORT, REPORT_PORT = 0x81, 0x80
_MSR_EXITS = (uapi.KVM_EXIT_X86_RDMSR, uapi.KVM_EXIT_X86_WRMSR)
_MAX_EXITS_PER_ACCESS = 4
LOOP_SOURCE = f"""
next:
    out {ASK_PORT:#x}, al
    test rbx, rbx
    jnz write
    rdmsr
    jmp report
write:
    wrmsr
report:
    out {REPORT_PORT:#x}, al
    jmp next
"""


@cache
def _loop() -> Program:
    from workbench.kvm.guest import assemble

    return assemble(LOOP_SOURCE)


@dataclass
class Lane:
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


def _run_to(lane: Lane, port: int, access: MsrAccess, outcome: dict[str, Any]) -> bool:
    """Runs until the `out` to `port`, answering MSR exits on the way; True if whatif (not
    the VMM's recording) answered one. Marks the lane broken on any other exit."""
    by_whatif = False
    for _ in range(_MAX_EXITS_PER_ACCESS):
        exit_ = lane.vcpu.run()
        if exit_.exit_reason in _MSR_EXITS:
            outcome["exit"] = {"exit_reason": exit_.exit_reason, "msr_reason": exit_.msr.reason,
                               "index": exit_.msr.index}
            by_whatif = not _answer(exit_, access) or by_whatif
            continue
        if exit_.exit_reason == uapi.KVM_EXIT_IO and exit_.io.port == port:
            return by_whatif
        lane.broken = f"the replay vCPU stopped with exit reason {exit_.exit_reason}"
        return by_whatif
    lane.broken = "the replay vCPU kept exiting for one access"
    return by_whatif


def run_access(lane: Lane, access: MsrAccess) -> tuple[dict[str, Any], bool]:
    """Replays one access; its outcome (api.md's shape: exit, gp, value) and whether whatif
    completed an exit for it. Where the lane broke, `lane.broken` says why."""
    outcome: dict[str, Any] = {"exit": None, "gp": False, "value": None}
    by_whatif = False
    if lane.broken is None:
        value = access.value or 0
        lane.vcpu.set_regs({"rcx": access.index, "rbx": int(access.write),
                            "rax": value & 0xFFFF_FFFF if access.write else 0,
                            "rdx": value >> 32 if access.write else 0})
        by_whatif = _run_to(lane, REPORT_PORT, access, outcome)
    if lane.broken is not None:
        return outcome, by_whatif
    regs = lane.vcpu.get_regs()
    outcome["gp"] = regs.r14 != lane.gp_count
    lane.gp_count = regs.r14
    if access.write:
        outcome["value"] = access.value
    elif not outcome["gp"]:
        outcome["value"] = (regs.rdx & 0xFFFF_FFFF) << 32 | (regs.rax & 0xFFFF_FFFF)
    _run_to(lane, ASK_PORT, access, {})        # back at the loop's head for the next one
    return outcome, by_whatif


def lanes_for(vm: Vm, accesses: list[MsrAccess]) -> dict[int, Lane]:
    """A vCPU per captured vCPU, in order of first appearance (the first is the BSP), each
    waiting at the loop's head."""
    from workbench.kvm.guest import AssemblyError

    try:
        program = _loop()
    except AssemblyError as why:
        raise CaptureError(f"the replay loop does not assemble: {why}") from None
    lanes = {}
    for vcpu_id in dict.fromkeys(a.vcpu for a in accesses):
        lane = Lane(vm.create_vcpu(program))
        first = next(a for a in accesses if a.vcpu == vcpu_id)
        _run_to(lane, ASK_PORT, first, {})
        lanes[vcpu_id] = lane
    return lanes
