"""VMX MSR bitmap / SVM MSRPM: hardware layout, KVM's passthrough list and the filter guard."""


import numpy as np
import pytest

from workbench.kvm.cpuid import Cpuid, default_cpuid
from workbench.kvm.intercepts import (
    InterceptState,
    intercept_bit,
    is_intercepted,
    msr_bitmap,
    passthrough_candidates,
)
from workbench.kvm.msrs import numbers as n
from workbench.kvm.profiles import LINUX_5_10, LINUX_6_18

VENDORS = ["intel", "amd"]
PROFILES = [LINUX_6_18, LINUX_5_10]


def allow_all(index: int, write: bool) -> bool:
    return True


def deny(*pairs: tuple[int, bool]):
    denied = set(pairs)
    return lambda index, write: (index, write) not in denied


def cleared(bitmap: np.ndarray, vendor: str) -> set[tuple[int, bool]]:
    """Every (MSR, write) whose intercept bit is clear, decoded from the raw bytes."""
    out = set()
    windows = ([(0, 0x000), (0xC0000000, 0x400)] if vendor == "intel"
               else [(0, 0x000), (0xC0000000, 0x800), (0xC0010000, 0x1000)])
    for first, offset in windows:
        for write in (False, True):
            for rel in range(0x2000):
                if vendor == "intel":
                    byte, bit = offset + (0x800 if write else 0) + rel // 8, rel % 8
                else:
                    pos = 2 * rel + write
                    byte, bit = offset + pos // 8, pos % 8
                if not bitmap[byte] >> bit & 1:
                    out.add((first + rel, write))
    return out


RW = lambda *idx: {(i, w) for i in idx for w in (False, True)}  # noqa: E731
R = lambda *idx: {(i, False) for i in idx}  # noqa: E731
W = lambda *idx: {(i, True) for i in idx}  # noqa: E731

VMX_BASE = R(n.MSR_IA32_TSC) | RW(n.MSR_FS_BASE, n.MSR_GS_BASE, n.MSR_KERNEL_GS_BASE,
                                   n.MSR_IA32_SYSENTER_CS, n.MSR_IA32_SYSENTER_ESP,
                                   n.MSR_IA32_SYSENTER_EIP)
SVM_BASE = RW(n.MSR_STAR, n.MSR_LSTAR, n.MSR_CSTAR, n.MSR_SYSCALL_MASK, n.MSR_FS_BASE,
              n.MSR_GS_BASE, n.MSR_KERNEL_GS_BASE, n.MSR_IA32_SYSENTER_CS)
CET = RW(n.MSR_IA32_PL0_SSP, 0x6A5, 0x6A6, 0x6A7, n.MSR_IA32_U_CET, n.MSR_IA32_S_CET,
         n.MSR_IA32_INT_SSP_TAB)


# --- layout -------------------------------------------------------------------------------------
@pytest.mark.parametrize("vendor, index, write, where", [
    ("intel", 0x0, False, (0x000, 0)),
    ("intel", 0x1FFF, False, (0x3FF, 7)),
    ("intel", 0xC0000000, False, (0x400, 0)),
    ("intel", 0x0, True, (0x800, 0)),
    ("intel", 0x10, True, (0x802, 0)),
    ("intel", 0xC0000100, True, (0xC20, 0)),
    ("intel", 0xC0001FFF, True, (0xFFF, 7)),
    ("intel", 0xC0010000, False, None),
    ("intel", 0x2000, False, None),
    ("amd", 0x0, False, (0x000, 0)),
    ("amd", 0x0, True, (0x000, 1)),
    ("amd", 0x3, True, (0x000, 7)),
    ("amd", 0x10, False, (0x004, 0)),
    ("amd", 0xC0000000, False, (0x800, 0)),
    ("amd", 0xC0000081, True, (0x820, 3)),
    ("amd", 0xC0010000, False, (0x1000, 0)),
    ("amd", 0xC0011FFF, True, (0x17FF, 7)),
    ("amd", 0xC0012000, False, None),
    ("amd", 0x4B564D00, True, None),
])
def test_layout_offsets(vendor, index, write, where):
    assert intercept_bit(vendor, index, write) == where


@pytest.mark.parametrize("vendor, size", [("intel", 4096), ("amd", 8192)])
def test_shape_and_reserved_bytes(vendor, size):
    bm = msr_bitmap(vendor, LINUX_6_18, default_cpuid(vendor), allow_all, InterceptState())
    assert bm.dtype == np.uint8 and bm.shape == (size,)
    if vendor == "amd":
        assert (bm[0x1800:] == 0xFF).all()
    assert is_intercepted(bm, vendor, 0x4B564D00, False)  # outside the layout: always exits


