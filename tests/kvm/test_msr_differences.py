"""MSR rows that differ by vendor module, kernel or guest CPUID, and the KVM PV MSRs."""

import pytest
from msr_files import INVALID, OK, UNSUPPORTED, make, with_bits, without

from workbench.kvm.cpuid import Cpuid, default_cpuid
from workbench.kvm.msrs import msr_name
from workbench.kvm.msrs import numbers as n
from workbench.kvm.profiles import LINUX_5_10, LINUX_6_1, LINUX_6_12, LINUX_6_18, PROFILES

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
    assert amd.get(n.MSR_IA32_DEBUGCTLMSR) == (OK, 0x3D)  # BTF dropped from 6.14
    assert amd.set(n.MSR_IA32_DEBUGCTLMSR, 0x40) == INVALID
    for profile in (LINUX_5_10, LINUX_6_1, LINUX_6_12):  # before "Suppress DEBUGCTL.BTF"
        old = make("amd", profile)
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


# --- catalogue facts no kernel-versions.md row covers, on every LTS profile --------------------
# The first LTS profile with the newer behaviour, from the commit's release:
# HWCR.TscFreqSel writable (6.7), LA57 canonical width by guest CPUID (6.13), AMD DEBUGCTL.BTF
# dropped (6.14).
LTS_ORDER = ["linux-5.10", "linux-5.10.y", "linux-5.15", "linux-6.1", "linux-6.6",
             "linux-6.12", "linux-6.18"]


def _since(first: str, name: str) -> bool:
    return LTS_ORDER.index(name) >= LTS_ORDER.index(first)


@pytest.mark.parametrize("name", LTS_ORDER)
def test_catalogue_release_thresholds_on_every_lts(name):
    profile = PROFILES[name]
    assert (make("intel", profile).set(n.MSR_K7_HWCR, 1 << 24) == OK) is _since("linux-6.12",
                                                                                 name)
    la57 = with_bits(default_cpuid(), 7, 0, "ecx", 16)
    assert (make(cpuid=la57, profile=profile).set(n.MSR_FS_BASE, 1 << 50) == OK) is _since(
        "linux-6.18", name)
    amd = make("amd", profile)
    amd.set(n.MSR_IA32_DEBUGCTLMSR, 0x3F)
    assert amd.get(n.MSR_IA32_DEBUGCTLMSR) == (OK, 0x3D if _since("linux-6.18", name) else 0x3F)
