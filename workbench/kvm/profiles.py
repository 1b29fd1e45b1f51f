"""Kernel profiles: the KVM behaviours that differ between the kernels the sim models.

Each field is one row of the profile table in ../shared/spec/kvm-msr.md §6; code asks the
profile a question instead of comparing version strings, so a new kernel is one new row.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    # kvm_add_msr_filter checks a range's flags before its bitmap size and copy (6.18);
    # 5.10 sized and copied the bitmap first, so a NULL bitmap wins over bad flags there.
    filter_flags_checked_first: bool
    # The kernel's name for "KVM does not know this MSR" (both map to reason UNKNOWN).
    unsupported_ret_name: str

    def at_least(self, major: int, minor: int) -> bool:
        return self.version >= (major, minor)


LINUX_5_10 = KvmProfile(
    name="linux-5.10",
    version=(5, 10),
    strict_user_space_msr_mask=False,
    strict_filter_flags=False,
    atomic_filter_update=False,
    filter_flags_checked_first=False,
    unsupported_ret_name="KVM_MSR_RET_INVALID",
)

LINUX_6_18 = KvmProfile(
    name="linux-6.18",
    version=(6, 18),
    strict_user_space_msr_mask=True,
    strict_filter_flags=True,
    atomic_filter_update=True,
    filter_flags_checked_first=True,
    unsupported_ret_name="KVM_MSR_RET_UNSUPPORTED",
)

PROFILES: dict[str, KvmProfile] = {p.name: p for p in (LINUX_6_18, LINUX_5_10)}
DEFAULT_PROFILE = LINUX_6_18


def get_profile(name: str | None) -> KvmProfile:
    """Look a profile up by name; None means the default (the running kernel's)."""
    if name is None:
        return DEFAULT_PROFILE
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise ValueError(f"unknown KVM profile {name!r} (known: {known})") from None
