"""Handlers for the AMD configuration MSRs: HWCR, VM_CR and VM_HSAVE_PA.

Sources: arch/x86/kvm/x86.c (kvm_set_msr_common's MSR_K7_HWCR), svm/svm.c
(svm_set_vm_cr, svm_set_msr's MSR_VM_HSAVE_PA); the profile picks the kernel's version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.kvm.msrs import numbers as n
from workbench.kvm.msrs.base import MsrResult

if TYPE_CHECKING:
    from workbench.kvm.msrs.catalogue import MsrInfo
    from workbench.kvm.msrs.emulate import MsrFile

OK, INVALID = MsrResult.OK, MsrResult.INVALID

SVM_VM_CR_LOCK = 1 << 3
SVM_VM_CR_SVM_DIS = 1 << 4


def write_hwcr(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    value &= ~((1 << 3) | (1 << 6) | (1 << 8))
    if f.ctx.profile.at_least(6, 7):
        if value & ~((1 << 18) | (1 << 24)):
            return INVALID
        f.regs[index] = value
    elif value == 1 << 18:
        f.regs[index] = value
    elif value:
        return INVALID
    return OK


def write_vm_cr(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    """svm.c svm_set_vm_cr."""
    old = f.regs.get(index, 0)
    change = 0x1F
    if old & SVM_VM_CR_SVM_DIS:
        change &= ~(SVM_VM_CR_LOCK | SVM_VM_CR_SVM_DIS)
    new = (old & ~change) | (value & change)
    if new & SVM_VM_CR_SVM_DIS and f.regs[n.MSR_EFER] & n.EFER_SVME:
        return INVALID
    f.regs[index] = new
    return OK


def read_hsave(f: MsrFile, info: MsrInfo, index: int, host: bool) -> tuple[MsrResult, int]:
    return OK, f.regs.get(index, 0) if f.ctx.vendor == "amd" else 0


def write_hsave(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    if f.ctx.vendor != "amd":
        return OK  # kvm_set_msr_common accepts and drops it
    if f.ctx.profile.at_least(5, 15):
        if not host and (value & 0xFFF or value & f.reserved_gpa_bits):
            return INVALID
        value &= ~0xFFF
    f.regs[index] = value
    return OK


READERS = {"hsave": read_hsave}
WRITERS = {"hwcr": write_hwcr, "vm_cr": write_vm_cr, "hsave": write_hsave}
