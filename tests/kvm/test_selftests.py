"""The kernel selftest userspace_msr_exit_test.c, ported as behaviour (spec §9)."""

import errno

import pytest

from workbench.kvm import MsrFilter, MsrFilterRange, uapi
from workbench.kvm.guest import assemble

R, W = uapi.KVM_MSR_FILTER_READ, uapi.KVM_MSR_FILTER_WRITE
ALLOW, DENY = uapi.KVM_MSR_FILTER_DEFAULT_ALLOW, uapi.KVM_MSR_FILTER_DEFAULT_DENY
FILTER = uapi.KVM_MSR_EXIT_REASON_FILTER
RDMSR, WRMSR, HLT = uapi.KVM_EXIT_X86_RDMSR, uapi.KVM_EXIT_X86_WRMSR, uapi.KVM_EXIT_HLT
CAP = uapi.KVM_CAP_X86_USER_SPACE_MSR
MSR_IA32_XSS, MSR_IA32_FLUSH_CMD = 0xDA0, 0x10B
MSR_NON_EXISTENT = 0x474F4F00
MSR_FS_BASE, MSR_GS_BASE = 0xC0000100, 0xC0000101

PROFILES = ["linux-6.18", "linux-5.10"]


def rd(index):
    """rdmsr of `index`, then `out` of EAX so user space sees what the guest got."""
    return f"mov ecx, {index:#x}\nrdmsr\nout 0xe0, eax\n"


def wr(index, value):
    low, high = value & 0xFFFFFFFF, value >> 32
    return f"mov ecx, {index:#x}\nmov eax, {low:#x}\nmov edx, {high:#x}\nwrmsr\n"


def drive(vcpu, answers):
    """Run to HLT, answering MSR exits from `answers` {(exit_reason, index): (data, error)};
    returns [(exit kind, index/port, data)] and the final registers."""
    trace = []
    while True:
        exit_ = vcpu.run()
        if exit_.exit_reason == HLT:
            return trace, vcpu.get_regs()
        if exit_.exit_reason in (RDMSR, WRMSR):
            trace.append((exit_.exit_reason, exit_.msr.index, exit_.msr.data, exit_.msr.reason))
            data, error = answers[(exit_.exit_reason, exit_.msr.index)]
            exit_.msr.data, exit_.msr.error = data, error
        else:
            trace.append((exit_.exit_reason, exit_.io.port, exit_.io.data, 0))


@pytest.mark.parametrize("profile", PROFILES)
def test_filter_allow(sim, profile):
    """Default allow; XSS, FLUSH_CMD, a non-existent MSR and FS/GS_BASE writes denied:
    every denied access exits with FILTER and user space's answer is what the guest sees."""
    vm = sim.create_vm(profile=profile)
    vm.enable_cap(CAP, FILTER)
    deny = b"\x00"
    vm.set_msr_filter(MsrFilter(ALLOW, [
        MsrFilterRange(R | W, MSR_IA32_XSS, 1, deny),
        MsrFilterRange(R | W, MSR_IA32_FLUSH_CMD, 1, deny),
        MsrFilterRange(R | W, MSR_NON_EXISTENT, 1, deny),
        MsrFilterRange(W, MSR_FS_BASE, 2, deny),
    ]))
    text = (rd(MSR_IA32_XSS) + wr(MSR_IA32_XSS, 0) + wr(MSR_IA32_FLUSH_CMD, 1)
            + rd(MSR_NON_EXISTENT) + wr(MSR_FS_BASE, 0x1000) + rd(MSR_FS_BASE) + "hlt")
    vcpu = vm.create_vcpu(assemble(text))
    trace, regs = drive(vcpu, {
        (RDMSR, MSR_IA32_XSS): (0xDEADBEEF, 0),
        (WRMSR, MSR_IA32_XSS): (0, 0),
        (WRMSR, MSR_IA32_FLUSH_CMD): (0, 1),           # user space refuses: #GP
        (RDMSR, MSR_NON_EXISTENT): (0x1234, 0),
        (WRMSR, MSR_FS_BASE): (0, 0),
    })
    assert trace == [
        (RDMSR, MSR_IA32_XSS, 0, FILTER), (uapi.KVM_EXIT_IO, 0xE0, 0xDEADBEEF, 0),
        (WRMSR, MSR_IA32_XSS, 0, FILTER),
        (WRMSR, MSR_IA32_FLUSH_CMD, 1, FILTER),
        (RDMSR, MSR_NON_EXISTENT, 0, FILTER), (uapi.KVM_EXIT_IO, 0xE0, 0x1234, 0),
        (WRMSR, MSR_FS_BASE, 0x1000, FILTER),
        (uapi.KVM_EXIT_IO, 0xE0, 0, 0),               # FS_BASE read allowed: in-kernel value
    ]
    assert regs.r14 == 1


