"""Typed exits: `exit.kind` and `as_msr()` / `as_io()` name what kvm_run's exit_reason and
union say, so callers match variants (kvm-ioctls' VcpuExit) instead of integers."""

import pytest

from workbench.kvm import uapi
from workbench.kvm.exits import ExitKind, IoExit, MsrExit, VcpuExit
from workbench.kvm.guest import assemble

PROGRAM = """
mov ecx, 0x35
rdmsr
mov ecx, 0x4b564d99
wrmsr
mov al, 0x41
out 0x80, al
in al, 0x60
hlt
"""


def test_a_run_reports_each_variant_with_only_its_member(sim):
    vm = sim.create_vm()
    vm.enable_cap(uapi.KVM_CAP_X86_USER_SPACE_MSR, uapi.KVM_MSR_EXIT_REASON_UNKNOWN)
    vcpu = vm.create_vcpu(assemble(PROGRAM))
    seen = []
    for _ in range(5):
        exit_ = vcpu.run()
        seen.append(exit_.kind)
        msr, io = exit_.as_msr(), exit_.as_io()
        if exit_.kind.is_msr:
            assert io is None and msr.index in (0x35, 0x4B564D99)
            assert msr is exit_.msr, "as_msr hands out the record user space completes"
            msr.error = 1
        elif exit_.kind in (ExitKind.IO_IN, ExitKind.IO_OUT):
            assert msr is None and io.port in (0x80, 0x60)
            io.data = 0x5A
        else:
            assert msr is None and io is None
    assert seen == [ExitKind.RDMSR, ExitKind.WRMSR, ExitKind.IO_OUT, ExitKind.IO_IN,
                    ExitKind.HLT]
    assert [k.awaits_answer for k in seen] == [True, True, False, True, False]
    regs = vcpu.get_regs()
    assert (regs.r14, regs.rax & 0xFF) == (2, 0x5A), "both #GPs and the IN's data landed"


@pytest.mark.parametrize(("exit_", "kind"), [
    (VcpuExit(uapi.KVM_EXIT_X86_RDMSR, MsrExit(0x10)), ExitKind.RDMSR),
    (VcpuExit(uapi.KVM_EXIT_X86_WRMSR, MsrExit(0x10, 5)), ExitKind.WRMSR),
    (VcpuExit(uapi.KVM_EXIT_IO, io=IoExit(uapi.KVM_EXIT_IO_OUT, 1, 0x80, 1, 7)), ExitKind.IO_OUT),
    (VcpuExit(uapi.KVM_EXIT_IO), ExitKind.IO_IN),
    (VcpuExit(uapi.KVM_EXIT_SHUTDOWN), ExitKind.SHUTDOWN),
    (VcpuExit(uapi.KVM_EXIT_INTR), ExitKind.INTR),
    (VcpuExit(uapi.KVM_EXIT_INTERNAL_ERROR), ExitKind.INTERNAL_ERROR),
    (VcpuExit(uapi.KVM_EXIT_MMIO), ExitKind.OTHER),
])
def test_kinds_follow_exit_reason_and_io_direction(exit_, kind):
    assert exit_.kind is kind


def test_variant_constructors_build_what_the_kernel_reports():
    assert VcpuExit.msr_access(True, 0x10, 9, uapi.KVM_MSR_EXIT_REASON_FILTER, 0x1000) == \
        VcpuExit(uapi.KVM_EXIT_X86_WRMSR, MsrExit(0x10, 9, uapi.KVM_MSR_EXIT_REASON_FILTER),
                 rip=0x1000)
    assert VcpuExit.pio(False, 0x60, 2, 0, 0x1004) == VcpuExit(
        uapi.KVM_EXIT_IO, io=IoExit(uapi.KVM_EXIT_IO_IN, 2, 0x60, 1, 0), rip=0x1004)
    assert VcpuExit.of(ExitKind.HLT, 3) == VcpuExit(uapi.KVM_EXIT_HLT, rip=3)
    assert VcpuExit.debug(8, 0x10).as_msr().index == 0x10
    assert VcpuExit.debug(8).as_msr() is None, "an address breakpoint names no MSR"
    with pytest.raises(ValueError, match="RDMSR exits carry data"):
        VcpuExit.of(ExitKind.RDMSR)


def test_equality_ignores_a_union_member_only_read_as_blank():
    touched = VcpuExit(uapi.KVM_EXIT_HLT, rip=4)
    assert touched.msr.index == 0 and touched.io.port == 0
    assert touched == VcpuExit(uapi.KVM_EXIT_HLT, rip=4)
    assert VcpuExit(uapi.KVM_EXIT_X86_RDMSR, MsrExit(1)) != VcpuExit(uapi.KVM_EXIT_X86_RDMSR)
