"""The host engine against the real /dev/kvm: runtime, exits, errors, lifetime."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import workbench.kvm
from workbench.hostkvm import HostKvm, HostVcpu, running_profile
from workbench.hostkvm.module import MODULES, host_module
from workbench.kvm import MsrFilter, MsrFilterRange, SimOnlyError, uapi
from workbench.kvm.guest import GUEST_CODE_BASE, GUEST_STACK_TOP, assemble
from workbench.kvm.regs import REG_NAMES, Regs

pytestmark = pytest.mark.host

FS_BASE = 0xC0000100


@pytest.fixture(scope="module")
def kvm():
    with HostKvm() as kvm:
        yield kvm


@pytest.fixture
def vm(kvm):
    with kvm.create_vm() as vm:
        yield vm


def test_open_host_and_engines():
    with workbench.kvm.open("host") as kvm:
        assert isinstance(kvm, HostKvm) and kvm.engine == "host"
    assert workbench.kvm.available_engines() == ["sim", "host"]
    cpuid = workbench.kvm.host_cpuid()
    assert any(row[0] == 0 for row in cpuid) and all(len(row) == 6 for row in cpuid)


def test_check_extension(kvm):
    assert kvm.check_extension(uapi.KVM_CAP_X86_USER_SPACE_MSR) == 1
    assert kvm.check_extension(uapi.KVM_CAP_X86_MSR_FILTER) == 1
    assert kvm.check_extension(0x7FFF_FFFF) == 0


def test_start_state(vm):
    vcpu = vm.create_vcpu(assemble("hlt"))
    assert vcpu.get_regs() == Regs(rsp=GUEST_STACK_TOP, rip=GUEST_CODE_BASE, rflags=0x2)


def test_hlt_and_out(vm):
    vcpu = vm.create_vcpu(assemble("mov eax, 0x12345678\nout 0x80, al\nmov dx, 0x3f8\n"
                                   "out dx, eax\nhlt\nmov ebx, 1\nhlt"))
    first, second = vcpu.run(), vcpu.run()
    assert first.key() == (uapi.KVM_EXIT_IO, uapi.KVM_EXIT_IO_OUT, 0x80, 1, 0x78)
    assert second.key() == (uapi.KVM_EXIT_IO, uapi.KVM_EXIT_IO_OUT, 0x3F8, 4, 0x12345678)
    halt = vcpu.run()
    assert halt.exit_reason == uapi.KVM_EXIT_HLT and halt.rip == vcpu.get_regs().rip
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_HLT and vcpu.get_regs().rbx == 1


def test_in_takes_user_space_data_on_reentry(vm):
    vcpu = vm.create_vcpu(assemble("mov eax, 0xffffffff\nin al, 0x60\nin ax, 0x61\nhlt"))
    exit_ = vcpu.run()
    assert (exit_.io.direction, exit_.io.port, exit_.io.size) == (uapi.KVM_EXIT_IO_IN, 0x60, 1)
    exit_.io.data = 0x5A
    vcpu.run().io.data = 0x1234
    vcpu.run()
    assert vcpu.get_regs().rax == 0xFFFF1234


def test_gp_handler_preserves_every_other_register_and_rflags(vm):
    vcpu = vm.create_vcpu(assemble("rdmsr\nwrmsr\nhlt"))
    before = Regs(**{name: 0x0101_0101_0101_0101 * (i + 1) for i, name in enumerate(REG_NAMES)})
    before.rcx, before.rip, before.rsp, before.r14 = 0x35, GUEST_CODE_BASE, GUEST_STACK_TOP, 7
    before.rflags = 0x2 | 0x1 | 0x4 | 0x40 | 0x80 | 0x400 | 0x800  # CF PF ZF SF DF OF
    vcpu.set_regs(before)
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_HLT
    after = vcpu.get_regs()
    assert (after.r14, after.r15, after.rip) == (9, 13, GUEST_CODE_BASE + 5)
    expected = before.as_dict() | {"r14": 9, "r15": 13, "rip": GUEST_CODE_BASE + 5}
    assert after.as_dict() == expected


@pytest.mark.parametrize("code", [
    "ud2",                                              # no gate for #UD
    "mov rax, 0x8000000000000000\nmov rax, [rax]",      # #GP, but not from rdmsr/wrmsr
    "mov rax, [0x400000]",                              # beyond GUEST_MEM_SIZE: #PF
    "xor eax, eax\ndiv eax",                             # #DE
])
def test_other_exceptions_shut_down(vm, code):
    vcpu = vm.create_vcpu(assemble(code + "\nhlt"))
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_SHUTDOWN
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_SHUTDOWN
    assert vcpu.get_regs().r14 == 0


def test_memory_up_to_the_end_of_guest_ram_is_usable(vm):
    vcpu = vm.create_vcpu(assemble("mov rax, [0x3ffff8]\nmov [0x3ffff8], rax\nhlt"))
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_HLT


def test_msr_exit_completion(vm):
    vm.enable_cap(uapi.KVM_CAP_X86_USER_SPACE_MSR, uapi.KVM_MSR_EXIT_REASON_UNKNOWN)
    vcpu = vm.create_vcpu(assemble("mov ecx, 0x35\nrdmsr\nrdmsr\nmov eax, 7\nmov edx, 8\n"
                                   "wrmsr\nhlt"))
    exit_ = vcpu.run()
    assert exit_.key() == (uapi.KVM_EXIT_X86_RDMSR, 0x35, 0, uapi.KVM_MSR_EXIT_REASON_UNKNOWN)
    assert vcpu.get_regs().rip == exit_.rip == GUEST_CODE_BASE + 5  # not yet retired
    exit_.msr.data = 0x1111_2222_3333_4444
    exit_ = vcpu.run()
    regs = vcpu.get_regs()
    assert (regs.rax, regs.rdx, regs.rip) == (0x3333_4444, 0x1111_2222, GUEST_CODE_BASE + 7)
    exit_.msr.error = 1
    exit_ = vcpu.run()
    assert exit_.key() == (uapi.KVM_EXIT_X86_WRMSR, 0x35, 0x8_0000_0007,
                           uapi.KVM_MSR_EXIT_REASON_UNKNOWN)
    assert vcpu.get_regs().r14 == 1
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_HLT
    assert vcpu.get_regs().r14 == 1


def test_signal_interrupts_run(vm):
    vcpu = vm.create_vcpu(assemble("1: jmp 1b"))
    previous = signal.signal(signal.SIGALRM, lambda *_: None)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        exit_ = vcpu.run()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert exit_.exit_reason == uapi.KVM_EXIT_INTR


def test_pause_from_another_thread_stops_a_spinning_guest(vm):
    vcpu = vm.create_vcpu(assemble("1: jmp 1b"))
    exits = []
    worker = threading.Thread(target=lambda: exits.append(vcpu.run()))
    worker.start()
    time.sleep(0.05)
    vcpu.pause()
    worker.join(timeout=30)   # a hang guard: a busy machine may take seconds, never this
    assert not worker.is_alive()
    assert exits[0].exit_reason == uapi.KVM_EXIT_INTR
    vcpu.pause()  # between runs: the next run returns at once, without entering the guest
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_INTR
    assert vcpu.get_regs().rip == GUEST_CODE_BASE


def test_a_cancelled_pause_leaves_the_next_run_alone(vm):
    vcpu = vm.create_vcpu(assemble("hlt"))
    vcpu.pause()
    vcpu.cancel_pause()  # kvm_run.immediate_exit back to 0: the run enters the guest
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_HLT


def test_errors_come_back_as_the_kernels_errno(vm):
    with pytest.raises(OSError) as caught:
        vm.enable_cap(uapi.KVM_CAP_X86_USER_SPACE_MSR, 8)
    assert caught.value.errno == errno.EINVAL
    with pytest.raises(OSError) as caught:
        vm.set_msr_filter(MsrFilter(0, (MsrFilterRange(1, 0, 8, None),)))
    assert caught.value.errno == errno.EFAULT
    with pytest.raises(OSError) as caught:
        vm.set_msr_filter(MsrFilter(0, [MsrFilterRange(1, 0, 8, b"\xff")] * 17))
    assert caught.value.errno == errno.EINVAL
    vm.set_msr_filter(MsrFilter(0, (MsrFilterRange(1, 0, 12288, b"\xff"),)))
    vm.set_msr_filter(None)


def test_short_bitmap_is_zero_padded_so_the_rest_is_denied(vm):
    vm.enable_cap(uapi.KVM_CAP_X86_USER_SPACE_MSR, uapi.KVM_MSR_EXIT_REASON_FILTER)
    # one byte of bitmap for 64 MSRs: 0x1B (bit 27) is past it and must be denied
    vm.set_msr_filter(MsrFilter(0, (MsrFilterRange(1, 0, 64, b"\xff"),)))
    vcpu = vm.create_vcpu(assemble("mov ecx, 0x1b\nrdmsr\nhlt"))
    assert vcpu.run().key() == (uapi.KVM_EXIT_X86_RDMSR, 0x1B, 0,
                                uapi.KVM_MSR_EXIT_REASON_FILTER)


def test_get_and_set_msr_are_not_filtered(vm):
    vm.set_msr_filter(MsrFilter(uapi.KVM_MSR_FILTER_DEFAULT_DENY,
                                (MsrFilterRange(1, 0, 8, b"\xff"),)))
    vcpu = vm.create_vcpu(assemble("hlt"))
    vcpu.set_msr(FS_BASE, 0x1234_5000)
    assert vcpu.get_msr(FS_BASE) == 0x1234_5000
    with pytest.raises(OSError) as caught:
        vcpu.get_msr(0x35)
    assert caught.value.errno == errno.EINVAL


def test_irqchip_vm_runs_to_an_out(kvm):
    with kvm.create_vm(irqchip=True) as vm:
        vm.enable_cap(uapi.KVM_CAP_X86_USER_SPACE_MSR, 7)
        vcpu = vm.create_vcpu(assemble("mov ecx, 0x808\nrdmsr\nout 0x80, al"))
        assert vcpu.run().msr.reason == uapi.KVM_MSR_EXIT_REASON_INVAL
        assert vcpu.run().exit_reason == uapi.KVM_EXIT_IO


def test_vendor_and_profile_must_be_the_hosts(kvm):
    own = host_module()
    assert os.path.isdir(f"/sys/module/kvm_{own}") and own in MODULES.values()
    with kvm.create_vm(vendor=own, profile=running_profile()) as vm:
        assert vm.vendor == own
    for other in set(MODULES.values()) - {own}:
        with pytest.raises(ValueError, match=f"KVM module, kvm_{own} "):
            kvm.create_vm(vendor=other)
    with pytest.raises(ValueError, match="running kernel"):
        kvm.create_vm(profile="linux-5.10")
    assert running_profile() == "linux-{}.{}".format(*os.uname().release.split(".")[:2])


def test_given_cpuid_is_what_the_guest_sees(kvm):
    cpuid = [row for row in workbench.kvm.host_cpuid() if row[0] != 0x40000001]
    cpuid.append((0x40000001, 0, 0xABCD, 0, 0, 0))
    with kvm.create_vm(cpuid=cpuid) as vm:
        vcpu = vm.create_vcpu(assemble("mov eax, 0x40000001\nxor ecx, ecx\ncpuid\nhlt"))
        vcpu.run()
        assert vcpu.get_regs().rax == 0xABCD


def test_sim_only_inspection_is_refused_clearly(vm):
    vcpu = vm.create_vcpu(assemble("hlt"))
    for call in (vcpu.step, vcpu.msr_bitmap, lambda: vm.msr_allowed(0x10, False),
                 lambda: vm.filter_map(0, 16, True)):
        with pytest.raises(SimOnlyError, match="sim engine"):
            call()


# --- lifetime -----------------------------------------------------------------------------------
# Leak checks count the whole process's fds and mappings, so they run in a fresh process:
# in a shared test worker, threads and sim VMs other tests left behind come and go mid-count.
LEAK_CHECK = r"""
import errno, gc, json, os, sys
from workbench.hostkvm import HostKvm
from workbench.hostkvm import vcpu as vcpu_module, vm as vm_module
from workbench.kvm import uapi
from workbench.kvm.guest.assembler import Program

