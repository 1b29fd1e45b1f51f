"""The in-kernel MSR catalogue and KVM's answers to guest and host MSR accesses.

Expectations come from the kernel sources (file/function in the test names' docstrings)
and, for linux-6.18, from the real kernel of the development host (HOST_6_18 below).
Rows that differ by vendor, kernel or CPUID: test_msr_differences.py; reserved bits, the
APIC and state: test_msr_reserved.py.
"""

import pytest
from msr_files import INVALID, OK, PROFILES, UNSUPPORTED, VENDORS, Clock, make, with_bits, without

from workbench.kvm.cpuid import Cpuid, default_cpuid
from workbench.kvm.msrs import CATALOGUE, MsrResult, lookup, msr_name
from workbench.kvm.msrs import numbers as n
from workbench.kvm.profiles import LINUX_5_10, LINUX_6_18

# KVM_GET_SUPPORTED_CPUID of the development host (all-zero leaves dropped).
HOST_CPUID = [
    (0x0, 0x0, 0x1c, 0x68747541, 0x444d4163, 0x69746e65),
    (0x1, 0x0, 0xb00f21, 0x1020800, 0x81202000, 0x78bfbff),
    (0x6, 0x0, 0x4, 0x0, 0x0, 0x0),
    (0x7, 0x0, 0x1, 0x1800002, 0x104, 0x20000000),
    (0xb, 0x0, 0x0, 0x0, 0x0, 0x1),
    (0xd, 0x0, 0xe7, 0x980, 0x980, 0x0),
    (0xd, 0x2, 0x100, 0x240, 0x0, 0x0),
    (0xd, 0x5, 0x40, 0x340, 0x0, 0x0),
    (0xd, 0x6, 0x200, 0x380, 0x0, 0x0),
    (0xd, 0x7, 0x400, 0x580, 0x0, 0x0),
    (0x80000000, 0x0, 0x80000021, 0x68747541, 0x444d4163, 0x69746e65),
    (0x80000001, 0x0, 0xb00f21, 0x40000000, 0x400393, 0x23d3fbff),
    (0x80000005, 0x0, 0xff60ff40, 0xff60ff40, 0x300c0140, 0x20080140),
    (0x80000006, 0x0, 0x40802040, 0x60804040, 0x4008140, 0xc009140),
    (0x80000007, 0x0, 0x0, 0x0, 0x0, 0x100),
    (0x80000008, 0x0, 0x3030, 0x50020005, 0x7001, 0x0),
    (0x8000001a, 0x0, 0x2, 0x0, 0x0, 0x0),
    (0x8000001d, 0x0, 0x121, 0x2c0003f, 0x3f, 0x0),
    (0x8000001d, 0x1, 0x122, 0x1c0003f, 0x3f, 0x0),
    (0x8000001d, 0x2, 0x143, 0x3c0003f, 0x3ff, 0x2),
    (0x8000001d, 0x3, 0x4163, 0x3c0003f, 0x7fff, 0x1),
    (0x80000021, 0x0, 0x204, 0x0, 0x6, 0x0),
    (0x40000000, 0x0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d),
    (0x40000001, 0x0, 0x1007efb, 0x0, 0x0, 0x0),
]
# Real-kernel results: "read, write of the value read, write of ~0, read again" -> MSRs
# (single indices or inclusive (first, last) spans). Captured with a throwaway probe that ran
# each access in a fresh VM with KVM_CAP_X86_USER_SPACE_MSR = 0x7, so every failure exited
# with its reason. Only rows where the VMX model agrees are listed; the report names the rest.
HOST_6_18 = {
    "INVAL INVAL INVAL INVAL": [
        0x9e, 0x17b, (0x1c4, 0x1c5), 0x210, (0x280, 0x29f), (0x802, 0x803), 0x808, (0x80a,
        0x80b), 0x80d, (0x80f, 0x828), (0x82f, 0x830), (0x832, 0x839), (0x83e, 0x83f),
        0xc0000103,
    ],
    "OK:0x0 INVAL INVAL OK:0x0": [
        0x34, 0x4b564d06,
    ],
    "OK:0x0 OK INVAL OK:0x0": [
        (0x200, 0x20f), 0x250, (0x258, 0x259), (0x268, 0x26f), 0x2ff, 0x401, 0x405, 0x409,
        0x40d, 0x411, 0x415, 0x419, 0x41d, 0x421, 0x425, 0x429, 0x42d, 0x431, 0x435, 0x439,
        0x43d, 0x441, 0x445, 0x449, 0x44d, 0x451, 0x455, 0x459, 0x45d, 0x461, 0x465, 0x469,
        0x46d, 0x471, 0x475, 0x479, 0x47d, (0x4b564d02, 0x4b564d04), 0xc0010015, 0xc0010058,
    ],
    "OK:0x0 OK OK OK:0x0": [
        (0xc1, 0xc2), (0x186, 0x187), 0x6e0, 0x4b564d07, (0xc0010000, 0xc0010007), 0xc001001f,
        0xc0010117, (0xc0011022, 0xc0011023), 0xc001102a, 0xc001102c,
    ],
    "OK:0x0 OK OK OK:0xffffffffffffffff": [
        (0x11, 0x12), 0x3b, (0x175, 0x176), 0x17a, 0x1fc, 0x400, (0x402, 0x404), (0x406, 0x408),
        (0x40a, 0x40c), (0x40e, 0x410), (0x412, 0x414), (0x416, 0x418), (0x41a, 0x41c), (0x41e,
        0x420), (0x422, 0x424), (0x426, 0x428), (0x42a, 0x42c), (0x42e, 0x430), (0x432, 0x434),
        (0x436, 0x438), (0x43a, 0x43c), (0x43e, 0x440), (0x442, 0x444), (0x446, 0x448), (0x44a,
        0x44c), (0x44e, 0x450), (0x452, 0x454), (0x456, 0x458), (0x45a, 0x45c), (0x45e, 0x460),
        (0x462, 0x464), (0x466, 0x468), (0x46a, 0x46c), (0x46e, 0x470), (0x472, 0x474), (0x476,
        0x478), (0x47a, 0x47c), (0x47e, 0x47f), (0x4b564d00, 0x4b564d01), (0xc0000081,
        0xc0000084), (0xc0000100, 0xc0000102), (0xc0010140, 0xc0010141),
    ],
    "OK:0x0 UNKNOWN UNKNOWN OK:0x0": [
        (0x0, 0x1), 0x17, 0x2a, 0x199, (0x1db, 0x1de), 0x606, 0x611, 0x619, 0x639, 0x641,
        0xc0010010, 0xc0010055, (0xc0010112, 0xc0010113),
    ],
    "OK:0x1 OK INVAL OK:0x1": [
        0x4b564d05,
    ],
    "OK:0x1000000 UNKNOWN UNKNOWN OK:0x1000000": [
        0x2c,
    ],
    "OK:0x20 UNKNOWN UNKNOWN OK:0x20": [
        0x179,
    ],
    "OK:0x20000000 OK OK OK:0x20000000": [
        0xc001001b,
    ],
    "OK:0x3 UNKNOWN UNKNOWN OK:0x3": [
        0xcd,
    ],
    "OK:0x400000003e8 UNKNOWN UNKNOWN OK:0x400000003e8": [
        0x198,
    ],
    "OK:0x500 OK INVAL OK:0x500": [
        0xc0000080,
    ],
    "OK:0x508 UNKNOWN UNKNOWN OK:0x508": [
        0xfe,
    ],
    "OK:0x80000000 INVAL INVAL OK:0x80000000": [
        0xce,
    ],
    "OK:0xbe702111 OK OK OK:0xbe702111": [
        0x11e,
    ],
    "OK:0xfee00900 OK INVAL OK:0xfee00900": [
        0x1b,
    ],
    "UNKNOWN OK OK UNKNOWN": [
        0x79,
    ],
    "UNKNOWN UNKNOWN UNKNOWN UNKNOWN": [
        0x35, (0xc3, 0xc8), (0x188, 0x18d), 0x270, 0x2a0, (0x309, 0x30b), (0x38d, 0x390), 0x480,
        (0x4c1, 0x4c8), 0x6a0, 0x6a2, (0x6a4, 0x6a8), 0xc0010114, 0xc0011029,
    ],
}


