"""Handlers for the CET MSRs (U_CET, S_CET, the shadow-stack pointers), new in 6.18.

Sources: arch/x86/kvm/x86.c (kvm_get/set_msr_common's CET cases, is_cet_msr_valid).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.kvm.msrs import numbers as n
from workbench.kvm.msrs.base import MsrResult
from workbench.kvm.msrs.core import canonical_bits, is_canonical
from workbench.values import U64_MAX

if TYPE_CHECKING:
    from workbench.kvm.msrs.catalogue import MsrInfo
    from workbench.kvm.msrs.emulate import MsrFile

OK, INVALID, UNSUPPORTED = MsrResult.OK, MsrResult.INVALID, MsrResult.UNSUPPORTED

CET_SHSTK_BITS = 0x3
CET_IBT_BITS = 0x3C | (U64_MAX & ~0x3FF)
CET_RESERVED = 0x3C0
CET_SUPPRESS = 1 << 10
CET_WAIT_ENDBR = 1 << 11
CET_LEGACY_BITMAP_MISALIGNED = 3 << 12  # the bitmap base (bits 63:12) is 4-aligned


def _cet_known(f: MsrFile, index: int) -> bool:
    if index in (n.MSR_IA32_U_CET, n.MSR_IA32_S_CET):
        return f.has("shstk") or f.has("ibt")
    return f.has("shstk")


def read_cet(f: MsrFile, info: MsrInfo, index: int, host: bool) -> tuple[MsrResult, int]:
    if not _cet_known(f, index):
        return UNSUPPORTED, 0
    return OK, f.regs.get(index, 0)


def write_cet(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    if not _cet_known(f, index):
        return UNSUPPORTED
    if index in (n.MSR_IA32_U_CET, n.MSR_IA32_S_CET):
        if (value & CET_RESERVED
                or (value & CET_SHSTK_BITS and not f.has("shstk"))
                or (value & CET_IBT_BITS and not f.has("ibt"))
                or value & CET_LEGACY_BITMAP_MISALIGNED
                or (value & CET_SUPPRESS and value & CET_WAIT_ENDBR)):
            return INVALID
    else:
        if not is_canonical(value, canonical_bits(f)):
            return INVALID
        if index != n.MSR_IA32_INT_SSP_TAB and value & 3:
            return INVALID
    f.regs[index] = value
    return OK


READERS = {"cet": read_cet}
WRITERS = {"cet": write_cet}
