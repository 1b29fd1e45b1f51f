"""The in-kernel MSR catalogue and KVM's answers to guest and host MSR accesses.

Expectations come from the kernel sources (file/function in the test names' docstrings)
and, for linux-6.18, from the real kernel of the development host (HOST_6_18 below).
"""

import pytest

from workbench.kvm.cpuid import Cpuid, default_cpuid
from workbench.kvm.msrs import CATALOGUE, MsrContext, MsrFile, MsrResult, lookup, msr_name
from workbench.kvm.msrs import numbers as n
from workbench.kvm.profiles import LINUX_5_10, LINUX_6_18

OK, INVALID, UNSUPPORTED = MsrResult.OK, MsrResult.INVALID, MsrResult.UNSUPPORTED
PROFILES = [LINUX_6_18, LINUX_5_10]
VENDORS = ["intel", "amd"]


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def make(vendor="intel", profile=LINUX_6_18, cpuid=None, irqchip=False, vcpu_id=0, clock=None,
         **extra):
    cpuid = default_cpuid(vendor) if cpuid is None else cpuid
    ctx = MsrContext(vendor, profile, cpuid, irqchip, vcpu_id, **extra)
    return MsrFile(ctx, clock or Clock())


def without(cpuid: Cpuid, *features: str) -> Cpuid:
    """The same CPUID with the named leaf bits cleared."""
    from workbench.kvm.cpuid import _FEATURES

    rows = [list(t) for t in cpuid.to_tuples()]
    for feat in features:
        leaf, sub, reg, bit = _FEATURES[feat]
        for row in rows:
            if row[0] == leaf and (row[1] == sub or leaf not in (7, 0xD)):
                row[2 + "abcd".index(reg[1])] &= ~(1 << bit)
    return Cpuid(map(tuple, rows))


def with_bits(cpuid: Cpuid, leaf: int, sub: int, reg: str, bit: int) -> Cpuid:
    rows = [list(t) for t in cpuid.to_tuples()]
    for row in rows:
        if row[0] == leaf and row[1] == sub:
            row[2 + "abcd".index(reg[1])] |= 1 << bit
    return Cpuid(map(tuple, rows))


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


