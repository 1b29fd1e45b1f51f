"""A guest RDMSR/WRMSR on the sim, one function per step of arch/x86/kvm/x86.c.

kvm_emulate_rdmsr/wrmsr ask the filter (kvm_msr_allowed, inside kvm_get/set_msr_with_filter)
and then the in-kernel handler; a failure goes to user space when its reason
(kvm_msr_reason) is in the KVM_CAP_X86_USER_SPACE_MSR mask (kvm_msr_user_space), else the
guest takes a #GP (complete_emulated_msr). User space's answer is applied on the next run
(complete_userspace_msr). Each step returns what the vCPU loop expects: the exit to hand
to user space, or the address the guest resumes at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.kvm import uapi
from workbench.kvm.exits import ExitKind, VcpuExit
from workbench.kvm.guest.cpu import R14, R15, RAX, RCX, RDX, RIP, SpecialInsn
from workbench.kvm.guest.layout import GP_VECTOR
from workbench.kvm.msrs.emulate import MsrResult
from workbench.kvm.msrs.numbers import MSR_IA32_PRED_CMD, MSR_IA32_SPEC_CTRL, MSR_IA32_XFD
from workbench.values import U32_MAX, U64_MAX

if TYPE_CHECKING:
    from workbench.kvm.sim_vcpu import SimVcpu

_PASSTHROUGH_ON_WRITE = {
    MSR_IA32_SPEC_CTRL: "spec_ctrl_passthrough",
    MSR_IA32_PRED_CMD: "pred_cmd_passthrough",
    MSR_IA32_XFD: "xfd_passthrough",
}


@dataclass(frozen=True, slots=True)
class MsrAccess:
    """One guest RDMSR/WRMSR as KVM saw it, for the trap log (issued to `vm.observer`)."""

    vcpu_id: int
    rip: int
    index: int
    write: bool
    value: int           # written value, or the value read (0 when it failed)
    allowed: bool        # the filter's decision
    result: int          # MsrResult of the in-kernel handler (OK when filtered out)
    reason: int = 0      # KVM_MSR_EXIT_REASON_* of the failure, 0 on success
    exited: bool = False  # went to user space
    gp: bool = False     # #GP injected
    passthrough: bool = False  # the intercept bitmap let it reach the MSR with no VM exit


def _observe_ok(vcpu: SimVcpu, insn: SpecialInsn, index: int, write: bool, value: int
                ) -> None:
    """Tell the VM's observer (the trap log) about an access the kernel handled."""
    if vcpu.vm.observer is not None:
        vcpu.vm.observer(MsrAccess(
            vcpu_id=vcpu.vcpu_id, rip=insn.address, index=index, write=write, value=value,
            allowed=True, result=int(MsrResult.OK),
            passthrough=vcpu.passes_through(index, write)))

def kvm_emulate_rdmsr(vcpu: SimVcpu, insn: SpecialInsn) -> VcpuExit | int:
    index = vcpu.cpu.reg(RCX) & U32_MAX
    stop = _msr_breakpoint(vcpu, insn, index)
    if stop is not None:
        return stop
    allowed = vcpu.vm.msr_allowed(index, False)
    result, value = MsrResult.OK, 0
    if allowed:
        result, value = vcpu.msrs.get(index)
        if result == MsrResult.UNSUPPORTED and vcpu.vm.ignore_msrs:
            result, value = MsrResult.OK, 0
        if result == MsrResult.OK:
            _observe_ok(vcpu, insn, index, False, value)
            vcpu.cpu.set_edx_eax(value)
            return insn.address + insn.size
    return _failed(vcpu, insn, index, False, 0, allowed, result)


def kvm_emulate_wrmsr(vcpu: SimVcpu, insn: SpecialInsn) -> VcpuExit | int:
    cpu = vcpu.cpu
    index = cpu.reg(RCX) & U32_MAX
    stop = _msr_breakpoint(vcpu, insn, index)
    if stop is not None:
        return stop
    value = (cpu.reg(RDX) & U32_MAX) << 32 | cpu.reg(RAX) & U32_MAX
    allowed = vcpu.vm.msr_allowed(index, True)
    result = MsrResult.OK
    if allowed:
        result = vcpu.msrs.set(index, value)
        if result == MsrResult.UNSUPPORTED and vcpu.vm.ignore_msrs:
            result = MsrResult.OK
        if result == MsrResult.OK:
            _observe_ok(vcpu, insn, index, True, value)
            _after_wrmsr(vcpu, index, value)
            return insn.address + insn.size
    return _failed(vcpu, insn, index, True, value, allowed, result)