@pytest.mark.parametrize("profile", PROFILES)
def test_filter_deny(sim, profile):
    """Default deny with allow ranges at 0x0, 0xC0000000 and 0xC0010000: accesses in the
    ranges stay in the kernel, everything else exits with FILTER."""
    vm = sim.create_vm(profile=profile, vendor="amd")
    vm.enable_cap(CAP, FILTER)
    everything = b"\xff" * 0x400
    vm.set_msr_filter(MsrFilter(DENY, [
        MsrFilterRange(R | W, 0x0, 0x2000, everything),
        MsrFilterRange(R | W, 0xC0000000, 0x2000, everything),
        MsrFilterRange(R, 0xC0010000, 0x2000, everything),
    ]))
    text = (rd(0x10) + rd(MSR_FS_BASE) + rd(0xC0010015) + wr(0xC0010015, 0)
            + rd(0x40000000) + rd(0xC0012000) + "hlt")
    vcpu = vm.create_vcpu(assemble(text))
    trace, regs = drive(vcpu, {
        (WRMSR, 0xC0010015): (0, 0),
        (RDMSR, 0x40000000): (7, 0),
        (RDMSR, 0xC0012000): (8, 0),
    })
    exits = [t for t in trace if t[0] in (RDMSR, WRMSR)]
    assert exits == [(WRMSR, 0xC0010015, 0, FILTER), (RDMSR, 0x40000000, 0, FILTER),
                     (RDMSR, 0xC0012000, 0, FILTER)]
    assert [t[2] for t in trace if t[0] == uapi.KVM_EXIT_IO][-2:] == [7, 8]
    assert regs.r14 == 0


@pytest.mark.parametrize("vendor", ["intel", "amd"])
def test_permission_bitmap(sim, vendor):
    """A passthrough MSR (FS_BASE, GS_BASE) denied by the filter exits instead of passing
    through; changing the filter while the vCPU lives changes the next access."""
    vm = sim.create_vm(vendor=vendor)
    vm.enable_cap(CAP, FILTER)
    vm.set_msr_filter(MsrFilter(ALLOW, [MsrFilterRange(R, MSR_FS_BASE, 1, b"\x00")]))
    vcpu = vm.create_vcpu(assemble(rd(MSR_FS_BASE) + rd(MSR_GS_BASE) + rd(MSR_FS_BASE)
                                   + rd(MSR_GS_BASE) + "hlt"))
    exit_ = vcpu.run()
    assert (exit_.exit_reason, exit_.msr.index, exit_.msr.reason) == (RDMSR, MSR_FS_BASE, FILTER)
    exit_.msr.data = 0xAAAA
    assert vcpu.run().io.data == 0xAAAA
    assert vcpu.run().io.data == 0                    # GS_BASE passes through
    vm.set_msr_filter(MsrFilter(ALLOW, [MsrFilterRange(R, MSR_GS_BASE, 1, b"\x00")]))
    assert vcpu.run().io.data == 0                    # FS_BASE now allowed
    exit_ = vcpu.run()
    assert (exit_.msr.index, exit_.msr.reason) == (MSR_GS_BASE, FILTER)


@pytest.mark.parametrize("profile", PROFILES)
def test_flags_checks(sim, profile):
    """Every invalid filter flag, range flag and cap mask value is refused with EINVAL."""
    vm = sim.create_vm(profile=profile)
    bad_ranges = [MsrFilterRange(0, 0, 1, b"\x00"), MsrFilterRange(4, 0, 1, b"\x00"),
                  MsrFilterRange(R | W | 4, 0, 1, b"\x00")]
    for rng in bad_ranges:
        with pytest.raises(OSError) as info:
            vm.set_msr_filter(MsrFilter(ALLOW, [rng]))
        assert info.value.errno == errno.EINVAL
    strict = profile == "linux-6.18"
    for flags in (2, 1 << 31):
        try:
            vm.set_msr_filter(MsrFilter(flags, [MsrFilterRange(R, 0, 1, b"\x01")]))
            refused = False
        except OSError as exc:
            refused = exc.errno == errno.EINVAL
        assert refused is strict
    for mask in (8, 1 << 31):
        try:
            vm.enable_cap(CAP, mask)
            refused = False
        except OSError as exc:
            refused = exc.errno == errno.EINVAL
        assert refused is strict