def _code(result: MsrResult, value: int | None = None) -> str:
    if result == OK:
        return "OK" if value is None else f"OK:{value:#x}"
    return "INVAL" if result == INVALID else "UNKNOWN"


def _host_cases():
    for pattern, spans in HOST_6_18.items():
        for span in spans:
            first, last = span if isinstance(span, tuple) else (span, span)
            for index in range(first, last + 1):
                yield pytest.param(index, pattern.split(), id=f"{index:#x}")


@pytest.mark.parametrize("index, expected", list(_host_cases()))
def test_matches_real_kernel_6_18(index, expected):
    """Guest read / write-back / write ~0 / read, as the real 6.18 kernel answered them
    with the guest CPUID = its KVM_GET_SUPPORTED_CPUID (mask 0x7 exits gave the reasons)."""
    f = make("intel", LINUX_6_18, Cpuid(HOST_CPUID))
    result, value = f.get(index)
    seen = [_code(result, value)]
    seen.append(_code(f.set(index, value if result == OK else 0)))
    seen.append(_code(f.set(index, (1 << 64) - 1)))
    seen.append(_code(*f.get(index)))
    assert seen == expected


# --- the catalogue itself -------------------------------------------------------------------
SPEC_8 = [0x10, 0x1B, 0x3A, 0x3B, 0x48, 0x49, 0x79, 0x8B, 0x10A, 0x10B, 0xFE, 0x174, 0x175,
          0x176, 0x179, 0x17A, 0x17B, 0x1A0, 0x1D9, *range(0x200, 0x210), 0x250, 0x258, 0x259,
          *range(0x268, 0x270), 0x277, 0x2FF, 0x400, 0x401, 0x47F, 0x6E0, 0x800, 0x8FF, 0xDA0,
          *range(0xC0000080, 0xC0000085), *range(0xC0000100, 0xC0000104), 0x11, 0x12,
          *range(0x4B564D00, 0x4B564D08), 0xC1, 0xC2, 0x186, 0x187,
          *range(0xC0010000, 0xC0010008), 0xC0010010, 0xC0010015, 0xC0010114, 0xC0010117,
          0xC0011029]


