"""The sim's other intercepted instructions: HLT, port I/O, CPUID, RDTSC(P), and what
kvm_pvm cannot emulate. Like msr_exits, each returns the exit for user space or the
address the guest resumes at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.kvm.exits import ExitKind, VcpuExit
from workbench.kvm.guest.cpu import RAX, RBX, RCX, RDX, RIP, Special, SpecialInsn
from workbench.kvm.msrs.numbers import MSR_IA32_TSC, MSR_TSC_AUX
from workbench.values import U32_MAX

if TYPE_CHECKING:
    from workbench.kvm.sim_vcpu import SimVcpu


def kvm_emulate_halt(vcpu: SimVcpu, insn: SpecialInsn) -> VcpuExit:
    """KVM_EXIT_HLT with RIP past the hlt; with an in-kernel irqchip the kernel would wait
    for an interrupt the model has no source of, so that is refused."""
    next_rip = insn.address + insn.size
    vcpu.cpu.set_reg(RIP, next_rip)
    if vcpu.vm.irqchip:
        raise RuntimeError(
            f"vCPU {vcpu.vcpu_id} executed hlt at {insn.address:#x} with an in-kernel "
            "irqchip and no interrupt source: the real kernel would wait forever "
            "(end such programs with an `out`)"
        )
    return VcpuExit.of(ExitKind.HLT, next_rip)


def kvm_fast_pio(vcpu: SimVcpu, insn: SpecialInsn) -> VcpuExit:
    """KVM_EXIT_IO. An OUT has retired when user space sees it (RIP is past it, as the
    6.18 host shows; upstream VMX defers that to re-entry except for port 0x7e); an IN
    waits at the instruction for its data (complete_fast_pio_in)."""
    cpu = vcpu.cpu
    port = insn.io_port if insn.io_port is not None else cpu.reg(RDX) & 0xFFFF
    out = insn.kind is Special.OUT
    data = cpu.reg(RAX) & ((1 << 8 * insn.io_size) - 1) if out else 0
    rip = insn.address + insn.size if out else insn.address
    exit_ = VcpuExit.pio(out, port, insn.io_size, data, rip)
    if out:
        cpu.set_reg(RIP, insn.address + insn.size)
    else:
        vcpu.pending = exit_
    return exit_


def complete_fast_pio_in(vcpu: SimVcpu, exit_: VcpuExit, insn: SpecialInsn) -> int:
    """Load user space's io.data into AL/AX/EAX (a 32-bit IN zero-extends into RAX)."""
    size, data = insn.io_size, exit_.io.data
    if size == 4:
        vcpu.cpu.set_reg(RAX, data & U32_MAX)
    else:
        mask = (1 << 8 * size) - 1
        vcpu.cpu.set_reg(RAX, vcpu.cpu.reg(RAX) & ~mask | data & mask)
    return insn.address + insn.size


def kvm_emulate_cpuid(vcpu: SimVcpu, insn: SpecialInsn) -> int:
    """kvm_emulate_cpuid over the VM's CPUID table (unknown leaves read as zeros)."""
    cpu = vcpu.cpu
    entry = vcpu.vm.cpuid.get(cpu.reg(RAX) & U32_MAX, cpu.reg(RCX) & U32_MAX)
    values = (0, 0, 0, 0) if entry is None else (entry.eax, entry.ebx, entry.ecx, entry.edx)
    for reg, value in zip((RAX, RBX, RCX, RDX), values, strict=True):
        cpu.set_reg(reg, value)
    return insn.address + insn.size


def emulate_rdtsc(vcpu: SimVcpu, insn: SpecialInsn) -> int:
    """RDTSC/RDTSCP read the same deterministic guest TSC as MSR 0x10."""
    _, tsc = vcpu.msrs.host_get(MSR_IA32_TSC)
    vcpu.cpu.set_edx_eax(tsc)
    if insn.kind is Special.RDTSCP:
        _, aux = vcpu.msrs.host_get(MSR_TSC_AUX)
        vcpu.cpu.set_reg(RCX, aux & U32_MAX)
    return insn.address + insn.size


def pvm_emulation_failure(vcpu: SimVcpu, insn: SpecialInsn) -> VcpuExit:
    """INT n / INT3 / INT1, and RDTSCP whatever the CPUID says, trap to kvm_pvm, whose
    emulator fails: KVM_EXIT_INTERNAL_ERROR with RIP at the instruction, again on every
    re-entry (observed on the 6.18-fc host with kvm_pvm)."""
    vcpu.cpu.set_reg(RIP, insn.address)
    return VcpuExit.of(ExitKind.INTERNAL_ERROR, insn.address)