# --- rows that differ by vendor or kernel -------------------------------------------------------
# (index, vendor, profile, read result, write value, write result)
DIFFERENCES = [
    (n.MSR_IA32_FEAT_CTL, "intel", LINUX_6_18, OK, 1, OK),
    (n.MSR_IA32_FEAT_CTL, "amd", LINUX_6_18, UNSUPPORTED, 1, UNSUPPORTED),
    (n.MSR_IA32_FLUSH_CMD, "intel", LINUX_6_18, UNSUPPORTED, 1, OK),
    (n.MSR_IA32_FLUSH_CMD, "intel", LINUX_5_10, UNSUPPORTED, 1, UNSUPPORTED),
    (n.MSR_IA32_FLUSH_CMD, "amd", LINUX_6_18, UNSUPPORTED, 1, INVALID),
    (n.MSR_IA32_U_CET, "intel", LINUX_6_18, OK, 1, OK),
    (n.MSR_IA32_U_CET, "intel", LINUX_5_10, UNSUPPORTED, 1, UNSUPPORTED),
    (n.MSR_IA32_U_CET, "amd", LINUX_6_18, UNSUPPORTED, 1, UNSUPPORTED),
    (n.MSR_IA32_XFD, "intel", LINUX_6_18, OK, 1 << 18, OK),
    (n.MSR_IA32_XFD, "intel", LINUX_5_10, UNSUPPORTED, 1 << 18, UNSUPPORTED),
    (n.MSR_IA32_XSS, "intel", LINUX_6_18, OK, 0x1800, OK),
    (n.MSR_IA32_XSS, "intel", LINUX_5_10, OK, 0x1800, INVALID),
    (n.MSR_VM_CR, "amd", LINUX_6_18, OK, 0x8, OK),
    (n.MSR_VM_CR, "intel", LINUX_6_18, UNSUPPORTED, 0x8, UNSUPPORTED),
    (n.MSR_AMD64_DE_CFG, "amd", LINUX_6_18, OK, 2, OK),
    (n.MSR_AMD64_DE_CFG, "intel", LINUX_6_18, UNSUPPORTED, 2, UNSUPPORTED),
    (n.MSR_AMD64_VIRT_SPEC_CTRL, "amd", LINUX_5_10, OK, 4, OK),
    (n.MSR_AMD64_VIRT_SPEC_CTRL, "intel", LINUX_6_18, UNSUPPORTED, 4, UNSUPPORTED),
    (n.MSR_VM_HSAVE_PA, "amd", LINUX_6_18, OK, 0x1234, INVALID),
    (n.MSR_VM_HSAVE_PA, "amd", LINUX_5_10, OK, 0x1234, OK),
    (n.MSR_VM_HSAVE_PA, "intel", LINUX_6_18, OK, 0x1234, OK),
    (n.MSR_K7_HWCR, "intel", LINUX_6_18, OK, 1 << 24, OK),
    (n.MSR_K7_HWCR, "intel", LINUX_5_10, OK, 1 << 24, INVALID),
    (n.MSR_AMD64_TW_CFG, "amd", LINUX_6_18, OK, 5, OK),
    (n.MSR_AMD64_TW_CFG, "amd", LINUX_5_10, UNSUPPORTED, 5, UNSUPPORTED),
    (n.MSR_IA32_MCG_EXT_CTL, "intel", LINUX_6_18, INVALID, 0, INVALID),
    (n.MSR_IA32_MCG_EXT_CTL, "amd", LINUX_6_18, UNSUPPORTED, 0, UNSUPPORTED),
    (n.MSR_IA32_MC0_CTL + 4, "intel", LINUX_6_18, OK, (1 << 64) - 2, OK),
    (n.MSR_IA32_MC0_CTL + 4, "intel", LINUX_5_10, OK, (1 << 64) - 2, INVALID),
    (0x270, "intel", LINUX_6_18, UNSUPPORTED, 0, UNSUPPORTED),
    (0x270, "intel", LINUX_5_10, INVALID, 0, INVALID),
    (0x4C1, "intel", LINUX_6_18, OK, 1 << 40, OK),
    (0x4C1, "amd", LINUX_6_18, UNSUPPORTED, 1 << 40, UNSUPPORTED),
    (0xC3, "intel", LINUX_6_18, OK, 0, OK),
    (0xC3, "amd", LINUX_6_18, UNSUPPORTED, 0, UNSUPPORTED),
]


@pytest.mark.parametrize("index, vendor, profile, read, value, write", DIFFERENCES,
                         ids=[f"{msr_name(d[0])}-{d[1]}-{d[2].name}" for d in DIFFERENCES])
def test_vendor_and_profile_differences(index, vendor, profile, read, value, write):
    f = make(vendor, profile)
    assert f.get(index)[0] == read
    assert f.set(index, value) == write


def test_misc_enable_pmu_bits_are_read_only_on_6_18():
    f = make()
    assert f.get(n.MSR_IA32_MISC_ENABLE) == (OK, 0x1800)
    assert f.set(n.MSR_IA32_MISC_ENABLE, 0) == INVALID
    assert f.set(n.MSR_IA32_MISC_ENABLE, 0x1801 | 0x80) == OK
    assert f.get(n.MSR_IA32_MISC_ENABLE) == (OK, 0x1801)  # EMON ignored
    old = make(profile=LINUX_5_10)
    assert old.set(n.MSR_IA32_MISC_ENABLE, 0x80) == OK
    assert old.get(n.MSR_IA32_MISC_ENABLE) == (OK, 0x80)


def test_hwcr_5_10_writing_zero_keeps_the_old_value():
    old = make("amd", LINUX_5_10)
    assert old.set(n.MSR_K7_HWCR, 1 << 18 | 0x48) == OK  # ignored bits dropped
    assert old.set(n.MSR_K7_HWCR, 0) == OK
    assert old.get(n.MSR_K7_HWCR) == (OK, 1 << 18)
    new = make("amd")
    new.set(n.MSR_K7_HWCR, 1 << 18)
    new.set(n.MSR_K7_HWCR, 0)
    assert new.get(n.MSR_K7_HWCR) == (OK, 0)


