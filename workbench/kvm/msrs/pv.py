"""KVM paravirtual MSRs (x86.c kvm_get/set_msr_common, lapic.c kvm_lapic_set_pv_eoi).

guest_pv_has() only consults the KVM CPUID leaf when user space enabled
KVM_CAP_ENFORCE_PV_FEATURE_CPUID; by default every PV MSR works whatever the CPUID says.
Guest memory the MSRs point at is not checked (a GPA outside every memslot would fail in
kvm_gfn_to_hva_cache_init).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.kvm.msrs import numbers as n
from workbench.kvm.msrs.base import MsrResult

if TYPE_CHECKING:
    from workbench.kvm.msrs.catalogue import MsrInfo
    from workbench.kvm.msrs.emulate import MsrFile

OK, INVALID = MsrResult.OK, MsrResult.INVALID

_ASYNC_PF_AS_VMEXIT = 1 << 2
_ASYNC_PF_AS_INT = 1 << 3


def _pv_has(f: MsrFile, feature: str | None) -> bool:
    return not f.ctx.enforce_pv_cpuid or feature is None or f.has(feature)


def read_pv(f: MsrFile, info: MsrInfo, index: int, host: bool) -> tuple[MsrResult, int]:
    if not _pv_has(f, info.feature):
        return INVALID, 0
    if index == n.MSR_KVM_ASYNC_PF_ACK:
        return OK, 0
    return OK, f.regs.get(index, 0)


def write_pv(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    if not _pv_has(f, info.feature) or value & info.reserved:
        return INVALID
    if index == n.MSR_KVM_ASYNC_PF_EN:
        if value & _ASYNC_PF_AS_VMEXIT and not _pv_has(f, "kvm_pv_async_pf_vmexit"):
            return INVALID
        if value & _ASYNC_PF_AS_INT and not _pv_has(f, "kvm_pv_async_pf_int"):
            return INVALID
        if value and not f.ctx.irqchip:
            return INVALID  # kvm_pv_enable_async_pf needs an in-kernel LAPIC
    elif index == n.MSR_KVM_ASYNC_PF_INT:
        if not f.ctx.irqchip:
            return INVALID
    elif index == n.MSR_KVM_ASYNC_PF_ACK:
        return OK
    f.regs[index] = value
    return OK


READERS = {"pv": read_pv}
WRITERS = {"pv": write_pv}
