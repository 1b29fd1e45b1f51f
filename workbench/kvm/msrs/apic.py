"""IA32_APIC_BASE, the x2APIC MSR window and IA32_TSC_DEADLINE (arch/x86/kvm/lapic.c).

The local APIC's registers live in the MsrFile under their x2APIC MSR index, so snapshots
carry them; the timer itself is not modelled (TMCCT reads 0, an expired deadline reads 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.kvm.msrs import numbers as n
from workbench.kvm.msrs.base import MsrResult
from workbench.values import U32_MAX, U64_MAX

if TYPE_CHECKING:
    from workbench.kvm.msrs.catalogue import MsrInfo
    from workbench.kvm.msrs.emulate import MsrFile

OK, INVALID = MsrResult.OK, MsrResult.INVALID

# Register offsets (APIC MMIO offset >> 4), include/asm/apicdef.h.
ID, LVR, TPR, PPR, EOI, LDR, SIVR, ESR, CMCI, ICR = (
    0x02, 0x03, 0x08, 0x0A, 0x0B, 0x0D, 0x0F, 0x28, 0x2F, 0x30)
LVTT, LVTTHMR, LVTPC, LVT0, LVT1, LVTERR, TMICT, TMCCT, TDCR, SELF_IPI = (
    0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3E, 0x3F)

LVT_MASKED = 1 << 16
_LVT_MASK = LVT_MASKED | 1 << 12 | 0xFF
_MODE_MASK = 0x700
_LINT_MASK = _LVT_MASK | _MODE_MASK | 1 << 13 | 1 << 14 | 1 << 15
_LVT_WRITE_MASK = {LVTTHMR: _LVT_MASK | _MODE_MASK, LVTPC: _LVT_MASK | _MODE_MASK,
                   LVT0: _LINT_MASK, LVT1: _LINT_MASK, LVTERR: _LVT_MASK}
# kvm_lapic_readable_reg_mask() in x2APIC mode (no ARBPRI, DFR, ICR2; no CMCI without
# MCG_CAP.CMCI_P).
_READABLE = frozenset({ID, LVR, TPR, PPR, LDR, SIVR, ESR, ICR, LVTT, LVTTHMR, LVTPC, LVT0,
                       LVT1, LVTERR, TMICT, TMCCT, TDCR, *range(0x10, 0x28)})
# KVM_APIC_MAX_NR_LVT_ENTRIES - 1 = 5 (no CMCI), version 0x14 (kvm_apic_set_version).
_VERSION = 0x14 | 5 << 16
# 6.x kvm_x2apic_icr_write: reserved ICR bits -> #GP.
_X2APIC_ICR_RESERVED = (0xFFF << 20) | (3 << 16) | (1 << 13)
TIMER_MODE_DEADLINE = 2


def reset_registers(regs: dict[int, int], bsp: bool) -> None:
    """kvm_lapic_reset: SVR 0xFF (software-disabled), every LVT masked, except that the
    BSP's LINT0 is unmasked ExtINT (KVM_X86_QUIRK_LINT0_REENABLED, on by default)."""
    regs[n.APIC_BASE_MSR + SIVR] = 0xFF
    for reg in (LVTT, LVTTHMR, LVTPC, LVT0, LVT1, LVTERR):
        regs[n.APIC_BASE_MSR + reg] = LVT_MASKED
    if bsp:
        regs[n.APIC_BASE_MSR + LVT0] = 0x700


def _reg(f: MsrFile, reg: int) -> int:
    return f.regs.get(n.APIC_BASE_MSR + reg, 0)


def _put(f: MsrFile, reg: int, value: int) -> None:
    f.regs[n.APIC_BASE_MSR + reg] = value


def lapic_present(f: MsrFile) -> bool:
    """kvm_apic_present(): an in-kernel LAPIC that is hardware-enabled."""
    return f.ctx.irqchip and bool(f.regs[n.MSR_IA32_APICBASE] & n.APICBASE_ENABLE)


def timer_mode(f: MsrFile) -> int:
    return _reg(f, LVTT) >> 17 & 3


def _mode(base: int) -> str:
    enabled, extd = bool(base & n.APICBASE_ENABLE), bool(base & n.APICBASE_EXTD)
    if extd and not enabled:
        return "invalid"
    return "x2apic" if extd else "xapic" if enabled else "disabled"


def write_apic_base(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                    ) -> MsrResult:
    """lapic.c kvm_apic_set_base (5.10: x86.c kvm_set_apic_base)."""
    reserved = f.reserved_gpa_bits | 0x2FF
    if not f.has("x2apic"):
        reserved |= n.APICBASE_EXTD
    old, new = _mode(f.regs[index]), _mode(value)
    if value & reserved or new == "invalid":
        return INVALID
    if not host and (old, new) in (("x2apic", "xapic"), ("disabled", "x2apic")):
        return INVALID
    f.regs[index] = value
    return OK


