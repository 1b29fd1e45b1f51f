"""Sim checkpoints with an exit pending: the checkpoint keeps the exit by name, and each
restore resumes with the answer user space gives after it."""

from workbench.kvm import uapi
from workbench.kvm.guest import assemble
from workbench.kvm.sim import MsrAccess


def test_a_pending_msr_exit_survives_restore_and_takes_each_answer(sim):
    vm = sim.create_vm()
    vm.enable_cap(uapi.KVM_CAP_X86_USER_SPACE_MSR, uapi.KVM_MSR_EXIT_REASON_UNKNOWN)
    vcpu = vm.create_vcpu(assemble("mov ecx, 0x35\nrdmsr\nhlt"))
    exit_ = vcpu.run()
    state = vm.save_state()
    pending = state.vcpus[0].pending
    assert (pending.exit_reason, pending.rip) == (uapi.KVM_EXIT_X86_RDMSR, exit_.rip)
    assert (pending.msr.index, pending.msr.reason) == (0x35, uapi.KVM_MSR_EXIT_REASON_UNKNOWN)
    exit_.msr.data = 0x1111
    assert pending.msr.data == 0, "answering the live exit leaves the checkpoint alone"
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_HLT
    assert vcpu.get_regs().rax == 0x1111
    for answer in (0x2222, 0x3333):
        vm.restore_state(state)
        vcpu.pending.msr.data = answer
        assert vcpu.run().exit_reason == uapi.KVM_EXIT_HLT
        assert vcpu.get_regs().rax == answer


def test_a_pending_in_exit_survives_restore(sim):
    vm = sim.create_vm()
    vcpu = vm.create_vcpu(assemble("in al, 0x60\nhlt"))
    exit_ = vcpu.run()
    state = vm.save_state()
    assert (state.vcpus[0].pending.io.port, state.vcpus[0].pending.io.direction) == (
        0x60, uapi.KVM_EXIT_IO_IN)
    vm.restore_state(state)
    assert vcpu.pending == exit_ and vcpu.pending is not exit_
    vcpu.pending.io.data = 0x5A
    vcpu.run()
    assert vcpu.get_regs().rax & 0xFF == 0x5A


def test_observer_sees_each_finished_access_by_name(sim):
    vm = sim.create_vm()
    seen: list[MsrAccess] = []
    vm.observer = seen.append
    vcpu = vm.create_vcpu(assemble("mov ecx, 0x10\nrdmsr\nmov ecx, 0x35\nrdmsr\nhlt"))
    vcpu.run()
    ok, gp = seen
    assert (ok.index, ok.allowed, ok.result, ok.reason, ok.exited, ok.gp) == (
        0x10, True, 0, 0, False, False)
    assert (gp.index, gp.reason, gp.exited, gp.gp, gp.passthrough) == (
        0x35, uapi.KVM_MSR_EXIT_REASON_UNKNOWN, False, True, False)
