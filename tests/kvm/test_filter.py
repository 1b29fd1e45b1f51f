"""KVM_X86_SET_MSR_FILTER validation, atomicity and the allow decision (spec §3, §4, §6)."""

import errno

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import workbench.kvm
from workbench.kvm import MsrFilter, MsrFilterRange
from workbench.kvm.uapi import (
    KVM_MSR_FILTER_DEFAULT_ALLOW as ALLOW,
)
from workbench.kvm.uapi import (
    KVM_MSR_FILTER_DEFAULT_DENY as DENY,
)
from workbench.kvm.uapi import (
    KVM_MSR_FILTER_READ as R,
)
from workbench.kvm.uapi import (
    KVM_MSR_FILTER_WRITE as W,
)

PROFILES = ["linux-6.18", "linux-5.10"]
MSR_FS_BASE, MSR_GS_BASE, MSR_IA32_XSS = 0xC0000100, 0xC0000101, 0xDA0


def make_vm(profile="linux-6.18", vendor="intel"):
    return workbench.kvm.open("sim").create_vm(vendor=vendor, profile=profile)


def deny_one(index, flags=R | W):
    return MsrFilterRange(flags, index, 1, b"\x00")


def allow_one(index, flags=R | W):
    return MsrFilterRange(flags, index, 1, b"\x01")


def errno_of(vm, msr_filter):
    try:
        vm.set_msr_filter(msr_filter)
    except OSError as exc:
        return exc.errno
    return 0


# --- validation, one rule at a time ------------------------------------------------------------
@pytest.mark.parametrize(
    ("profile", "flags", "expected"),
    [
        ("linux-6.18", 2, errno.EINVAL),
        ("linux-6.18", 0x80000000, errno.EINVAL),
        ("linux-5.10", 2, 0),
        ("linux-5.10", 0x80000000, 0),
    ],
)
def test_unknown_filter_flags(profile, flags, expected):
    vm = make_vm(profile)
    assert errno_of(vm, MsrFilter(flags, [deny_one(0x10)])) == expected


@pytest.mark.parametrize("profile", PROFILES)
def test_default_deny_without_ranges_is_einval(profile):
    vm = make_vm(profile)
    assert errno_of(vm, MsrFilter(DENY, [])) == errno.EINVAL
    assert errno_of(vm, MsrFilter(DENY, [MsrFilterRange(R, 0, 0, None)] * 16)) == errno.EINVAL


@pytest.mark.parametrize("profile", PROFILES)
def test_empty_ranges_are_skipped_whatever_their_flags_or_bitmap(profile):
    vm = make_vm(profile)
    junk = MsrFilterRange(0xFF, 0x10, 0, None)
    assert errno_of(vm, MsrFilter(ALLOW, [junk, deny_one(0x10), junk])) == 0
    assert not vm.msr_allowed(0x10, False)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(("flags", "expected"), [(4, errno.EINVAL), (0, errno.EINVAL),
                                                 (R, 0), (W, 0), (R | W, 0)])
def test_range_flags(profile, flags, expected):
    vm = make_vm(profile)
    assert errno_of(vm, MsrFilter(ALLOW, [MsrFilterRange(flags, 0, 8, b"\xff")])) == expected


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(
    ("nmsrs", "expected"),
    [(1, 0), (64, 0), (12288, 0), (12289, errno.EINVAL), (12296, errno.EINVAL),
     (0xFFFFFFFF, errno.EINVAL)],
)
def test_bitmap_size_limit(profile, nmsrs, expected):
    vm = make_vm(profile)
    assert errno_of(vm, MsrFilter(ALLOW, [MsrFilterRange(R, 0, nmsrs, b"")])) == expected


@pytest.mark.parametrize("profile", PROFILES)
def test_null_bitmap_is_efault(profile):
    vm = make_vm(profile)
    assert errno_of(vm, MsrFilter(ALLOW, [MsrFilterRange(R, 0, 8, None)])) == errno.EFAULT


@pytest.mark.parametrize(("profile", "expected"),
                         [("linux-6.18", errno.EINVAL), ("linux-5.10", errno.EFAULT)])
def test_check_order_differs_between_profiles(profile, expected):
    """6.18 checks a range's flags first; 5.10 copied the bitmap before looking at them."""
    vm = make_vm(profile)
    assert errno_of(vm, MsrFilter(ALLOW, [MsrFilterRange(4, 0, 8, None)])) == expected


@pytest.mark.parametrize("profile", PROFILES)
def test_overlaps_and_wraparound_are_accepted(profile):
    vm = make_vm(profile)
    wrap = MsrFilterRange(R | W, 0xFFFFFFF0, 0x20, b"\x00\x00\x00\x00")
    assert errno_of(vm, MsrFilter(DENY, [allow_one(0x10), deny_one(0x10), wrap])) == 0


