"""vcpu.msr_bitmap(): the guard keeps denied MSRs intercepted, per direction (spec §7)."""

import numpy as np
import pytest

from workbench.kvm import MsrFilter, MsrFilterRange, uapi
from workbench.kvm.guest import assemble
from workbench.kvm.intercepts import intercept_bit, is_intercepted

R, W = uapi.KVM_MSR_FILTER_READ, uapi.KVM_MSR_FILTER_WRITE
MSR_FS_BASE, MSR_GS_BASE, MSR_IA32_TSC, MSR_SPEC_CTRL = 0xC0000100, 0xC0000101, 0x10, 0x48
SIZES = {"intel": 4096, "amd": 8192}


def vcpu_of(sim, vendor, text="hlt", profile=None):
    vm = sim.create_vm(vendor=vendor, profile=profile)
    return vm, vm.create_vcpu(assemble(text))


@pytest.mark.parametrize("vendor", ["intel", "amd"])
def test_layout_size_and_defaults(sim, vendor):
    _, vcpu = vcpu_of(sim, vendor)
    bitmap = vcpu.msr_bitmap()
    assert bitmap.dtype == np.uint8 and bitmap.shape == (SIZES[vendor],)
    assert not is_intercepted(bitmap, vendor, MSR_FS_BASE, False)
    assert not is_intercepted(bitmap, vendor, MSR_FS_BASE, True)
    assert is_intercepted(bitmap, vendor, 0x35, False)
    with pytest.raises(ValueError):
        bitmap[0] = 0                                   # read-only view


@pytest.mark.parametrize("vendor", ["intel", "amd"])
@pytest.mark.parametrize(("msr", "flags"), [(MSR_FS_BASE, W), (MSR_FS_BASE, R),
                                            (MSR_GS_BASE, R | W)])
def test_denied_passthrough_msr_flips_exactly_its_own_bits(sim, vendor, msr, flags):
    vm, vcpu = vcpu_of(sim, vendor)
    before = vcpu.msr_bitmap().copy()
    vm.set_msr_filter(MsrFilter(0, [MsrFilterRange(flags, msr, 1, b"\x00")]))
    after = vcpu.msr_bitmap().copy()
    expected = np.zeros_like(before)
    for write, flag in ((False, R), (True, W)):
        if flags & flag:
            byte, bit = intercept_bit(vendor, msr, write)
            expected[byte] |= 1 << bit
    assert np.array_equal(before ^ after, expected)
    vm.set_msr_filter(None)
    assert np.array_equal(vcpu.msr_bitmap(), before)


@pytest.mark.parametrize("vendor", ["intel", "amd"])
def test_filter_on_an_intercepted_msr_changes_nothing(sim, vendor):
    vm, vcpu = vcpu_of(sim, vendor)
    before = vcpu.msr_bitmap().copy()
    vm.set_msr_filter(MsrFilter(0, [MsrFilterRange(R | W, 0x35, 1, b"\x00"),
                                    MsrFilterRange(R | W, 0x800, 0x100, bytes(32))]))
    assert np.array_equal(vcpu.msr_bitmap(), before)


def test_tsc_read_passes_through_on_vmx_until_denied(sim):
    vm, vcpu = vcpu_of(sim, "intel")
    assert not is_intercepted(vcpu.msr_bitmap(), "intel", MSR_IA32_TSC, False)
    assert is_intercepted(vcpu.msr_bitmap(), "intel", MSR_IA32_TSC, True)
    vm.set_msr_filter(MsrFilter(1, [MsrFilterRange(R | W, 0xC0000000, 0x200, b"\xff" * 64)]))
    assert is_intercepted(vcpu.msr_bitmap(), "intel", MSR_IA32_TSC, False)   # default deny


@pytest.mark.parametrize("vendor", ["intel", "amd"])
def test_spec_ctrl_passes_through_after_a_nonzero_guest_write(sim, vendor):
    text = f"mov ecx, {MSR_SPEC_CTRL:#x}\nmov eax, 1\nxor edx, edx\nwrmsr\nhlt"
    vm, vcpu = vcpu_of(sim, vendor, text)
    assert is_intercepted(vcpu.msr_bitmap(), vendor, MSR_SPEC_CTRL, True)
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_HLT
    assert vcpu.get_regs().r14 == 0
    bitmap = vcpu.msr_bitmap()
    assert not is_intercepted(bitmap, vendor, MSR_SPEC_CTRL, False)
    assert not is_intercepted(bitmap, vendor, MSR_SPEC_CTRL, True)
    vm.set_msr_filter(MsrFilter(0, [MsrFilterRange(W, MSR_SPEC_CTRL, 1, b"\x00")]))
    bitmap = vcpu.msr_bitmap()
    assert is_intercepted(bitmap, vendor, MSR_SPEC_CTRL, True)
    assert not is_intercepted(bitmap, vendor, MSR_SPEC_CTRL, False)


@pytest.mark.parametrize(("profile", "passes"), [("linux-6.18", True), ("linux-5.10", False)])
def test_svm_sysenter_esp_per_profile(sim, profile, passes):
    """6.18 passes SYSENTER_ESP/EIP through unless the guest CPUID is Intel-compatible."""
    _, vcpu = vcpu_of(sim, "amd", profile=profile)
    assert is_intercepted(vcpu.msr_bitmap(), "amd", 0x175, False) is not passes