def test_mci_status_writable_only_for_amd_guests_with_mcstatuswren():
    for vendor, expected in (("amd", OK), ("intel", INVALID)):
        f = make(vendor)
        assert f.set(n.MSR_IA32_MC0_CTL + 1, 5) == INVALID
        assert f.set(n.MSR_K7_HWCR, 1 << 18) == OK
        assert f.set(n.MSR_IA32_MC0_CTL + 1, 5) == expected
        assert f.set(n.MSR_IA32_MC0_CTL + 1, 0) == OK


def test_mce_banks_stop_at_mcg_cap_count():
    f = make()
    f.host_set(n.MSR_IA32_MCG_CAP, 0)  # not writable: MCG_CAP comes from KVM_X86_SETUP_MCE
    assert f.get(n.MSR_IA32_MCG_CAP) == (OK, 32)
    f.regs[n.MSR_IA32_MCG_CAP] = 2
    assert f.get(n.MSR_IA32_MC0_CTL + 7)[0] == OK
    assert f.get(n.MSR_IA32_MC0_CTL + 8)[0] == INVALID


def test_sysenter_cs_width_by_vendor():
    intel, amd = make("intel"), make("amd")
    for f in (intel, amd):
        assert f.set(n.MSR_IA32_SYSENTER_CS, 0x1_0000_0010) == OK
    assert intel.get(n.MSR_IA32_SYSENTER_CS) == (OK, 0x10)
    assert amd.get(n.MSR_IA32_SYSENTER_CS) == (OK, 0x1_0000_0010)


def test_sysenter_eip_on_svm_keeps_high_half_only_for_intel_compatible_guests():
    addr = 0xFFFF_8000_1234_5678
    amd_guest = make("amd")
    amd_guest.set(n.MSR_IA32_SYSENTER_EIP, addr)
    assert amd_guest.get(n.MSR_IA32_SYSENTER_EIP) == (OK, 0x1234_5678)
    spoofed = make("amd", cpuid=default_cpuid("intel"))
    spoofed.set(n.MSR_IA32_SYSENTER_EIP, addr)
    assert spoofed.get(n.MSR_IA32_SYSENTER_EIP) == (OK, addr)
    old = make("amd", LINUX_5_10)
    old.set(n.MSR_IA32_SYSENTER_EIP, addr)
    assert old.get(n.MSR_IA32_SYSENTER_EIP) == (OK, addr)
    vmx = make("intel")
    assert vmx.set(n.MSR_IA32_SYSENTER_ESP, 1 << 47) == OK  # made canonical, no #GP
    assert vmx.get(n.MSR_IA32_SYSENTER_ESP) == (OK, 0xFFFF_8000_0000_0000)


def test_debugctl_by_vendor_and_profile():
    intel = make("intel")
    assert intel.set(n.MSR_IA32_DEBUGCTLMSR, 0x3) == OK  # LBR/BTF dropped
    assert intel.get(n.MSR_IA32_DEBUGCTLMSR) == (OK, 0)
    assert intel.set(n.MSR_IA32_DEBUGCTLMSR, 0x4) == INVALID  # no bus-lock detect
    amd = make("amd")
    assert amd.set(n.MSR_IA32_DEBUGCTLMSR, 0x3F) == OK
    assert amd.get(n.MSR_IA32_DEBUGCTLMSR) == (OK, 0x3D)  # BTF dropped on 6.x
    assert amd.set(n.MSR_IA32_DEBUGCTLMSR, 0x40) == INVALID
    old = make("amd", LINUX_5_10)
    old.set(n.MSR_IA32_DEBUGCTLMSR, 0x3F)
    assert old.get(n.MSR_IA32_DEBUGCTLMSR) == (OK, 0x3F)


def test_amd_eventsel_reserved_bits_fault_only_on_5_10():
    value = 1 << 21 | 0x76
    assert make("amd", LINUX_5_10).set(n.MSR_K7_EVNTSEL0, value) == INVALID
    new = make("amd")
    assert new.set(n.MSR_K7_EVNTSEL0, value) == OK
    assert new.get(n.MSR_K7_EVNTSEL0) == (OK, 0x76)