# --- the default passthrough set ------------------------------------------------------------
EXPECTED = {
    ("intel", "linux-6.18"): VMX_BASE | W(n.MSR_IA32_PRED_CMD, n.MSR_IA32_FLUSH_CMD)
    | R(n.MSR_IA32_XFD_ERR) | CET,
    ("intel", "linux-5.10"): VMX_BASE,
    ("amd", "linux-6.18"): SVM_BASE | W(n.MSR_IA32_PRED_CMD)
    | RW(n.MSR_IA32_SYSENTER_ESP, n.MSR_IA32_SYSENTER_EIP),
    ("amd", "linux-5.10"): SVM_BASE,
}


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("profile", PROFILES)
def test_default_passthrough(vendor, profile):
    bm = msr_bitmap(vendor, profile, default_cpuid(vendor), allow_all, InterceptState())
    assert cleared(bm, vendor) == EXPECTED[vendor, profile.name]


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("profile", PROFILES)
def test_dynamic_reasons(vendor, profile):
    cpuid = default_cpuid(vendor)
    base = cleared(msr_bitmap(vendor, profile, cpuid, allow_all, InterceptState()), vendor)
    spec = InterceptState(spec_ctrl_passthrough=True)
    got = cleared(msr_bitmap(vendor, profile, cpuid, allow_all, spec), vendor)
    assert got - base == RW(n.MSR_IA32_SPEC_CTRL)
    cstate = InterceptState(cstate_in_guest=True)
    got = cleared(msr_bitmap(vendor, profile, cpuid, allow_all, cstate), vendor)
    expected = R(0x660, 0x3FC, 0x3FD, 0x3FE) if vendor == "intel" else set()
    assert got - base == expected
    pred = InterceptState(pred_cmd_passthrough=True)
    got = cleared(msr_bitmap(vendor, profile, cpuid, allow_all, pred), vendor)
    assert got - base == (W(n.MSR_IA32_PRED_CMD) if profile is LINUX_5_10 else set())
    xfd = InterceptState(xfd_passthrough=True)
    got = cleared(msr_bitmap(vendor, profile, cpuid, allow_all, xfd), vendor)
    assert got - base == (RW(n.MSR_IA32_XFD) if (vendor, profile) == ("intel", LINUX_6_18)
                          else set())


def test_svm_sysenter_intercepted_for_intel_compatible_guest():
    spoof = msr_bitmap("amd", LINUX_6_18, default_cpuid("intel"), allow_all, InterceptState())
    assert is_intercepted(spoof, "amd", n.MSR_IA32_SYSENTER_EIP, False)
    assert is_intercepted(spoof, "amd", n.MSR_IA32_SYSENTER_ESP, True)
    native = msr_bitmap("amd", LINUX_6_18, default_cpuid("amd"), allow_all, InterceptState())
    assert not is_intercepted(native, "amd", n.MSR_IA32_SYSENTER_EIP, False)


def test_cpuid_features_gate_pred_and_flush_cmd():
    rows = [t for t in default_cpuid("intel").to_tuples() if t[0] not in (7, 0x80000008)]
    bare = Cpuid(rows)
    bm = msr_bitmap("intel", LINUX_6_18, bare, allow_all, InterceptState())
    assert is_intercepted(bm, "intel", n.MSR_IA32_PRED_CMD, True)
    assert is_intercepted(bm, "intel", n.MSR_IA32_FLUSH_CMD, True)
    assert not cleared(bm, "intel") & CET


# --- the guard ---------------------------------------------------------------------------------
GUARDED = [
    ("intel", LINUX_6_18, n.MSR_FS_BASE),
    ("intel", LINUX_5_10, n.MSR_KERNEL_GS_BASE),
    ("intel", LINUX_6_18, n.MSR_IA32_SYSENTER_CS),
    ("amd", LINUX_6_18, n.MSR_GS_BASE),
    ("amd", LINUX_5_10, n.MSR_LSTAR),
    ("amd", LINUX_6_18, n.MSR_IA32_SYSENTER_EIP),
]


@pytest.mark.parametrize("vendor, profile, index", GUARDED)
@pytest.mark.parametrize("write", [False, True])
def test_denied_direction_flips_exactly_its_bit(vendor, profile, index, write):
    cpuid, state = default_cpuid(vendor), InterceptState()
    before = msr_bitmap(vendor, profile, cpuid, allow_all, state)
    after = msr_bitmap(vendor, profile, cpuid, deny((index, write)), state)
    byte, bit = intercept_bit(vendor, index, write)
    expected = before.copy()
    expected[byte] |= 1 << bit
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, expected)
    assert is_intercepted(after, vendor, index, write)
    assert not is_intercepted(after, vendor, index, not write)
    restored = msr_bitmap(vendor, profile, cpuid, allow_all, state)
    np.testing.assert_array_equal(restored, before)


@pytest.mark.parametrize("vendor", VENDORS)
def test_filter_cannot_affect_msrs_kvm_intercepts_anyway(vendor):
    cpuid, state = default_cpuid(vendor), InterceptState()
    before = msr_bitmap(vendor, LINUX_6_18, cpuid, allow_all, state)
    denied = [(i, w) for i in (0x35, 0x802, 0x808, n.MSR_EFER, 0xC0010015) for w in (False, True)]
    after = msr_bitmap(vendor, LINUX_6_18, cpuid, deny(*denied), state)
    np.testing.assert_array_equal(before, after)
    for index in (0x802, 0x808, 0x830):
        assert is_intercepted(after, vendor, index, False)


def test_deny_everything_intercepts_everything():
    for vendor in VENDORS:
        bm = msr_bitmap(vendor, LINUX_6_18, default_cpuid(vendor), lambda i, w: False,
                        InterceptState(spec_ctrl_passthrough=True))
        assert (bm == 0xFF).all()


def test_candidates_list_for_the_gui():
    rows = passthrough_candidates("intel", LINUX_6_18, default_cpuid("intel"), InterceptState())
    assert (n.MSR_IA32_TSC, True, False) in rows
    assert (n.MSR_IA32_PRED_CMD, False, True) in rows
    with pytest.raises(ValueError):
        passthrough_candidates("arm", LINUX_6_18, default_cpuid(), InterceptState())
