"""Handles after close(): every engine refuses them with the same ClosedError; the host
stops a running vCPU before closing it and releases dropped handles' descriptors."""

import contextlib
import gc
import os
import threading

import pytest

import workbench.kvm
from workbench.kvm import uapi
from workbench.kvm.handles import ClosedError

ENGINES = ["sim", pytest.param("host", marks=pytest.mark.host)]


@pytest.mark.parametrize("engine", ENGINES)
def test_closed_vm_and_its_vcpus_refuse_every_call(engine):
    with workbench.kvm.open(engine) as kvm:
        vm = kvm.create_vm()
        vcpu = vm.create_vcpu("hlt")
        vm.close()
        vm.close()
        calls = [vcpu.run, vcpu.get_regs, lambda: vcpu.set_regs({"rax": 1}),
                 lambda: vm.enable_cap(uapi.KVM_CAP_X86_USER_SPACE_MSR, 1),
                 lambda: vm.set_msr_filter(None), lambda: vm.create_vcpu("hlt")]
        for call in calls:
            with pytest.raises(ClosedError, match="closed"):
                call()


@pytest.mark.parametrize("engine", ENGINES)
def test_closed_kvm_refuses_new_vms_and_its_vms_live_on(engine):
    kvm = workbench.kvm.open(engine)
    vm = kvm.create_vm()
    kvm.close()
    with pytest.raises(ClosedError, match="/dev/kvm handle is closed"):
        kvm.create_vm()
    with pytest.raises(ClosedError):
        kvm.check_extension(uapi.KVM_CAP_X86_MSR_FILTER)
    with vm:
        assert vm.create_vcpu("hlt").run().exit_reason == uapi.KVM_EXIT_HLT


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("program", [None, 42, ["hlt"]])
def test_create_vcpu_names_the_program_types_it_takes(engine, program):
    with workbench.kvm.open(engine) as kvm, kvm.create_vm() as vm:
        with pytest.raises(TypeError, match="program must be a Program"):
            vm.create_vcpu(program)
        assert vm.create_vcpu("hlt").run().exit_reason == uapi.KVM_EXIT_HLT


@pytest.mark.host
def test_host_close_stops_and_waits_for_a_vcpu_running_in_another_thread():
    with workbench.kvm.open("host") as kvm:
        vm = kvm.create_vm()
        vcpu = vm.create_vcpu("spin: jmp spin")
        exits = []
        worker = threading.Thread(target=lambda: exits.append(vcpu.run()), daemon=True)
        worker.start()
        while not vcpu.in_kvm_run and worker.is_alive():
            threading.Event().wait(0.01)
        vm.close()
        worker.join(timeout=10)
        assert not worker.is_alive()
        assert [e.exit_reason for e in exits] == [uapi.KVM_EXIT_INTR]
        with pytest.raises(ClosedError):
            vcpu.run()


def _kvm_fds() -> set[int]:
    """The process's descriptors on KVM objects (VMs and vCPUs), by number."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):   # the listing's own descriptor, closed by now
            if os.readlink(f"/proc/self/fd/{name}").startswith("anon_inode:kvm-"):
                found.add(int(name))
    return found


@pytest.mark.host
def test_host_vms_dropped_without_close_release_their_descriptors():
    """Counts only the descriptors this test's VMs were given: the worker's other ones come
    and go with whatever earlier tests left behind (threads, pipes, collected handles)."""
    with workbench.kvm.open("host") as kvm:
        gc.collect()
        baseline = _kvm_fds()
        vcpus = [kvm.create_vm().create_vcpu("hlt") for _ in range(20)]
        assert all(vcpu.run().exit_reason == uapi.KVM_EXIT_HLT for vcpu in vcpus)
        ours = _kvm_fds() - baseline
        assert len(ours) >= 2 * len(vcpus)     # a VM and its vCPU each, at least
        del vcpus
        gc.collect()
        assert ours & _kvm_fds() == set()
