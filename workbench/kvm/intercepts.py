"""MSR intercept bitmaps in hardware layout: the VMX MSR bitmap and the SVM MSRPM.

A vCPU starts with every MSR intercepted; KVM then passes a short list through, asking the
MSR filter first for each direction (the guard: a direction the filter denies stays
intercepted). linux-6.18 recomputes the list in vmx_recalc_msr_intercepts /
svm_recalc_msr_intercepts; linux-5.10 sets it up in vmx_create_vcpu / svm_vcpu_init_msrpm
and replays it from the shadow bitmaps in vmx_msr_filter_changed / svm_msr_filter_changed.
x2APIC intercepts never change here (no APICv/AVIC in the model) and ignore the filter.
kvm_pvm has neither layout: every guest RDMSR/WRMSR traps to it (NoMsrBitmap).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from workbench.kvm.cpuid import Cpuid
from workbench.kvm.msrs import numbers as n
from workbench.kvm.profiles import KvmProfile

VMX_BITMAP_SIZE = 4096
SVM_MSRPM_SIZE = 8192

# The MSR windows the hardware bitmaps cover, 0x2000 MSRs from each first index (the one
# definition; the GUI's heatmaps lay out the same windows). VMX covers the first two, one
# read bit per MSR and the write bits 0x800 bytes on; SVM's MSRPM all three, two bits each.
MSR_BITMAP_WINDOWS = (0x00000000, 0xC0000000, 0xC0010000)
WINDOW_MSRS = 0x2000
_VMX_WINDOW_BYTES = WINDOW_MSRS // 8
_VMX_WRITE_OFFSET = 2 * _VMX_WINDOW_BYTES
_SVM_WINDOW_BYTES = 2 * WINDOW_MSRS // 8
# (first MSR, byte offset of its read bits) per layout.
_VMX_WINDOWS = tuple((first, i * _VMX_WINDOW_BYTES)
                     for i, first in enumerate(MSR_BITMAP_WINDOWS[:2]))
_SVM_WINDOWS = tuple((first, i * _SVM_WINDOW_BYTES) for i, first in enumerate(MSR_BITMAP_WINDOWS))

# Host CPU features the modelled hosts have (kvm_cpu_cap_has / cpu_feature_enabled).
_HOST_HAS = {
    "intel": frozenset({"ibpb", "flush_l1d", "xfd", "shstk", "ibt"}),
    "amd": frozenset({"ibpb", "shstk"}),
}


class NoMsrBitmap(ValueError):  # noqa: N818 - named for what the caller asks about
    """The vendor module has no MSR intercept bitmap (kvm_pvm: every MSR access traps)."""

    def __init__(self, vendor: str) -> None:
        super().__init__(
            f"vendor {vendor!r} has no MSR intercept bitmap: kvm_pvm runs the guest "
            "without VMX/SVM, so every guest RDMSR/WRMSR traps to KVM")
        self.vendor = vendor


def has_msr_bitmap(vendor: str) -> bool:
    """Whether the vendor module passes MSRs through a hardware bitmap (VMX, SVM)."""
    return vendor in ("intel", "amd")


@dataclass
class InterceptState:
    """Per-vCPU dynamic reasons to pass an MSR through; the lead's vCPU keeps them."""

    # Guest wrote a non-zero SPEC_CTRL (before 6.17: ever; since: its current value).
    spec_ctrl_passthrough: bool = False
    # The C-state-in-guest VM option (KVM_CAP_X86_DISABLE_EXITS with CSTATE).
    cstate_in_guest: bool = False
    # Before 6.4: the guest wrote a non-zero PRED_CMD (first write disables the write
    # intercept in vmx_set_msr / svm_set_msr); 6.4 passes it through up front.
    pred_cmd_passthrough: bool = False
    # VMX since 5.17: the guest wrote a non-zero IA32_XFD (xfd_no_write_intercept).
    xfd_passthrough: bool = False


Candidate = tuple[int, bool, bool]  # (index, read passthrough, write passthrough)


