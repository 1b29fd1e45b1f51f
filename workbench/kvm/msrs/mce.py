"""Machine-check MSRs (x86.c get_msr_mce / set_msr_mce).

Without KVM_X86_SETUP_MCE a vCPU has MCG_CAP = 32 banks and no CTL_P/CMCI_P/LMCE_P, so
MCG_CTL and MCi_CTL2 fail for the guest while the banks themselves work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.kvm.msrs import numbers as n
from workbench.kvm.msrs.base import MsrResult
from workbench.values import U64_MAX

if TYPE_CHECKING:
    from workbench.kvm.msrs.catalogue import MsrInfo
    from workbench.kvm.msrs.emulate import MsrFile

OK, INVALID = MsrResult.OK, MsrResult.INVALID

MCG_CTL_P = 1 << 8
MCG_CMCI_P = 1 << 10
HWCR_MCSTATUSWREN = 1 << 18
_CTL2_VALID = (1 << 30) | 0x7FFF  # CMCI_EN | threshold


def _cap(f: MsrFile) -> int:
    return f.regs.get(n.MSR_IA32_MCG_CAP, n.KVM_MAX_MCE_BANKS)


def _banks(f: MsrFile) -> int:
    return _cap(f) & 0xFF


def read_mcg_ctl(f: MsrFile, info: MsrInfo, index: int, host: bool) -> tuple[MsrResult, int]:
    if not _cap(f) & MCG_CTL_P and not host:
        return INVALID, 0
    return OK, f.regs.get(index, 0)


def write_mcg_ctl(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                  ) -> MsrResult:
    if not _cap(f) & MCG_CTL_P and (value or not host):
        return INVALID
    if value not in (0, U64_MAX):
        return INVALID
    f.regs[index] = value
    return OK


def _bank_ok(f: MsrFile, index: int) -> bool:
    return index - n.MSR_IA32_MC0_CTL < 4 * _banks(f)


def read_bank(f: MsrFile, info: MsrInfo, index: int, host: bool) -> tuple[MsrResult, int]:
    if not _bank_ok(f, index):
        return INVALID, 0
    return OK, f.regs.get(index, 0)


def write_bank(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    if not _bank_ok(f, index):
        return INVALID
    reg = (index - n.MSR_IA32_MC0_CTL) & 3
    # MCi_CTL: 0 or all ones; bit 10 may be clear (K8 GART erratum) and, since 6.x,
    # bit 0 (UnixWare).
    tolerated = (1 << 10) | (1 if f.ctx.profile.at_least(6, 0) else 0)
    if reg == 0 and value and (value | tolerated) != U64_MAX:
        return INVALID
    if reg == 1 and value and not host and not _can_set_status(f):
        return INVALID
    f.regs[index] = value
    return OK


def _can_set_status(f: MsrFile) -> bool:
    """can_set_mci_status(): AMD-compatible guests with HWCR.McStatusWrEn."""
    return f.cpuid.is_amd_compatible and bool(
        f.regs.get(n.MSR_K7_HWCR, 0) & HWCR_MCSTATUSWREN)


def _ctl2_ok(f: MsrFile, index: int) -> bool:
    return index - n.MSR_IA32_MC0_CTL2 < _banks(f)


def read_ctl2(f: MsrFile, info: MsrInfo, index: int, host: bool) -> tuple[MsrResult, int]:
    if not _ctl2_ok(f, index) or (not _cap(f) & MCG_CMCI_P and not host):
        return INVALID, 0
    return OK, f.regs.get(index, 0)


def write_ctl2(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    if not _ctl2_ok(f, index):
        return INVALID
    if not _cap(f) & MCG_CMCI_P and (value or not host):
        return INVALID
    if value & ~_CTL2_VALID:
        return INVALID
    f.regs[index] = value
    return OK


READERS = {"mcg_ctl": read_mcg_ctl, "mce_bank": read_bank, "mce_ctl2": read_ctl2}
WRITERS = {"mcg_ctl": write_mcg_ctl, "mce_bank": write_bank, "mce_ctl2": write_ctl2}