def kvm_msr_reason(result: MsrResult, filtered: bool) -> int:
    """kvm_msr_reason: KVM_MSR_RET_FILTERED -> FILTER, "KVM does not know this MSR"
    (RET_UNSUPPORTED, 5.10's RET_INVALID) -> UNKNOWN, any other failure -> INVAL."""
    if filtered:
        return uapi.KVM_MSR_EXIT_REASON_FILTER
    if result == MsrResult.UNSUPPORTED:
        return uapi.KVM_MSR_EXIT_REASON_UNKNOWN
    return uapi.KVM_MSR_EXIT_REASON_INVAL


def kvm_msr_user_space(vcpu: SimVcpu, insn: SpecialInsn, index: int, write: bool, data: int,
                       reason: int) -> VcpuExit | None:
    """kvm_msr_user_space: the exit to user space if the VM asked for this reason, else
    None (the access fails in the kernel). The exit stays pending until the next run."""
    if not vcpu.vm.user_space_msr_mask & reason:
        return None
    exit_ = VcpuExit.msr_access(write, index, data, reason, insn.address)
    vcpu.pending = exit_
    return exit_


def complete_userspace_msr(vcpu: SimVcpu, exit_: VcpuExit, insn: SpecialInsn) -> int:
    """complete_fast_rdmsr / complete_fast_msr_access: user space's msr.error injects a
    #GP, else an RDMSR loads msr.data into EDX:EAX; where the guest resumes."""
    msr = exit_.msr
    if msr.error:
        return inject_gp(vcpu, insn)
    if exit_.kind is ExitKind.RDMSR:
        vcpu.cpu.set_edx_eax(msr.data & U64_MAX)
    return insn.address + insn.size


def inject_gp(vcpu: SimVcpu, insn: SpecialInsn) -> int:
    """The runtime's #GP handler: R14 += 1, R15 = 13, resume after the instruction."""
    cpu = vcpu.cpu
    cpu.set_reg(R14, cpu.reg(R14) + 1 & U64_MAX)
    cpu.set_reg(R15, GP_VECTOR)
    return insn.address + insn.size


def _failed(vcpu: SimVcpu, insn: SpecialInsn, index: int, write: bool, value: int,
            allowed: bool, result: MsrResult) -> VcpuExit | int:
    """The failure path both directions share: user space or #GP."""
    reason = kvm_msr_reason(result, not allowed)
    exit_ = kvm_msr_user_space(vcpu, insn, index, write, value, reason)
    exits = exit_ is not None
    if vcpu.vm.observer is not None:
        vcpu.vm.observer(MsrAccess(
            vcpu_id=vcpu.vcpu_id, rip=insn.address, index=index, write=write, value=value,
            allowed=allowed, result=int(result), reason=reason, exited=exits, gp=not exits))
    return exit_ if exit_ is not None else inject_gp(vcpu, insn)


def _msr_breakpoint(vcpu: SimVcpu, insn: SpecialInsn, index: int) -> VcpuExit | None:
    """Sim-only: stop (KVM_EXIT_DEBUG) before the guest touches a watched MSR, once;
    the next run executes the access."""
    if not vcpu.msr_breakpoints or index not in vcpu.msr_breakpoints:
        return None
    if vcpu._passed_msr_break != insn.address:
        vcpu._passed_msr_break = insn.address
        vcpu.cpu.set_reg(RIP, insn.address)
        return VcpuExit.debug(insn.address, index)
    vcpu._passed_msr_break = None
    return None


def _after_wrmsr(vcpu: SimVcpu, index: int, value: int) -> None:
    """vmx_set_msr / svm_set_msr: a guest's first non-zero write to SPEC_CTRL (and,
    before 6.4, PRED_CMD; from 5.17 on VMX, XFD) drops that MSR's intercept, through
    the guard."""
    flag = _PASSTHROUGH_ON_WRITE.get(index)
    if flag is None or not value or getattr(vcpu.intercepts, flag):
        return
    profile = vcpu.vm.profile
    if flag == "pred_cmd_passthrough" and profile.pred_cmd_passthrough_by_cpuid:
        return
    if flag == "xfd_passthrough" and (vcpu.vm.vendor != "intel"
                                      or not profile.xfd_write_passthrough):
        return
    setattr(vcpu.intercepts, flag, True)
    vcpu._bitmap = None