def resources():
    gc.collect()
    with open("/proc/self/maps") as maps:
        return len(os.listdir("/proc/self/fd")), sum(1 for _ in maps)

def fail(*_):
    raise OSError(errno.EIO, "injected")

program, kvm, out = Program(b"\xf4"), HostKvm(), {}

def thousand_vms():
    for _ in range(1000):
        with kvm.create_vm() as vm:
            vm.create_vcpu(program).run()
    return resources()

if sys.argv[1] == "thousand":
    # The first round lets caches and the allocator's arenas reach their steady state.
    out["rounds"] = [thousand_vms(), thousand_vms()]
else:
    kvm.create_vm().close()
    before = resources()
    with kvm.create_vm() as vm:
        real_long_mode = vcpu_module.long_mode_sregs.long_mode
        vcpu_module.long_mode_sregs.long_mode = fail
        for _ in range(20):
            try:
                vm.create_vcpu(program)
            except OSError as exc:
                assert "injected" in str(exc)
        vcpu_module.long_mode_sregs.long_mode = real_long_mode
        out["runs_after"] = vm.create_vcpu(program).run().exit_reason == uapi.KVM_EXIT_HLT
    real_ioctl = vm_module.ioctl

    def fail_memory(fd, request, *args):
        if request == uapi.KVM_SET_USER_MEMORY_REGION:
            raise OSError(errno.EIO, "injected")
        return real_ioctl(fd, request, *args)

    vm_module.ioctl = fail_memory
    for _ in range(20):
        try:
            kvm.create_vm()
        except OSError as exc:
            assert "injected" in str(exc)
    out["before"], out["after"] = before, resources()
print(json.dumps(out))
"""


def _leak_check(case: str) -> dict:
    done = subprocess.run([sys.executable, "-c", LEAK_CHECK, case], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_thousand_vms_leak_nothing():
    first, second = _leak_check("thousand")["rounds"]
    assert first == second


def test_failed_construction_releases_what_it_made():
    result = _leak_check("failures")
    assert result["runs_after"]
    assert result["after"] == result["before"]


def test_closed_handles_refuse_use(kvm):
    vm = kvm.create_vm()
    vcpu = vm.create_vcpu(assemble("hlt"))
    assert isinstance(vcpu, HostVcpu)
    vm.close()
    vm.close()
    with pytest.raises(ValueError, match="closed"):
        vcpu.run()
    with pytest.raises(ValueError, match="closed"):
        vm.enable_cap(uapi.KVM_CAP_X86_USER_SPACE_MSR, 1)
