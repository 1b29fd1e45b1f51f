"""Kernel profiles: the KVM behaviours that differ between the kernels the sim models.

Each switch is one row of ../shared/spec/kernel-versions.md (row numbers kept); a profile
is derived from the rows (workbench.kvm.changes), so it can name, for every switch, the
commit that set it and whether the spec only inferred it. Code asks the profile a named
question instead of comparing versions; `version` and `at_least` remain only for
catalogue facts that no row of that spec covers.

linux-5.10 is the v5.10 tag, linux-5.10.y its latest stable release; every other profile
is the LTS's .0 tag (the spec's state table), so 5.15.y's likely Nov 2022 backports and
6.1.y's and 6.6.y's 2026 UNSUPPORTED rename are not in linux-5.15, -6.1 and -6.6.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from workbench.kvm.changes import (
    Change,
    Setting,
    Step,
    build_profile,
    find_profile,
    switch_settings,
)

# How SVM treats SYSENTER_ESP/EIP (row 8): "intercept" = always intercepted, 64-bit values
# kept; "unless_intel" = passed through, high halves dropped, unless the guest CPUID vendor
# is exactly GenuineIntel; "unless_intel_compatible" = the same for anything not AMD/Hygon.
SvmSysenter = Literal["intercept", "unless_intel", "unless_intel_compatible"]

_INTRODUCE = Change("2b", "KVM: x86: Introduce MSR filtering", "1a155254ff93", "v5.10")
_GRAF_GUARD = Change("7a", "KVM: x86: VMX: Prevent MSR passthrough when MSR access is denied",
                     None, "v5.10", note="the 5.10 passthrough list")
_PROTECT = Change("1", "KVM: x86: Protect the unused bits in MSR exiting flags",
                  "cf5029d5dd7c", "v5.19")
_PROTECT_510 = Change("1s", _PROTECT.title, _PROTECT.commit, "5.10.y (about 5.10.154)",
                      note="pulled in as a dependency of 2e3272bc1790")
_ATOMIC = Change("3", "KVM: x86: Protect userspace MSR filter with SRCU, and set "
                      "atomically-ish", "b318e8decf6b", "v5.12")
_ATOMIC_510 = Change("3s", _ATOMIC.title, "f8e69849f101", "5.10.y (about 5.10.27)",
                     note="stable queue read; the exact point release is inferred")

BASELINE: dict[str, tuple[Any, Change]] = {
    "strict_user_space_msr_mask": (False, Change(
        "1", "KVM: x86: Allow deflecting unknown MSR accesses to user space", None, "v5.10",
        note="v5.10.13 source has no mask check")),
    "strict_filter_flags": (False, _INTRODUCE),
    "atomic_filter_update": (False, _INTRODUCE),
    "empty_filter_allows_all": (True, _INTRODUCE),
    "filter_flags_checked_first": (False, _INTRODUCE),
    "unsupported_ret_name": ("KVM_MSR_RET_INVALID", Change(
        "6a", "KVM: x86: use positive error values for msr emulation that causes #GP",
        "cc4cb017678a", "v5.10")),
    "xfd_err_read_passthrough": (False, _GRAF_GUARD),
    "xfd_write_passthrough": (False, _GRAF_GUARD),
    "pred_cmd_passthrough_by_cpuid": (False, _GRAF_GUARD),
    "flush_cmd_passthrough": (False, _GRAF_GUARD),
    "recalc_msr_intercepts": (False, _GRAF_GUARD),
    "cet_passthrough_vmx": (False, _GRAF_GUARD),
    "cet_passthrough_svm": (False, _GRAF_GUARD),
    "svm_sysenter": ("intercept", Change("8", "Linux 5.10 as released", None, "v5.10")),
    "compat_set_msr_filter": (False, Change(
        "10", "KVM: x86: Introduce MSR filtering", "1a155254ff93", "v5.10",
        note="no compat handler: a 32-bit VMM gets ENOTTY (its struct, so its ioctl "
             "number, differs)")),
}
# Switches the profiles carry for the explanation only: the model has no 32-bit ioctl path.
UNMODELLED_SWITCHES = frozenset({"compat_set_msr_filter"})
_COMPAT = Change("10", "KVM: x86: Add compat handler for KVM_X86_SET_MSR_FILTER",
                 "1739c7017fb1", "v6.1", note="with 2e3272bc1790, the filter copied first")

# In release order. Backports only where the spec says the latest 5.10.y has them.
STEPS: tuple[Step, ...] = (
    Step("atomic_filter_update", True, (5, 12), _ATOMIC, {"5.10": _ATOMIC_510}),
    Step("empty_filter_allows_all", False, (5, 12), _ATOMIC, {"5.10": _ATOMIC_510}),
    Step("svm_sysenter", "unless_intel", (5, 13), Change(
        "8", "KVM: nSVM: improve SYSENTER emulation on AMD", "adc2a23734ac", "v5.13")),
    Step("filter_flags_checked_first", True, (5, 14), Change(
        "", "KVM: x86: Hoist input checks in kvm_add_msr_filter()", None, "v5.14",
        inferred=True, note="posted May 2021, not in the spec's table; 5.10.y kept the old "
                            "order (context of the Nov 2022 stable patch)")),
    Step("xfd_err_read_passthrough", True, (5, 17), Change(
        "7b", "kvm: x86: Disable RDMSR interception of IA32_XFD_ERR", "61f208134a87",
        "v5.17")),
    Step("xfd_write_passthrough", True, (5, 17), Change(
        "7b", "kvm: x86: Disable interception for IA32_XFD on demand", "b5274b1b7ba8",
        "v5.17")),
    Step("strict_user_space_msr_mask", True, (5, 19), _PROTECT, {"5.10": _PROTECT_510}),
    Step("strict_filter_flags", True, (5, 19), replace(_PROTECT, row="2a"),
         {"5.10": replace(_PROTECT_510, row="2a")}),
    Step("compat_set_msr_filter", True, (6, 1), _COMPAT, {"5.10": replace(
        _COMPAT, row="10s", release="5.10.y (about 5.10.154)")}),
    Step("pred_cmd_passthrough_by_cpuid", True, (6, 4), Change(
        "9", "KVM: VMX: Passthrough MSR_IA32_PRED_CMD based purely on host+guest CPUID",
        "9a4c4850137e", "v6.4", note="SVM: bff903e8cd74")),
    Step("flush_cmd_passthrough", True, (6, 4), Change(
        "7c", "KVM: x86: Virtualize FLUSH_L1D and passthrough MSR_IA32_FLUSH_CMD",
        "da3db168fb67", "v6.4")),
    Step("svm_sysenter", "unless_intel_compatible", (6, 11), Change(
        "8", "KVM: SVM: Emulate SYSENTER RIP/RSP behavior for all Intel compat vCPUs",
        "dc2b8b2b524a", "v6.11")),
    Step("unsupported_ret_name", "KVM_MSR_RET_UNSUPPORTED", (6, 12), Change(
        "6b", "KVM: x86: Rename KVM_MSR_RET_INVALID to KVM_MSR_RET_UNSUPPORTED",
        "aaecae7b6a2b", "v6.12", inferred=True, note="hash read, release inferred")),
    Step("recalc_msr_intercepts", True, (6, 17), Change(
        "7d", "KVM: VMX: Manually recalc all MSR intercepts on userspace MSR filter change",
        "8a056ece45d2", "v6.17", note="SVM: 160f143cc131")),
    Step("cet_passthrough_vmx", True, (6, 18), Change(
        "7e", "KVM: VMX: Set up interception for CET MSRs", "25f3840483e6", "v6.18")),
    Step("cet_passthrough_svm", True, (6, 18), Change(
        "7e", "SVM shadow-stack MSR passthrough (CET virtualization pull for 6.18)", None,
        "v6.18", inferred=True, note="title and hash not checked")),
)

# Rows of the state table that no switch models: the same in every profile, or outside
# what the model can show: (row, behaviour, change).
INVARIANTS: tuple[tuple[str, str, Change], ...] = (
    ("2b", "range flags outside READ|WRITE, or 0, on a non-empty range: EINVAL", _INTRODUCE),
    ("4", "DEFAULT_DENY with no non-empty range: EINVAL", Change(
        "4", "KVM: VMX: Forbid userspace MSR filters for x2APIC", "043248b3280c", "v5.10",
        inferred=True, note="or 9389b9d5d356; which one added the check is not confirmed")),
    ("5", "x2APIC MSRs 0x800-0x8ff never filtered (index only)", Change(
        "5", "KVM: VMX: Ignore userspace MSR filters for x2APIC", "9389b9d5d356", "v5.10")),
    ("6a", "filter denial is KVM_MSR_RET_FILTERED (3), reason FILTER", BASELINE[
        "unsupported_ret_name"][1]),
)
NOT_MODELLED: tuple[tuple[str, str, Change], ...] = (
    ("3x", "synchronize_srcu() outside kvm->lock (performance only)", Change(
        "3x", "KVM: x86: Optimize kvm->lock and SRCU interaction "
              "(KVM_X86_SET_MSR_FILTER)", None, "v6.3", inferred=True)),
    ("6s", "6.1.y and 6.6.y from March 2026 name the unsupported result "
           "KVM_MSR_RET_UNSUPPORTED (the profiles model the .0 tags)", Change(
        "6s", "KVM: x86: Rename KVM_MSR_RET_INVALID to KVM_MSR_RET_UNSUPPORTED",
        "aaecae7b6a2b", "6.1.y/6.6.y (2026)")),
)


@dataclass(frozen=True)
class KvmProfile:
    name: str
    version: tuple[int, int]
    # KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR): bits outside 0x7 fail with EINVAL.
    strict_user_space_msr_mask: bool
    # KVM_X86_SET_MSR_FILTER: unknown filter flags fail with EINVAL (5.10 ignored them).
    strict_filter_flags: bool
    # A failed KVM_X86_SET_MSR_FILTER leaves the previous filter in force.
    atomic_filter_update: bool
    # kvm_msr_allowed allows everything while the installed filter has no range (count 0),
    # whatever its default: reachable only through a partly failed, non-atomic set.
    empty_filter_allows_all: bool
    # kvm_add_msr_filter checks a range's flags before its bitmap size and copy; 5.10
    # sized and copied the bitmap first, so a NULL bitmap wins over bad flags there.
    filter_flags_checked_first: bool
    # The kernel's name for "KVM does not know this MSR" (both map to reason UNKNOWN).
    unsupported_ret_name: str
    # VMX: IA32_XFD_ERR reads pass through when the guest has XFD.
    xfd_err_read_passthrough: bool
    # VMX: IA32_XFD passes through after the guest's first non-zero write.
    xfd_write_passthrough: bool
    # PRED_CMD writes pass through from SET_CPUID on (else after a non-zero write).
    pred_cmd_passthrough_by_cpuid: bool
    # FLUSH_CMD writes pass through when host and guest have FLUSH_L1D.
    flush_cmd_passthrough: bool
    # A filter change recomputes every intercept (SPEC_CTRL from its current value).
    recalc_msr_intercepts: bool
    # CET MSRs follow the guest's CET features (VMX; SVM shadow stacks).
    cet_passthrough_vmx: bool
    cet_passthrough_svm: bool
    svm_sysenter: SvmSysenter
    # Not modelled (UNMODELLED_SWITCHES): a 32-bit VMM's KVM_X86_SET_MSR_FILTER works.
    compat_set_msr_filter: bool = False
    stable: bool = False
    origin: Mapping[str, Change] = field(default_factory=dict, compare=False, repr=False)

    def at_least(self, major: int, minor: int) -> bool:
        """For catalogue facts no kernel-versions.md row covers; rows use switches."""
        return self.version >= (major, minor)

    def svm_keeps_sysenter(self, vendor: str) -> bool:
        """SVM intercepts SYSENTER_ESP/EIP and keeps their 64-bit values for a guest of
        this CPUID vendor (cpuid.vendor: "intel", "amd", "hygon", "unknown", ...)."""
        if self.svm_sysenter == "intercept":
            return True
        if self.svm_sysenter == "unless_intel":
            return vendor == "intel"
        return vendor not in ("amd", "hygon")

    def settings(self) -> list[Setting]:
        """Every switch with its value and the change that set it, then the rows the
        model does not have (modelled=False), for `workbench profiles --explain`."""
        return switch_settings(self, BASELINE, NOT_MODELLED, UNMODELLED_SWITCHES)


def _profile(version: tuple[int, int], stable: bool = False) -> KvmProfile:
    return build_profile(KvmProfile, version, stable, BASELINE, STEPS)


LINUX_5_10 = _profile((5, 10))
LINUX_5_10_Y = _profile((5, 10), stable=True)
LINUX_5_15 = _profile((5, 15))
LINUX_6_1 = _profile((6, 1))
LINUX_6_6 = _profile((6, 6))
LINUX_6_12 = _profile((6, 12))
LINUX_6_18 = _profile((6, 18))

PROFILES: dict[str, KvmProfile] = {p.name: p for p in (
    LINUX_5_10, LINUX_5_10_Y, LINUX_5_15, LINUX_6_1, LINUX_6_6, LINUX_6_12, LINUX_6_18)}
DEFAULT_PROFILE = LINUX_6_18


def get_profile(name: str | KvmProfile | None) -> KvmProfile:
    """Look a profile up by name; None means the default (the running kernel's). A
    KvmProfile is taken as it is (compare-profiles tries one switch flipped)."""
    return find_profile("KVM", name, PROFILES, DEFAULT_PROFILE, KvmProfile)