def test_catalogue_covers_spec_section_8():
    assert len(CATALOGUE) >= 40
    assert [hex(i) for i in SPEC_8 if lookup(i) is None] == []


def test_catalogue_rows_are_well_formed():
    from workbench.kvm.msrs.emulate import READERS, WRITERS

    for row in CATALOGUE:
        assert row.read == "unsupported" or row.read in READERS, row
        assert row.write == "unsupported" or row.write in WRITERS, row
        assert row.vendor in (None, "intel", "amd")
        assert row.name and row.count >= 1


@pytest.mark.parametrize("index, name", [
    (0x10, "IA32_TSC"), (0x206, "MTRRphysBase3"), (0x20B, "MTRRphysMask5"),
    (0x409, "MC2_STATUS"), (0x830, "X2APIC_ICR"), (0x35, "MSR_CORE_THREAD_COUNT"),
    (0xC0000084, "SFMASK"), (0x4B564D01, "KVM_SYSTEM_TIME_NEW"), (0x26A, "MTRRfix4K_D0000"),
    (0x3FD, "CORE_C6_RESIDENCY"), (0x12345678, "0x12345678"), (0x8FE, "X2APIC_0x8fe"),
])
def test_msr_names(index, name):
    assert msr_name(index) == name


def test_unknown_index_is_unsupported_both_ways():
    for vendor in VENDORS:
        for profile in PROFILES:
            f = make(vendor, profile)
            assert f.get(0x35) == (UNSUPPORTED, 0)
            assert f.set(0x35, 0) == UNSUPPORTED
            assert f.host_get(0x12345678)[0] == UNSUPPORTED


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("profile", PROFILES)
def test_every_row_answers_on_every_engine(vendor, profile):
    """No row raises; readable rows accept their own value back unless the kernel forbids it."""
    for row in CATALOGUE:
        for index in range(row.index, row.last + 1, max(1, row.count // 7)):
            f = make(vendor, profile, irqchip=True)
            result, value = f.get(index)
            assert isinstance(result, MsrResult) and 0 <= value < 1 << 64
            assert isinstance(f.set(index, value), MsrResult)
            assert isinstance(f.host_get(index)[0], MsrResult)


# --- spec §5 host observations --------------------------------------------------------------
@pytest.mark.parametrize("irqchip", [False, True])
@pytest.mark.parametrize("index", [0x802, 0x808])
def test_x2apic_msrs_invalid_in_xapic_mode(index, irqchip):
    f = make(irqchip=irqchip)
    assert not f.x2apic_mode
    assert f.get(index)[0] == INVALID
    assert f.set(index, 0) == INVALID


def test_pred_cmd_is_write_only():
    f = make()
    assert f.get(n.MSR_IA32_PRED_CMD)[0] == UNSUPPORTED
    assert f.set(n.MSR_IA32_PRED_CMD, 1) == OK
    assert f.set(n.MSR_IA32_PRED_CMD, 2) == INVALID
    bare = make(cpuid=without(default_cpuid(), "intel_spec_ctrl", "amd_ibpb"))
    assert bare.set(n.MSR_IA32_PRED_CMD, 1) == INVALID


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("profile", PROFILES)
def test_tsc_aux_needs_rdtscp_or_rdpid(vendor, profile):
    bare = without(default_cpuid(vendor), "rdtscp", "rdpid")
    f = make(vendor, profile, bare)
    assert f.get(n.MSR_TSC_AUX)[0] == INVALID
    assert f.set(n.MSR_TSC_AUX, 1) == INVALID
    assert f.host_set(n.MSR_TSC_AUX, 7) == OK  # host-initiated skips the CPUID check
    rdpid_only = make(vendor, profile, without(default_cpuid(vendor), "rdtscp"))
    # RDPID alone unlocks TSC_AUX since 5.13; 5.10 still wants RDTSCP.
    expected = OK if profile is LINUX_6_18 else INVALID
    assert rdpid_only.set(n.MSR_TSC_AUX, 1) == expected


def test_tsc_aux_upper_bits():
    intel = make("intel")
    assert intel.set(n.MSR_TSC_AUX, 1 << 32) == INVALID
    amd = make("amd")
    assert amd.set(n.MSR_TSC_AUX, 1 << 32 | 5) == OK
    assert amd.get(n.MSR_TSC_AUX) == (OK, 5)  # dropped for an AMD-compatible guest
    old_amd = make("amd", LINUX_5_10)
    assert old_amd.set(n.MSR_TSC_AUX, 1 << 32 | 5) == OK
    assert old_amd.get(n.MSR_TSC_AUX) == (OK, 1 << 32 | 5)
    assert make("intel", LINUX_5_10).set(n.MSR_TSC_AUX, 1 << 32) == INVALID


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("index", [n.MSR_FS_BASE, n.MSR_GS_BASE, n.MSR_KERNEL_GS_BASE,
                                   n.MSR_LSTAR, n.MSR_CSTAR])
def test_canonical_bases(vendor, index):
    f = make(vendor)
    assert f.set(index, 0x0000_8000_0000_0000) == INVALID
    assert f.set(index, 0xFFFF_7FFF_FFFF_FFFF) == INVALID
    for value in (0x0000_7FFF_FFFF_F000, 0xFFFF_8000_0000_1000):
        assert f.set(index, value) == OK
        assert f.get(index) == (OK, value)


def test_la57_widens_the_canonical_check_on_6_18():
    la57 = with_bits(default_cpuid(), 7, 0, "ecx", 16)
    assert make(cpuid=la57).set(n.MSR_FS_BASE, 1 << 50) == OK
    assert make(cpuid=la57, profile=LINUX_5_10).set(n.MSR_FS_BASE, 1 << 50) == INVALID


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("profile", PROFILES)
def test_apic_base_bsp_and_ap(vendor, profile):
    assert make(vendor, profile).get(n.MSR_IA32_APICBASE) == (OK, 0xFEE00900)
    assert make(vendor, profile, vcpu_id=1).get(n.MSR_IA32_APICBASE) == (OK, 0xFEE00800)


# --- TSC ---------------------------------------------------------------------------------------
def test_tsc_reads_guest_time_and_writes_move_the_offset():
    clock = Clock()
    f = make(clock=clock)
    clock.now = 1000
    assert f.get(n.MSR_IA32_TSC) == (OK, 1000)
    assert f.set(n.MSR_IA32_TSC, 5000) == OK
    clock.now = 1100
    assert f.get(n.MSR_IA32_TSC) == (OK, 5100)
    assert f.get(n.MSR_IA32_TSC_ADJUST) == (OK, 4000)  # guest writes feed TSC_ADJUST
    assert f.host_set(n.MSR_IA32_TSC, 0) == OK
    assert f.get(n.MSR_IA32_TSC) == (OK, 0)
    assert f.get(n.MSR_IA32_TSC_ADJUST) == (OK, 4000)  # host writes do not


def test_tsc_adjust_moves_the_tsc_only_with_the_cpuid_bit():
    clock = Clock()
    f = make(clock=clock)
    assert f.set(n.MSR_IA32_TSC_ADJUST, 300) == OK
    assert f.get(n.MSR_IA32_TSC) == (OK, 300)
    g = make(cpuid=without(default_cpuid(), "tsc_adjust"), clock=clock)
    assert g.set(n.MSR_IA32_TSC_ADJUST, 300) == OK
    assert g.get(n.MSR_IA32_TSC_ADJUST) == (OK, 0)
    assert g.get(n.MSR_IA32_TSC) == (OK, 0)


def test_tsc_wraps_at_64_bits():
    clock = Clock()
    f = make(clock=clock)
    f.set(n.MSR_IA32_TSC, (1 << 64) - 10)
    clock.now = 20
    assert f.get(n.MSR_IA32_TSC) == (OK, 10)