@pytest.mark.parametrize("profile", PROFILES)
def test_abi_limits_name_the_field(profile):
    vm = make_vm(profile)
    with pytest.raises(OSError, match=r"ranges: 17 ranges") as info:
        vm.set_msr_filter(MsrFilter(ALLOW, [deny_one(i) for i in range(17)]))
    assert info.value.errno == errno.EINVAL
    with pytest.raises(OSError, match=r"ranges\[0\]\.base") as info:
        vm.set_msr_filter(MsrFilter(ALLOW, [deny_one(1 << 32)]))
    assert info.value.errno == errno.EINVAL


def test_error_message_names_the_failing_range():
    vm = make_vm()
    with pytest.raises(OSError, match=r"ranges\[2\]\.flags") as info:
        vm.set_msr_filter(MsrFilter(ALLOW, [deny_one(1), deny_one(2), MsrFilterRange(0, 3, 1)]))
    assert info.value.errno == errno.EINVAL


# --- atomicity (§3, §6) ---------------------------------------------------------------------
def test_618_failed_filter_keeps_the_old_one():
    vm = make_vm("linux-6.18")
    vm.set_msr_filter(MsrFilter(ALLOW, [deny_one(MSR_FS_BASE)]))
    bad = MsrFilter(DENY, [allow_one(0x10), MsrFilterRange(4, 0x20, 1, b"\x01")])
    assert errno_of(vm, bad) == errno.EINVAL
    assert not vm.msr_allowed(MSR_FS_BASE, False)
    assert vm.msr_allowed(0x20, False)          # old default (allow) still in force


def test_510_failed_filter_installs_the_prefix_and_the_new_default():
    vm = make_vm("linux-5.10")
    vm.set_msr_filter(MsrFilter(ALLOW, [deny_one(MSR_FS_BASE)]))
    bad = MsrFilter(DENY, [allow_one(0x10), MsrFilterRange(4, 0x20, 1, b"\x01"), allow_one(0x30)])
    assert errno_of(vm, bad) == errno.EINVAL
    assert vm.msr_allowed(MSR_FS_BASE, False) is False   # old range gone, new default: deny
    assert vm.msr_allowed(0x10, False) is True           # range before the failure installed
    assert vm.msr_allowed(0x30, False) is False          # range after it never added


def test_510_zero_installed_ranges_with_default_deny_allows_everything():
    vm = make_vm("linux-5.10")
    bad = MsrFilter(DENY, [MsrFilterRange(4, 0x20, 1, b"\x01")])
    assert errno_of(vm, bad) == errno.EINVAL
    assert vm.msr_allowed(0x20, False) and vm.msr_allowed(MSR_FS_BASE, True)
    assert vm.filter_map(0, 64, write=False).all()


def test_empty_default_allow_filter_is_no_filter():
    vm = make_vm()
    vm.set_msr_filter(MsrFilter(ALLOW, [deny_one(0x10)]))
    vm.set_msr_filter(MsrFilter(ALLOW, []))
    assert vm.msr_allowed(0x10, False)


# --- the allow decision (§4) ------------------------------------------------------------------
@pytest.mark.parametrize("profile", PROFILES)
def test_x2apic_range_is_never_filtered(profile):
    vm = make_vm(profile)
    vm.set_msr_filter(MsrFilter(DENY, [MsrFilterRange(R | W, 0x800, 0x100, bytes(32))]))
    assert all(vm.msr_allowed(i, w) for i in (0x800, 0x802, 0x8FF) for w in (False, True))
    assert not vm.msr_allowed(0x7FF, False) and not vm.msr_allowed(0x900, True)


def test_first_matching_range_of_the_access_type_decides():
    vm = make_vm()
    vm.set_msr_filter(MsrFilter(DENY, [deny_one(0x10, W), allow_one(0x10, R | W),
                                       deny_one(0x10, R)]))
    assert vm.msr_allowed(0x10, False) is True    # first READ range is the allow one
    assert vm.msr_allowed(0x10, True) is False    # first WRITE range denies


def test_write_only_range_leaves_reads_to_the_default():
    vm = make_vm()
    vm.set_msr_filter(MsrFilter(DENY, [allow_one(MSR_GS_BASE, W)]))
    assert vm.msr_allowed(MSR_GS_BASE, True) is True
    assert vm.msr_allowed(MSR_GS_BASE, False) is False


def test_wrapped_range_matches_nothing():
    vm = make_vm()
    vm.set_msr_filter(MsrFilter(ALLOW, [MsrFilterRange(R | W, 0xFFFFFFF0, 0x20, bytes(8))]))
    assert vm.msr_allowed(0xFFFFFFF5, False) and vm.msr_allowed(0x5, True)


