"""One engine interface: both engines' handles are workbench.kvm's Kvm, Vm and Vcpu, their
capabilities say truthfully what they can do, and the session drives either the same way."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest

import workbench.kvm
from workbench.kvm import Kvm, MsrFilter, MsrFilterRange, SimOnlyError, Vcpu, Vm, uapi
from workbench.kvm.guest import GUEST_CODE_BASE
from workbench.kvm.profiles import PROFILES
from workbench.session import commands as c
from workbench.session.eventlog import EventKind
from workbench.session.scenario import loads
from workbench.session.session import Session, SessionError

ENGINES = ["sim", pytest.param("host", marks=pytest.mark.host)]
HLT = loads('version = 1\n[[vcpus]]\nsource = "hlt"\ncode = "f4"\n')
ALLOW_0X10 = MsrFilter(uapi.KVM_MSR_FILTER_DEFAULT_DENY, [
    MsrFilterRange(uapi.KVM_MSR_FILTER_READ, 0x10, 1, b"\x01")])
DENY_EVERYTHING = MsrFilter(uapi.KVM_MSR_FILTER_DEFAULT_DENY)  # EINVAL on every kernel

# capability of a vCPU or VM -> a call that needs it
NEEDS = {
    "can_step": lambda vm, vcpu: vcpu.step(),
    "can_breakpoint": lambda vm, vcpu: vcpu.set_msr_breakpoint(0x10),
    "has_msr_bitmap": lambda vm, vcpu: vcpu.msr_bitmap(),
    "can_inspect_filter": lambda vm, vcpu: vm.filter_map(0, 16, write=False),
    "can_checkpoint": lambda vm, vcpu: vm.restore_state(vm.save_state()),
}
VM_CAPABILITIES = {"can_inspect_filter", "can_checkpoint"}


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


def test_both_engines_handles_are_the_interface(engine):
    with workbench.kvm.open(engine) as kvm, kvm.create_vm() as vm:
        vcpu = vm.create_vcpu(b"\xf4")
        assert isinstance(kvm, Kvm) and isinstance(vm, Vm) and isinstance(vcpu, Vcpu)
        assert kvm.engine == engine


def test_the_host_engine_loads_nothing_of_the_simulator():
    code = ("import sys, workbench.hostkvm\nprint(' '.join(m for m in sys.modules if "
            "m.startswith(('unicorn', 'workbench.kvm.sim', 'workbench.kvm.guest.cpu'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.split() == []


@pytest.mark.parametrize("capability", NEEDS)
def test_a_capability_says_whether_its_calls_work(engine, capability):
    with workbench.kvm.open(engine) as kvm, kvm.create_vm() as vm:
        vcpu = vm.create_vcpu(b"\xf4")
        handle = vm if capability in VM_CAPABILITIES else vcpu
        if getattr(handle, capability):
            NEEDS[capability](vm, vcpu)
        else:
            with pytest.raises(SimOnlyError, match="sim engine"):
                NEEDS[capability](vm, vcpu)


def test_a_cancelled_pause_does_not_interrupt_the_next_run(engine):
    session = Session(HLT, engine=engine)
    session.pause(0)
    session.cancel_pause(0)          # the run it aimed at ended on its own
    session.apply(c.RunToExit())
    assert session.log.row(len(session.log) - 1)["kind"] == EventKind.HLT
    session.close()


def test_a_pause_between_runs_stops_the_next_run_without_entering_the_guest(engine):
    session = Session(HLT, engine=engine)
    session.pause(0)
    session.apply(c.RunToExit())
    assert session.log.row(len(session.log) - 1)["kind"] == EventKind.INTR
    assert session.regs(0).rip == GUEST_CODE_BASE
    session.close()


def test_profile_and_vendor_name_the_kernel_and_module_on_either_engine(engine):
    session = Session(HLT, engine=engine)
    assert isinstance(session.profile, str) and isinstance(session.vendor, str)
    if engine == "host":
        from workbench.hostkvm import host_module, running_profile

        assert (session.profile, session.vendor) == (running_profile(), host_module())
    else:
        assert session.profile in PROFILES and session.vendor == HLT.vendor
    session.close()


def test_the_filter_in_force_is_the_last_one_the_kernel_accepted(engine):
    session = Session(HLT, engine=engine)
    assert session.msr_filter() == MsrFilter()
    assert session.apply(c.SetFilter(filter=ALLOW_0X10.to_dict())).error is None
    refused = session.apply(c.SetFilter(filter=DENY_EVERYTHING.to_dict()))
    assert refused.error is not None
    assert session.log.row(len(session.log) - 1)["errno"] == errno.EINVAL
    assert session.msr_filter() == ALLOW_0X10
    session.close()


@pytest.mark.host
def test_without_checkpoints_or_breakpoints_the_session_says_so():
    session = Session(HLT, engine="host")
    result = session.apply(c.SetBreakpoint(kind="msr", value=0x10))
    assert result.error == "breakpoints need the sim engine"
    assert "sim engine" in session.apply(c.StepVcpu()).error
    with pytest.raises(SessionError, match="cannot go back in time"):
        session.seek(0)
    session.close()


@pytest.mark.host
def test_a_host_recording_names_its_kernel_and_replays(tmp_path, capsys):
    from workbench.hostkvm import running_profile
    from workbench.session.recording.cli import record, replay
    from workbench.session.recording.reader import read_recording

    scenario, recording = tmp_path / "hlt.toml", tmp_path / "hlt.jsonl"
    scenario.write_text(HLT.source)
    assert record(scenario, recording, engine="host") == 0
    assert read_recording(recording).header.profile == running_profile()
    assert replay(recording, engine="host", verify=True) == 0, capsys.readouterr().err