def test_legacy_pmu_msrs_without_a_pmu_read_zero_and_drop_writes():
    for f in (make("intel", enable_pmu=False), make("amd", enable_pmu=False), make("amd")):
        assert f.set(n.MSR_IA32_PERFCTR0, 55) == OK
        assert f.get(n.MSR_IA32_PERFCTR0) == (OK, 0)
        assert f.set(n.MSR_IA32_EVNTSEL1, 1 << 40) == OK
    pmu = make("intel")
    assert pmu.set(n.MSR_IA32_EVNTSEL1, 1 << 40) == INVALID
    assert pmu.set(n.MSR_IA32_PERFCTR0, 0x8000_0000) == OK
    assert pmu.get(n.MSR_IA32_PERFCTR0) == (OK, 0xFFFF_8000_0000)  # sign-extended to 48 bits
    assert pmu.get(n.MSR_IA32_PMC0) == (OK, 0xFFFF_8000_0000)
    assert pmu.set(n.MSR_IA32_PMC0, 1 << 48) == INVALID
    amd = make("amd")
    assert amd.set(n.MSR_K7_PERFCTR0, (1 << 64) - 1) == OK
    assert amd.get(n.MSR_K7_PERFCTR0) == (OK, (1 << 48) - 1)
    assert make("intel").get(n.MSR_K7_PERFCTR0) == (OK, 0)


def test_pmu_global_registers():
    pmu = make("intel")
    assert pmu.get(n.MSR_CORE_PERF_GLOBAL_CTRL) == (OK, 0xFF)
    assert make("intel", LINUX_5_10).get(n.MSR_CORE_PERF_GLOBAL_CTRL) == (OK, 0)
    assert pmu.set(n.MSR_CORE_PERF_GLOBAL_CTRL, 1 << 35) == INVALID
    assert pmu.set(n.MSR_CORE_PERF_GLOBAL_CTRL, 7 << 32 | 0xFF) == OK
    assert pmu.set(n.MSR_CORE_PERF_GLOBAL_STATUS, 1) == INVALID
    assert pmu.set(n.MSR_CORE_PERF_FIXED_CTR_CTRL, 0xBBB) == OK
    assert pmu.set(n.MSR_CORE_PERF_FIXED_CTR_CTRL, 0x4) == INVALID


# --- CPUID-dependent rows flip with the CPUID -------------------------------------------------
FLIPS = [
    # (vendor, index, feature bits to clear, value written)
    ("intel", n.MSR_IA32_SPEC_CTRL, ("intel_spec_ctrl", "amd_ibrs", "amd_stibp", "amd_ssbd"), 1),
    ("amd", n.MSR_IA32_SPEC_CTRL, ("intel_spec_ctrl", "amd_ibrs", "amd_stibp", "amd_ssbd"), 1),
    ("intel", n.MSR_IA32_FLUSH_CMD, ("flush_l1d",), 1),
    ("intel", n.MSR_IA32_XFD, ("xfd",), 0),
    ("intel", n.MSR_IA32_XFD_ERR, ("xfd",), 0),
    ("intel", n.MSR_IA32_XSS, ("xsaves",), 0),
    ("amd", n.MSR_IA32_XSS, ("xsaves",), 0),
    ("intel", n.MSR_IA32_ARCH_CAPABILITIES, ("arch_capabilities",), None),
    ("intel", n.MSR_IA32_PERF_CAPABILITIES, ("pdcm",), None),
    ("amd", n.MSR_AMD64_OSVW_ID_LENGTH, ("osvw",), 3),
    ("amd", n.MSR_AMD64_VIRT_SPEC_CTRL, ("virt_ssbd",), 4),
    ("intel", n.MSR_TSC_AUX, ("rdtscp", "rdpid"), 3),
]


@pytest.mark.parametrize("vendor, index, features, value", FLIPS,
                         ids=[f"{f[0]}-{msr_name(f[1])}" for f in FLIPS])
def test_cpuid_dependent_rows_flip(vendor, index, features, value):
    f = make(vendor)
    readable = index not in (n.MSR_IA32_FLUSH_CMD,)
    if readable:
        assert f.get(index)[0] == OK
    if value is not None:
        assert f.set(index, value) == OK
    f.set_cpuid(without(default_cpuid(vendor), *features))
    if readable:
        assert f.get(index)[0] == INVALID
        assert f.host_get(index)[0] == OK
    if value is not None:
        assert f.set(index, value) == INVALID
    f.set_cpuid(default_cpuid(vendor))
    if readable:
        assert f.get(index)[0] == OK


