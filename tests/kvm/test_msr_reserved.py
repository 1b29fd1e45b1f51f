"""Reserved bits, EFER and APIC base rules, x2APIC registers, and MSR state snapshots."""

import pytest
from msr_files import INVALID, OK, Clock, make, without

from workbench.kvm.cpuid import default_cpuid
from workbench.kvm.msrs import msr_name
from workbench.kvm.msrs import numbers as n
from workbench.kvm.profiles import LINUX_5_10, LINUX_6_18

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
