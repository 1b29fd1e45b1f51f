"""MTRRs and PAT: memory-type MSRs (arch/x86/kvm/mtrr.c, x86.c kvm_pat_valid)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.kvm.msrs import numbers as n
from workbench.kvm.msrs.base import MsrResult

if TYPE_CHECKING:
    from workbench.kvm.msrs.catalogue import MsrInfo
    from workbench.kvm.msrs.emulate import MsrFile

OK, INVALID = MsrResult.OK, MsrResult.INVALID

_VAR_LAST = n.MTRR_PHYS_BASE0 + 2 * n.KVM_NR_VAR_MTRR - 1
_FIXED = frozenset({n.MSR_MTRRfix64K_00000, n.MSR_MTRRfix16K_80000, n.MSR_MTRRfix16K_A0000,
                    *range(n.MSR_MTRRfix4K_C0000, n.MSR_MTRRfix4K_F8000 + 1)})


def _valid_type(t: int) -> bool:
    """UC, WC, WT, WP, WB (mtrr.c valid_mtrr_type)."""
    return t < 8 and bool(0x73 >> t & 1)


def _is_mtrr(index: int) -> bool:
    """find_mtrr(): the indices that name an MTRR."""
    return n.MTRR_PHYS_BASE0 <= index <= _VAR_LAST or index in _FIXED or (
        index == n.MSR_MTRRdefType)


def _mtrr_valid(f: MsrFile, index: int, value: int) -> bool:
    """kvm_mtrr_valid()."""
    if index == n.MSR_MTRRdefType:
        return not value & ~0xCFF and _valid_type(value & 0xFF)
    if index in _FIXED:
        return all(_valid_type(value >> (8 * i) & 0xFF) for i in range(8))
    if index & 1 == 0:  # physBase
        return _valid_type(value & 0xFF) and not value & (f.reserved_gpa_bits | 0xF00)
    return not value & (f.reserved_gpa_bits | 0x7FF)  # physMask


def read_mtrr(f: MsrFile, info: MsrInfo, index: int, host: bool) -> tuple[MsrResult, int]:
    if not _is_mtrr(index):
        return INVALID, 0
    return OK, f.regs.get(index, 0)


def write_mtrr(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    if not _is_mtrr(index) or not _mtrr_valid(f, index, value):
        return INVALID
    f.regs[index] = value
    return OK


def pat_valid(value: int) -> bool:
    """kvm_pat_valid(): every byte is 0, 1, 4, 5, 6 or 7."""
    if value & 0xF8F8F8F8F8F8F8F8:
        return False
    return (value | ((value & 0x0202020202020202) << 1)) == value


def write_pat(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    if not pat_valid(value):
        return INVALID
    f.regs[index] = value
    return OK


READERS = {"mtrr": read_mtrr}
WRITERS = {"mtrr": write_mtrr, "pat": write_pat}
