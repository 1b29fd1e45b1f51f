"""A guest RDMSR/WRMSR, step by step (spec §2, §5): reasons, #GP, completion, cap mask."""

import errno
import itertools

import pytest

from workbench.kvm import MsrFilter, MsrFilterRange, uapi
from workbench.kvm.guest import GUEST_CODE_BASE, assemble

INVAL = uapi.KVM_MSR_EXIT_REASON_INVAL
UNKNOWN = uapi.KVM_MSR_EXIT_REASON_UNKNOWN
FILTER = uapi.KVM_MSR_EXIT_REASON_FILTER
RDMSR, WRMSR = uapi.KVM_EXIT_X86_RDMSR, uapi.KVM_EXIT_X86_WRMSR
R, W = uapi.KVM_MSR_FILTER_READ, uapi.KVM_MSR_FILTER_WRITE
CAP = uapi.KVM_CAP_X86_USER_SPACE_MSR


def vcpu_for(sim, text, mask=None, msr_filter=None, **vm_args):
    vm = sim.create_vm(**vm_args)
    if mask is not None:
        vm.enable_cap(CAP, mask)
    if msr_filter is not None:
        vm.set_msr_filter(msr_filter)
    return vm, vm.create_vcpu(assemble(text))


def deny_tsc_reads():
    return MsrFilter(0, [MsrFilterRange(R, 0x10, 1, b"\x00")])


def test_unknown_msr_exits_with_the_kernel_run_fields(sim):
    _, vcpu = vcpu_for(sim, "mov ecx, 0x35\nrdmsr\nhlt", mask=UNKNOWN)
    exit_ = vcpu.run()
    assert exit_.exit_reason == RDMSR
    assert (exit_.msr.index, exit_.msr.data, exit_.msr.reason, exit_.msr.error) == (
        0x35, 0, UNKNOWN, 0)
    assert vcpu.get_regs().rip == GUEST_CODE_BASE + 5       # still at the rdmsr


def test_rdmsr_answer_lands_in_edx_eax_with_upper_halves_zeroed(sim):
    text = "mov rax, -1\nmov rdx, -1\nmov ecx, 0x35\nrdmsr\nhlt"
    _, vcpu = vcpu_for(sim, text, mask=UNKNOWN)
    exit_ = vcpu.run()
    exit_.msr.data = 0x1122334455667788
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_HLT
    regs = vcpu.get_regs()
    assert (regs.rax, regs.rdx, regs.r14) == (0x55667788, 0x11223344, 0)


def test_answer_before_reentry_has_no_effect(sim):
    _, vcpu = vcpu_for(sim, "mov ecx, 0x35\nrdmsr\nhlt", mask=UNKNOWN)
    exit_ = vcpu.run()
    exit_.msr.data = 7
    assert vcpu.get_regs().rax == 0


def test_error_answer_injects_gp_and_leaves_rax_rdx(sim):
    text = "mov eax, 0x1234\nmov edx, 0x5678\nmov ecx, 0x35\nrdmsr\nhlt"
    _, vcpu = vcpu_for(sim, text, mask=UNKNOWN)
    exit_ = vcpu.run()
    exit_.msr.error = 1
    exit_.msr.data = 99
    vcpu.run()
    regs = vcpu.get_regs()
    assert (regs.r14, regs.r15, regs.rax, regs.rdx) == (1, 13, 0x1234, 0x5678)


def test_wrmsr_exit_carries_edx_eax(sim):
    f = MsrFilter(0, [MsrFilterRange(W, 0xC0000100, 1, b"\x00")])
    text = "mov ecx, 0xc0000100\nmov eax, 0x1000\nmov edx, 0x7f\nwrmsr\nhlt"
    _, vcpu = vcpu_for(sim, text, mask=FILTER, msr_filter=f)
    exit_ = vcpu.run()
    assert exit_.exit_reason == WRMSR
    assert (exit_.msr.index, exit_.msr.data, exit_.msr.reason) == (0xC0000100, 0x7F00001000, FILTER)
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_HLT
    assert vcpu.get_regs().r14 == 0


def test_without_the_reason_in_the_mask_the_guest_gets_gp(sim):
    _, vcpu = vcpu_for(sim, "mov ecx, 0x10\nrdmsr\nhlt", mask=UNKNOWN | INVAL,
                       msr_filter=deny_tsc_reads())
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_HLT
    assert (vcpu.get_regs().r14, vcpu.get_regs().r15) == (1, 13)