def test_cet_msrs_follow_shstk_and_ibt():
    f = make("intel")
    assert f.set(n.MSR_IA32_PL0_SSP, 0x1000) == OK
    assert f.set(n.MSR_IA32_PL0_SSP, 0x1002) == INVALID  # 4-byte aligned
    assert f.set(n.MSR_IA32_INT_SSP_TAB, 0x1002) == OK
    assert f.set(n.MSR_IA32_INT_SSP_TAB, 1 << 47) == INVALID
    assert f.set(n.MSR_IA32_U_CET, 1 << 6) == INVALID  # reserved
    assert f.set(n.MSR_IA32_U_CET, 1 << 10 | 1 << 11) == INVALID  # SUPPRESS with WAIT_ENDBR
    assert f.set(n.MSR_IA32_U_CET, 1 << 12) == INVALID  # misaligned legacy bitmap
    ibt_only = make("intel", cpuid=without(default_cpuid(), "shstk"))
    assert ibt_only.get(n.MSR_IA32_PL3_SSP)[0] == UNSUPPORTED
    assert ibt_only.set(n.MSR_IA32_S_CET, 1) == INVALID  # SHSTK_EN without SHSTK
    assert ibt_only.set(n.MSR_IA32_S_CET, 1 << 2) == OK  # ENDBR_EN


def test_pv_msrs_ignore_cpuid_unless_enforced():
    no_pv = Cpuid([t for t in default_cpuid().to_tuples() if not 0x40000000 <= t[0] < 0x40000100])
    assert make(cpuid=no_pv).get(n.MSR_KVM_WALL_CLOCK_NEW)[0] == OK
    enforced = make(cpuid=no_pv, enforce_pv_cpuid=True)
    assert enforced.get(n.MSR_KVM_WALL_CLOCK_NEW)[0] == INVALID
    assert enforced.set(n.MSR_KVM_SYSTEM_TIME, 1) == INVALID


def test_pv_msr_rules():
    f = make(irqchip=True)
    assert f.get(n.MSR_KVM_POLL_CONTROL) == (OK, 1)
    assert f.set(n.MSR_KVM_POLL_CONTROL, 2) == INVALID
    assert f.set(n.MSR_KVM_STEAL_TIME, 0x1000 | 1 << 2) == INVALID
    assert f.set(n.MSR_KVM_STEAL_TIME, 0x1001) == OK
    assert f.set(n.MSR_KVM_PV_EOI_EN, 0x1002) == INVALID
    assert f.set(n.MSR_KVM_ASYNC_PF_EN, 0x1010) == INVALID
    assert f.set(n.MSR_KVM_ASYNC_PF_INT, 0x100) == INVALID
    assert f.set(n.MSR_KVM_ASYNC_PF_ACK, 1) == OK
    assert f.get(n.MSR_KVM_ASYNC_PF_ACK) == (OK, 0)
    no_lapic = make()
    assert no_lapic.set(n.MSR_KVM_ASYNC_PF_EN, 0x1001) == INVALID
    assert no_lapic.set(n.MSR_KVM_ASYNC_PF_EN, 0) == OK
    assert no_lapic.set(n.MSR_KVM_ASYNC_PF_INT, 0x20) == INVALID


# --- reserved bits ----------------------------------------------------------------------------
RESERVED = [
    (n.MSR_IA32_CR_PAT, 0x0007040600070406, 0x0007040600070402),  # type 2 is not a PAT type
    (n.MSR_MTRRdefType, 0xC06, 0xC02),
    (0x200, 0x6, 0x106),
    (0x201, 0x800, 0x801),
    (0x201, 0x3F_FFFF_F000 & ~0xFFF | 0x800, 1 << 46 | 0x800),  # above MAXPHYADDR 46
    (0x250, 0x0606060606060606, 0x0606060606060607),
    (n.MSR_EFER, 0xD01, 0xD01 | 1 << 12),  # SVME on VMX
    (n.MSR_IA32_APICBASE, 0xFEE00900, 0xFEE00901),
    (n.MSR_MISC_FEATURES_ENABLES, 1, 2),
    (n.MSR_IA32_SPEC_CTRL, 0x7, 1 << 20),
    (n.MSR_IA32_MCG_STATUS, 5, None),
    (n.MSR_FAM10H_MMIO_CONF_BASE, 0, 1),
]