def _guest_and_host(vendor: str, cpuid: Cpuid, feature: str) -> bool:
    """guest_cpu_cap_has(): the guest CPUID bit, limited to what KVM supports on the host."""
    return cpuid.has(feature) and feature in _HOST_HAS[vendor]


def _vmx_candidates(profile: KvmProfile, cpuid: Cpuid, state: InterceptState
                    ) -> list[Candidate]:
    rows: list[Candidate] = [
        (n.MSR_IA32_TSC, True, False),
        (n.MSR_FS_BASE, True, True),
        (n.MSR_GS_BASE, True, True),
        (n.MSR_KERNEL_GS_BASE, True, True),
        (n.MSR_IA32_SYSENTER_CS, True, True),
        (n.MSR_IA32_SYSENTER_ESP, True, True),
        (n.MSR_IA32_SYSENTER_EIP, True, True),
    ]
    if state.cstate_in_guest:
        rows += [(i, True, False) for i in (n.MSR_CORE_C1_RES, n.MSR_CORE_C3_RESIDENCY,
                                            n.MSR_CORE_C6_RESIDENCY, n.MSR_CORE_C7_RESIDENCY)]
    rows += _speculation_candidates("intel", profile, cpuid, state)
    if profile.xfd_write_passthrough and state.xfd_passthrough:
        rows.append((n.MSR_IA32_XFD, True, True))
    if profile.xfd_err_read_passthrough and _guest_and_host("intel", cpuid, "xfd"):
        rows.append((n.MSR_IA32_XFD_ERR, True, False))
    if profile.cet_passthrough_vmx:
        rows += _cet_candidates("intel", cpuid)
    return rows


def _speculation_candidates(vendor: str, profile: KvmProfile, cpuid: Cpuid,
                            state: InterceptState) -> list[Candidate]:
    """SPEC_CTRL, PRED_CMD and FLUSH_CMD, alike on VMX and SVM: SPEC_CTRL after a non-zero
    guest write; before 6.4 PRED_CMD opened on its first non-zero write, since 6.4 the
    command MSRs open up front when the guest has the feature."""
    rows = [(n.MSR_IA32_SPEC_CTRL, True, True)] if state.spec_ctrl_passthrough else []
    if profile.pred_cmd_passthrough_by_cpuid:
        if _guest_and_host(vendor, cpuid, "ibpb"):
            rows.append((n.MSR_IA32_PRED_CMD, False, True))
    elif state.pred_cmd_passthrough:
        rows.append((n.MSR_IA32_PRED_CMD, False, True))
    if profile.flush_cmd_passthrough and _guest_and_host(vendor, cpuid, "flush_l1d"):
        rows.append((n.MSR_IA32_FLUSH_CMD, False, True))
    return rows


def _cet_candidates(vendor: str, cpuid: Cpuid) -> list[Candidate]:
    """CET state passed through when the guest has it (6.18 CET virtualization).

    VMX: the SSP MSRs follow SHSTK, the configuration MSRs SHSTK or IBT. SVM knows only
    shadow stacks: U_CET, S_CET and PL0-3_SSP follow SHSTK.
    """
    shstk = _guest_and_host(vendor, cpuid, "shstk")
    rows = [(n.MSR_IA32_PL0_SSP + i, True, True) for i in range(4)] if shstk else []
    if vendor == "intel":
        if shstk or _guest_and_host(vendor, cpuid, "ibt"):
            rows += [(i, True, True)
                     for i in (n.MSR_IA32_U_CET, n.MSR_IA32_S_CET, n.MSR_IA32_INT_SSP_TAB)]
    elif shstk:
        rows += [(n.MSR_IA32_U_CET, True, True), (n.MSR_IA32_S_CET, True, True)]
    return rows


def _svm_candidates(profile: KvmProfile, cpuid: Cpuid, state: InterceptState
                    ) -> list[Candidate]:
    rows: list[Candidate] = [
        (i, True, True)
        for i in (n.MSR_STAR, n.MSR_IA32_SYSENTER_CS, n.MSR_GS_BASE, n.MSR_FS_BASE,
                  n.MSR_KERNEL_GS_BASE, n.MSR_LSTAR, n.MSR_CSTAR, n.MSR_SYSCALL_MASK)
    ]
    rows += _speculation_candidates("amd", profile, cpuid, state)
    if not profile.svm_keeps_sysenter(cpuid.vendor):
        rows += [(n.MSR_IA32_SYSENTER_ESP, True, True), (n.MSR_IA32_SYSENTER_EIP, True, True)]
    if profile.cet_passthrough_svm:
        rows += _cet_candidates("amd", cpuid)
    return rows