def read_x2apic(f: MsrFile, info: MsrInfo, index: int, host: bool) -> tuple[MsrResult, int]:
    """kvm_x2apic_msr_read: only with an in-kernel LAPIC in x2APIC mode."""
    reg = index - n.APIC_BASE_MSR
    if not (f.ctx.irqchip and f.x2apic_mode) or reg not in _READABLE:
        return INVALID, 0
    vcpu_id = f.ctx.vcpu_id
    computed = {
        ID: vcpu_id,
        LVR: _VERSION,
        LDR: (vcpu_id >> 4) << 16 | 1 << (vcpu_id & 0xF),
        PPR: _reg(f, TPR),  # no interrupt in service: PPR follows TPR
        TMCCT: 0,
    }
    return OK, computed[reg] if reg in computed else _reg(f, reg)


def write_x2apic(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                 ) -> MsrResult:
    """kvm_x2apic_msr_write -> kvm_lapic_reg_write in x2APIC mode."""
    reg = index - n.APIC_BASE_MSR
    if not (f.ctx.irqchip and f.x2apic_mode):
        return INVALID
    six = f.ctx.profile.at_least(6, 0)
    if reg == ICR:
        if six and value & _X2APIC_ICR_RESERVED:
            return INVALID
        _put(f, ICR, value & ~(1 << 12) & U64_MAX)
        return OK
    if value >> 32:
        if six:
            return INVALID  # bits 63:32 are reserved in every other register
        value &= U32_MAX
    sw_enabled = bool(_reg(f, SIVR) & 0x100)
    if reg == TPR:
        _put(f, TPR, value & 0xFF)
    elif reg in (EOI, SELF_IPI):
        pass  # accepted; interrupt delivery is not modelled
    elif reg == SIVR:
        _put(f, SIVR, value & 0x3FF)
        if not value & 0x100:
            for lvt in (LVTT, LVTTHMR, LVTPC, LVT0, LVT1, LVTERR):
                _put(f, lvt, _reg(f, lvt) | LVT_MASKED)
    elif reg == ESR:
        if value:
            return INVALID
        _put(f, ESR, 0)
    elif reg in _LVT_WRITE_MASK:
        _put(f, reg, (value | (0 if sw_enabled else LVT_MASKED)) & _LVT_WRITE_MASK[reg])
    elif reg == LVTT:
        _write_lvtt(f, value | (0 if sw_enabled else LVT_MASKED))
    elif reg == TMICT:
        if timer_mode(f) != TIMER_MODE_DEADLINE:
            _put(f, TMICT, value)
    elif reg == TDCR:
        _put(f, TDCR, value & 0xB)
    else:
        return INVALID  # read-only, x2APIC-invalid or unnamed register
    return OK


def _write_lvtt(f: MsrFile, value: int) -> None:
    """LVTT write and apic_update_lvtt: a switch into or out of TSC-deadline mode stops
    the timer (TMICT and the deadline become 0)."""
    mode_mask = 1 << 17 | (1 << 18 if f.has("tsc_deadline_timer") else 0)
    was_deadline = timer_mode(f) == TIMER_MODE_DEADLINE
    _put(f, LVTT, value & (_LVT_MASK | mode_mask))
    if was_deadline != (timer_mode(f) == TIMER_MODE_DEADLINE):
        _put(f, TMICT, 0)
        f.regs[n.MSR_IA32_TSC_DEADLINE] = 0


def _deadline_armed(f: MsrFile) -> bool:
    return lapic_present(f) and timer_mode(f) == TIMER_MODE_DEADLINE


def read_tsc_deadline(f: MsrFile, info: MsrInfo, index: int, host: bool
                      ) -> tuple[MsrResult, int]:
    """kvm_get_lapic_tscdeadline_msr: 0 unless armed; an expired deadline reads 0."""
    deadline = f.regs.get(index, 0)
    if not _deadline_armed(f) or deadline <= f.tsc():
        return OK, 0
    return OK, deadline


def write_tsc_deadline(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                       ) -> MsrResult:
    """kvm_set_lapic_tscdeadline_msr: silently dropped unless the LAPIC is in deadline mode."""
    if _deadline_armed(f):
        f.regs[index] = value
    return OK


READERS = {"x2apic": read_x2apic, "tsc_deadline": read_tsc_deadline}
WRITERS = {"apic_base": write_apic_base, "x2apic": write_x2apic,
           "tsc_deadline": write_tsc_deadline}