@pytest.mark.parametrize("index, good, bad", RESERVED, ids=[msr_name(r[0]) for r in RESERVED])
def test_reserved_bits(index, good, bad):
    f = make()
    assert f.set(index, good) == OK
    if bad is not None:
        assert f.set(index, bad) == INVALID
        assert f.get(index)[0] == OK and f.get(index)[1] != bad


def test_efer_rules():
    f = make()
    assert f.get(n.MSR_EFER) == (OK, n.EFER_LME | n.EFER_LMA)
    assert f.set(n.MSR_EFER, n.EFER_LMA | n.EFER_NX) == INVALID  # LME off while paging
    assert f.set(n.MSR_EFER, n.EFER_LME) == OK  # LMA is kept, not written
    assert f.get(n.MSR_EFER) == (OK, n.EFER_LME | n.EFER_LMA)
    no_nx = make(cpuid=without(default_cpuid(), "nx"))
    assert no_nx.set(n.MSR_EFER, 0xD00) == INVALID
    assert make("amd").set(n.MSR_EFER, 0x1D00) == OK  # SVME with SVM CPUID


def test_apic_base_mode_transitions():
    f = make(irqchip=True)
    x2 = 0xFEE00000 | n.APICBASE_BSP | n.APICBASE_ENABLE | n.APICBASE_EXTD
    assert f.set(n.MSR_IA32_APICBASE, 0xFEE00500) == INVALID  # EXTD without EN
    assert f.set(n.MSR_IA32_APICBASE, x2) == OK and f.x2apic_mode
    assert f.set(n.MSR_IA32_APICBASE, 0xFEE00900) == INVALID  # x2APIC -> xAPIC
    assert f.set(n.MSR_IA32_APICBASE, 0) == OK and not f.x2apic_mode
    assert f.set(n.MSR_IA32_APICBASE, x2) == INVALID  # disabled -> x2APIC
    assert f.host_set(n.MSR_IA32_APICBASE, x2) == OK
    no_x2apic = make(cpuid=without(default_cpuid(), "x2apic"))
    assert no_x2apic.set(n.MSR_IA32_APICBASE, x2) == INVALID


def _x2apic(vendor="intel", profile=LINUX_6_18, irqchip=True, vcpu_id=0):
    f = make(vendor, profile, irqchip=irqchip, vcpu_id=vcpu_id)
    base = f.get(n.MSR_IA32_APICBASE)[1]
    assert f.set(n.MSR_IA32_APICBASE, base | n.APICBASE_EXTD) == OK
    return f


def test_x2apic_needs_an_in_kernel_lapic():
    f = _x2apic(irqchip=False)
    assert f.x2apic_mode
    assert f.get(0x802)[0] == INVALID
    assert f.set(0x808, 0) == INVALID


def test_x2apic_registers():
    f = _x2apic(vcpu_id=5)
    assert f.get(0x802) == (OK, 5)
    assert f.get(0x803) == (OK, 0x50014)
    assert f.get(0x80D) == (OK, 1 << 5)
    assert f.get(0x835) == (OK, 0x10000)  # AP: LINT0 masked
    assert _x2apic().get(0x835) == (OK, 0x700)  # BSP: LINT0 ExtINT
    for reg in (0x80B, 0x83F, 0x80E, 0x831, 0x82F, 0x809):
        assert f.get(reg)[0] == INVALID, hex(reg)
    for reg in (0x802, 0x803, 0x80A, 0x80D, 0x839, 0x810):
        assert f.set(reg, 0) == INVALID, hex(reg)
    assert f.set(0x808, 0x1234) == OK and f.get(0x808) == (OK, 0x34)
    assert f.get(0x80A) == (OK, 0x34)
    assert f.set(0x837, 0xFFFF_FFFF) == OK
    assert f.get(0x837) == (OK, 0x110FF)  # software-disabled APIC keeps LVTs masked
    assert f.set(0x80F, 0x1FF) == OK
    assert f.set(0x837, 0x30) == OK and f.get(0x837) == (OK, 0x30)
    assert f.set(0x828, 1) == INVALID and f.set(0x828, 0) == OK
    assert f.set(0x830, 1 << 13) == INVALID and f.set(0x830, 1 << 16) == INVALID
    assert f.set(0x830, 0x5_0000_40FF) == OK and f.get(0x830) == (OK, 0x5_0000_40FF)
    assert f.set(0x83E, 0xFF) == OK and f.get(0x83E) == (OK, 0xB)