def passthrough_candidates(vendor: str, profile: KvmProfile, cpuid: Cpuid,
                           state: InterceptState) -> list[Candidate]:
    """The MSRs KVM would pass through for this vCPU before the filter guard (for the GUI)."""
    if vendor == "intel":
        return _vmx_candidates(profile, cpuid, state)
    if vendor == "amd":
        return _svm_candidates(profile, cpuid, state)
    if vendor == "pvm":
        raise NoMsrBitmap(vendor)
    raise ValueError(f"vendor must be 'intel' or 'amd', not {vendor!r}")


def intercept_bit(vendor: str, index: int, write: bool) -> tuple[int, int] | None:
    """(byte offset, bit) of the intercept bit for `index`, None outside the layout."""
    if vendor == "intel":
        for first, offset in _VMX_WINDOWS:
            if first <= index < first + WINDOW_MSRS:
                rel = index - first
                return offset + (_VMX_WRITE_OFFSET if write else 0) + rel // 8, rel % 8
        return None
    if vendor == "amd":
        for first, offset in _SVM_WINDOWS:
            if first <= index < first + WINDOW_MSRS:
                bit = 2 * (index - first) + (1 if write else 0)
                return offset + bit // 8, bit % 8
        return None
    if vendor == "pvm":
        raise NoMsrBitmap(vendor)
    raise ValueError(f"vendor must be 'intel' or 'amd', not {vendor!r}")


def intercept_owner(vendor: str, byte: int, bit: int) -> tuple[int, bool] | None:
    """(MSR index, write) whose intercept bit this is: intercept_bit's inverse, None for
    bits past the layout."""
    if vendor == "intel":
        region, rel_byte = divmod(byte, _VMX_WINDOW_BYTES)
        if region >= 4:
            return None
        return MSR_BITMAP_WINDOWS[region % 2] + rel_byte * 8 + bit, region >= 2
    if vendor == "amd":
        vector, rel_bit = divmod(byte * 8 + bit, _SVM_WINDOW_BYTES * 8)
        if vector >= len(MSR_BITMAP_WINDOWS):
            return None
        return MSR_BITMAP_WINDOWS[vector] + rel_bit // 2, bool(rel_bit & 1)
    if vendor == "pvm":
        raise NoMsrBitmap(vendor)
    raise ValueError(f"vendor must be 'intel' or 'amd', not {vendor!r}")


def is_intercepted(bitmap: np.ndarray, vendor: str, index: int, write: bool) -> bool:
    where = intercept_bit(vendor, index, write)
    if where is None:
        return True  # MSRs outside the bitmap always exit
    byte, bit = where
    return bool(int(bitmap[byte]) >> bit & 1)


def msr_bitmap(vendor: str, profile: KvmProfile, cpuid: Cpuid,
               allowed: Callable[[int, bool], bool], state: InterceptState) -> np.ndarray:
    """The vCPU's bitmap: all ones, minus the candidates' directions the filter allows.

    NoMsrBitmap for a vendor module without one (pvm)."""
    if not has_msr_bitmap(vendor):
        raise NoMsrBitmap(vendor)
    size = VMX_BITMAP_SIZE if vendor == "intel" else SVM_MSRPM_SIZE
    bitmap = np.full(size, 0xFF, dtype=np.uint8)
    for index, read, write in passthrough_candidates(vendor, profile, cpuid, state):
        for direction, wanted in ((False, read), (True, write)):
            if wanted and allowed(index, direction):
                where = intercept_bit(vendor, index, direction)
                if where is not None:
                    byte, bit = where
                    bitmap[byte] &= ~(1 << bit) & 0xFF
    return bitmap