def test_filter_denied_tsc_exits_with_filter(sim):
    _, vcpu = vcpu_for(sim, "mov ecx, 0x10\nrdmsr\nhlt", mask=FILTER, msr_filter=deny_tsc_reads())
    exit_ = vcpu.run()
    assert (exit_.exit_reason, exit_.msr.index, exit_.msr.reason) == (RDMSR, 0x10, FILTER)


PROBES = {
    INVAL: "mov ecx, 0x802\nrdmsr",                    # x2APIC MSR while in xAPIC mode
    UNKNOWN: "mov ecx, 0x35\nrdmsr",                   # not emulated by KVM
    FILTER: "mov ecx, 0x10\nrdmsr",                    # TSC, denied below
}


@pytest.mark.parametrize(
    "mask", [sum(c) for n in range(4) for c in itertools.combinations((INVAL, UNKNOWN, FILTER), n)]
)
def test_user_exit_per_reason(sim, mask):
    """Selftest 'user exit per reason': only the chosen reasons exit, the rest #GP."""
    text = "\n".join(PROBES.values()) + "\nhlt"
    _, vcpu = vcpu_for(sim, text, mask=mask, msr_filter=deny_tsc_reads())
    exited = []
    while (exit_ := vcpu.run()).exit_reason != uapi.KVM_EXIT_HLT:
        exited.append(exit_.msr.reason)
        exit_.msr.error = 0
    assert exited == [r for r in PROBES if r & mask]
    assert vcpu.get_regs().r14 == sum(1 for r in PROBES if not r & mask)


@pytest.mark.parametrize(("profile", "mask", "ok"), [
    ("linux-6.18", 8, False), ("linux-6.18", 0xFF, False), ("linux-6.18", 0, True),
    ("linux-6.18", 7, True), ("linux-5.10", 8, True), ("linux-5.10", 0xFF, True),
])
def test_cap_mask_validation(sim, profile, mask, ok):
    vm = sim.create_vm(profile=profile)
    vm.enable_cap(CAP, UNKNOWN)
    if ok:
        vm.enable_cap(CAP, mask)
        assert vm.user_space_msr_mask == mask
    else:
        with pytest.raises(OSError) as info:
            vm.enable_cap(CAP, mask)
        assert info.value.errno == errno.EINVAL
        assert vm.user_space_msr_mask == UNKNOWN


def test_mask_in_force_at_the_access_decides(sim):
    vm, vcpu = vcpu_for(sim, "mov ecx, 0x35\nrdmsr\nrdmsr\nhlt", mask=0)
    assert vcpu.step() is None and vcpu.step() is None        # mov, rdmsr -> #GP
    vm.enable_cap(CAP, UNKNOWN)
    assert vcpu.run().exit_reason == RDMSR
    assert vcpu.get_regs().r14 == 1


def test_check_extension(sim):
    assert sim.check_extension(uapi.KVM_CAP_X86_USER_SPACE_MSR) == 1
    assert sim.check_extension(uapi.KVM_CAP_X86_MSR_FILTER) == 1
    assert sim.check_extension(12345) == 0


def test_enable_unknown_cap_is_einval(sim):
    with pytest.raises(OSError) as info:
        sim.create_vm().enable_cap(12345, 1)
    assert info.value.errno == errno.EINVAL


def test_filter_change_applies_to_the_next_access(sim):
    """Selftest 'permission bitmap': a live filter change changes the next outcome."""
    vm, vcpu = vcpu_for(sim, "mov ecx, 0xc0000100\nrdmsr\nrdmsr\nhlt", mask=FILTER)
    assert vcpu.step() is None and vcpu.step() is None          # allowed: in-kernel read
    vm.set_msr_filter(MsrFilter(0, [MsrFilterRange(R, 0xC0000100, 1, b"\x00")]))
    exit_ = vcpu.run()
    assert (exit_.exit_reason, exit_.msr.reason) == (RDMSR, FILTER)


def test_ignore_msrs_makes_unknown_reads_return_zero(sim):
    _, vcpu = vcpu_for(sim, "mov eax, 5\nmov ecx, 0x35\nrdmsr\nwrmsr\nhlt", mask=UNKNOWN,
                       ignore_msrs=True)
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_HLT
    assert (vcpu.get_regs().rax, vcpu.get_regs().r14) == (0, 0)


def test_ignore_msrs_does_not_bypass_the_filter(sim):
    f = MsrFilter(0, [MsrFilterRange(R, 0x35, 1, b"\x00")])
    _, vcpu = vcpu_for(sim, "mov ecx, 0x35\nrdmsr\nhlt", mask=FILTER, msr_filter=f,
                       ignore_msrs=True)
    assert vcpu.run().msr.reason == FILTER