def test_x2apic_upper_half_reserved_on_6_18_only():
    assert _x2apic().set(0x808, 1 << 32) == INVALID
    old = _x2apic(profile=LINUX_5_10)
    assert old.set(0x808, 1 << 32 | 0x20) == OK
    assert old.get(0x808) == (OK, 0x20)


def test_tsc_deadline_needs_lapic_in_deadline_mode():
    clock = Clock()
    plain = make(clock=clock)
    assert plain.set(n.MSR_IA32_TSC_DEADLINE, 1000) == OK
    assert plain.get(n.MSR_IA32_TSC_DEADLINE) == (OK, 0)
    f = make(irqchip=True, clock=clock)
    f.set(n.MSR_IA32_APICBASE, 0xFEE00D00)
    f.set(n.MSR_IA32_TSC_DEADLINE, 1000)
    assert f.get(n.MSR_IA32_TSC_DEADLINE) == (OK, 0)  # LVTT still one-shot
    f.set(0x80F, 0x1FF)
    f.set(0x832, 2 << 17 | 0x30)
    assert f.set(n.MSR_IA32_TSC_DEADLINE, 1000) == OK
    assert f.get(n.MSR_IA32_TSC_DEADLINE) == (OK, 1000)
    clock.now = 1000
    assert f.get(n.MSR_IA32_TSC_DEADLINE) == (OK, 0)  # expired
    no_deadline = make(irqchip=True, cpuid=without(default_cpuid(), "tsc_deadline_timer"))
    no_deadline.set(n.MSR_IA32_APICBASE, 0xFEE00D00)
    no_deadline.set(0x832, 2 << 17)
    assert no_deadline.get(0x832) == (OK, 0x10000)  # mode bit 18 needs the CPUID bit


# --- state ------------------------------------------------------------------------------------
def test_snapshot_restore_round_trip():
    clock = Clock()
    f = make(clock=clock)
    f.set(n.MSR_FS_BASE, 0x1234)
    f.set(n.MSR_IA32_TSC, 100)
    snap = f.snapshot()
    assert all(isinstance(k, int) and isinstance(v, int) for k, v in snap.items())
    f.set(n.MSR_FS_BASE, 0x5678)
    f.set(n.MSR_IA32_TSC, 999)
    f.restore(snap)
    assert f.get(n.MSR_FS_BASE) == (OK, 0x1234)
    assert f.get(n.MSR_IA32_TSC) == (OK, 100)
    snap[n.MSR_FS_BASE] = 1
    assert f.get(n.MSR_FS_BASE) == (OK, 0x1234)  # the snapshot is a copy


def test_host_accesses_skip_guest_only_checks():
    f = make()
    assert f.set(n.MSR_IA32_ARCH_CAPABILITIES, 0) == INVALID
    assert f.host_set(n.MSR_IA32_ARCH_CAPABILITIES, 0) == OK
    assert f.set(n.MSR_IA32_UCODE_REV, 5) == OK
    assert f.get(n.MSR_IA32_UCODE_REV) == (OK, 0x100000000)
    assert f.host_set(n.MSR_IA32_UCODE_REV, 5) == OK
    assert f.get(n.MSR_IA32_UCODE_REV) == (OK, 5)
    assert f.get(n.MSR_IA32_SMBASE)[0] == INVALID
    assert f.host_get(n.MSR_IA32_SMBASE)[0] == OK
    assert make("amd").get(n.MSR_IA32_UCODE_REV) == (OK, 0x01000065)