def test_short_bitmap_is_zero_padded_and_denies():
    vm = make_vm()
    vm.set_msr_filter(MsrFilter(ALLOW, [MsrFilterRange(R, 0x100, 64, b"\xff")]))
    assert vm.msr_allowed(0x107, False) and not vm.msr_allowed(0x108, False)


def test_bits_past_nmsrs_are_never_consulted():
    vm = make_vm()
    vm.set_msr_filter(MsrFilter(DENY, [MsrFilterRange(R, 0x100, 4, b"\xff" * 8)]))
    assert vm.msr_allowed(0x103, False) and not vm.msr_allowed(0x104, False)


def test_from_indices_builds_the_bitmap_bit_by_bit():
    rng = MsrFilterRange.from_indices(R, 0xC0000000, 0x2000, [0xC0000080, 0xC0000100])
    assert len(rng.bitmap) == 0x400
    assert rng.bit(0x80) and rng.bit(0x100) and not rng.bit(0x81)
    with pytest.raises(ValueError, match="outside"):
        MsrFilterRange.from_indices(R, 0x10, 4, [0x20])


# --- values: dict and kernel-layout bytes ------------------------------------------------------
def test_dict_round_trip_and_hex_input():
    f = MsrFilter(DENY, [MsrFilterRange(R, 0xC0000000, 16, b"\x01\x80"), deny_one(MSR_IA32_XSS)])
    assert MsrFilter.from_dict(f.to_dict()) == f
    parsed = MsrFilter.from_dict({"flags": "0x1", "ranges": [
        {"flags": "3", "base": "0xc0000100", "nmsrs": "0x1", "bitmap": "00"}]})
    assert parsed == MsrFilter(DENY, [deny_one(MSR_FS_BASE)])


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"flags": "zero"}, "filter.flags"),
        ({"ranges": [{"flags": 1, "base": 0}]}, r"filter.ranges\[0\].nmsrs"),
        ({"ranges": [{"flags": 1, "base": 0, "nmsrs": 1, "bitmap": "zz"}]},
         r"filter.ranges\[0\].bitmap"),
        ({"ranges": [{"flags": 1, "base": 0, "nmsrs": 1, "colour": 1}]}, "colour"),
        ({"flags": 0, "extra": 1}, "extra"),
    ],
)
def test_bad_dicts_name_the_field(data, field):
    with pytest.raises(ValueError, match=field):
        MsrFilter.from_dict(data)


def test_bytes_layout_matches_the_kernel():
    f = MsrFilter(DENY, [MsrFilterRange(R | W, 0x10, 16, b"\x03\x00"),
                         MsrFilterRange(W, 0xC0000100, 1, b"\x01")])
    blob = f.to_bytes()
    assert len(blob) == 392 + 3
    assert int.from_bytes(blob[0:4], "little") == DENY
    first = blob[8:32]
    assert int.from_bytes(first[0:4], "little") == R | W
    assert int.from_bytes(first[4:8], "little") == 16
    assert int.from_bytes(first[8:12], "little") == 0x10
    assert int.from_bytes(first[16:24], "little") == 392     # bitmap follows the header
    assert blob[392:394] == b"\x03\x00"
    assert MsrFilter.from_bytes(blob) == f


ranges = st.builds(
    MsrFilterRange,
    flags=st.integers(0, 7),
    base=st.integers(0, 0xFFFFFFFF),
    nmsrs=st.integers(0, 300),
    bitmap=st.one_of(st.none(), st.binary(max_size=40)),
)
filters = st.builds(MsrFilter, flags=st.integers(0, 3), ranges=st.lists(ranges, max_size=16))


@given(filters)
def test_bytes_and_dict_round_trips(f):
    """Exact, except that trailing all-zero ranges are the struct's unused slots."""
    used = list(f.ranges)
    while used and used[-1] == MsrFilterRange(0, 0, 0, None):
        used.pop()
    assert MsrFilter.from_bytes(f.to_bytes()) == MsrFilter(f.flags, used)
    assert MsrFilter.from_dict(f.to_dict()) == f


# --- the vectorised map agrees with the per-MSR decision --------------------------------------
valid_ranges = st.builds(
    MsrFilterRange,
    flags=st.sampled_from([R, W, R | W]),
    base=st.one_of(st.integers(0, 0x1100), st.just(0xFFFFFFF0)),
    nmsrs=st.integers(0, 0x300),
    bitmap=st.binary(max_size=0x60),
)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(PROFILES), st.sampled_from([ALLOW, DENY]),
       st.lists(valid_ranges, min_size=1, max_size=6), st.booleans())
def test_filter_map_agrees_with_msr_allowed(profile, flags, rngs, write):
    vm = make_vm(profile)
    if errno_of(vm, MsrFilter(flags, rngs)):
        return
    first, count = 0x700, 0x300
    expected = np.array([vm.msr_allowed(i, write) for i in range(first, first + count)])
    assert np.array_equal(vm.filter_map(first, count, write), expected)
