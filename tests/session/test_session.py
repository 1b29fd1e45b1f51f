"""The session: commands in, events out, deterministic; seek and step back (sim)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.kvm import MsrFilter, MsrFilterRange, uapi
from workbench.session import commands as c
from workbench.session.eventlog import EventKind
from workbench.session.scenario import loads
from workbench.session.session import Session

PROGRAM = """
    mov ecx, 0x35
    rdmsr
    mov ecx, 0xc0000100
    mov eax, 0x1000
    wrmsr
    rdmsr
    mov ecx, 0x10
    rdmsr
    out 0x80, al
    mov ecx, 0x36
    rdmsr
    hlt
    ud2
"""
# ud2: a run past the hlt ends in SHUTDOWN at once instead of executing the zeroed RAM that
# follows, byte after byte, for seconds per generated example.

SCENARIO = f"""
version = 1
[caps]
user_space_msr = ["UNKNOWN", "FILTER"]
[[vcpus]]
source = '''{PROGRAM}'''
[[handlers]]
msr = "0x35"
value = "0x40008"
"""


PARSED = loads(SCENARIO)  # assembled once: sessions share the immutable scenario


def session(checkpoint_every=1000, **extra):
    return Session(PARSED, checkpoint_every=checkpoint_every, **extra)


def kinds(s, result):
    return [EventKind(k) for k in s.log.column("kind")[result.first_row:result.last_row]]


def test_run_to_exit_logs_the_exit_and_the_rule_answer():
    s = session()
    result = s.apply(c.RunToExit())
    assert kinds(s, result) == [EventKind.MSR_EXIT, EventKind.USER_ANSWER]
    assert s.pending_exit(0).msr.data == 0x40008 and not s.needs_answer(0)


def test_run_stops_where_the_user_must_answer():
    s = session()
    s.apply(c.Run())
    exit_ = s.pending_exit(0)
    assert exit_.msr.index == 0x36 and s.needs_answer(0)
    s.apply(c.Answer(data=0x1234))
    s.apply(c.Run())
    assert s.halted(0) and s.regs(0).rax == 0x1234


def test_answer_without_pending_exit_is_an_error_and_changes_nothing():
    s = session()
    before = s.state_digest()
    result = s.apply(c.Answer(data=1))
    assert "no pending exit" in result.error
    assert s.regs(0).rip == s.vcpus[0].program.base
    assert before != s.state_digest()   # the step counter moved...
    s.step_back()
    assert s.state_digest() == before   # ...and nothing else


def test_filter_commands_log_the_kernel_errno():
    s = session()
    bad = MsrFilter(0, [MsrFilterRange(4, 0, 1, b"\x01")]).to_dict()
    result = s.apply(c.SetFilter(filter=bad))
    assert "EINVAL" in result.error or "Errno 22" in result.error
    row = s.log.row(result.first_row)
    assert row["kind"] == EventKind.FILTER_SET and row["errno"] == 22
    good = MsrFilter(0, [MsrFilterRange(uapi.KVM_MSR_FILTER_WRITE, 0xC0000100, 1, b"\x00")])
    assert s.apply(c.SetFilter(filter=good.to_dict())).error is None
    s.apply(c.RunToExit())
    result = s.apply(c.RunToExit())
    exit_ = s.pending_exit(0)
    assert (exit_.exit_reason, exit_.msr.reason) == (uapi.KVM_EXIT_X86_WRMSR,
                                                     uapi.KVM_MSR_EXIT_REASON_FILTER)


def test_unknown_vcpu_is_a_clear_error():
    assert "vcpu 3 does not exist" in session().apply(c.StepVcpu(vcpu=3)).error


def test_pci_command_without_pci_system_is_an_error():
    from workbench.vfio.story import ConfigReadStep
    result = session().apply(c.Pci(action=ConfigReadStep(device="x", offset=0)))
    assert "no PCI system" in result.error


COMMANDS = st.lists(st.one_of(
    st.builds(c.StepVcpu),
    st.builds(c.RunToExit),
    st.builds(c.Answer, data=st.integers(0, 2**64 - 1), error=st.integers(0, 1)),
    st.builds(c.SetHandler, msr=st.sampled_from([0x35, 0x36]),
              kind=st.sampled_from(["constant", "register", "fail", "ask", "none"]),
              value=st.integers(0, 2**64 - 1)),
    st.builds(c.SetFilter, filter=st.sampled_from([
        None,
        {"flags": 0, "ranges": [{"flags": 3, "base": 0xC0000100, "nmsrs": 1, "bitmap": "00"}]},
        {"flags": 1, "ranges": [{"flags": 1, "base": 0x10, "nmsrs": 1, "bitmap": "01"}]},
        {"flags": 0, "ranges": [{"flags": 4, "base": 0x10, "nmsrs": 1, "bitmap": "01"}]},
    ])),
    st.builds(c.EnableCap, cap=st.just(uapi.KVM_CAP_X86_USER_SPACE_MSR),
              args=st.lists(st.integers(0, 8), min_size=1, max_size=1)),
), max_size=25)


@settings(max_examples=25, deadline=None)
@given(COMMANDS)
def test_same_commands_same_events_bit_for_bit(commands):
    first, second = session(), session()
    for command in commands:
        assert first.apply(command).digest == second.apply(command).digest
    assert first.log.digest() == second.log.digest()
    assert first.state_digest() == second.state_digest()


@settings(max_examples=25, deadline=None)
@given(COMMANDS.filter(lambda cmds: len(cmds) >= 2), st.integers(1, 4))
def test_step_back_equals_a_fresh_replay_to_n_minus_1(commands, every):
    live = session(checkpoint_every=every)
    for command in commands:
        live.apply(command)
    live.step_back()
    fresh = session(checkpoint_every=every)
    for command in commands[:-1]:
        fresh.apply(command)
    assert live.state_digest() == fresh.state_digest()
    for vcpu_live, vcpu_fresh in zip(live.vcpus, fresh.vcpus, strict=True):
        assert vcpu_live.get_regs() == vcpu_fresh.get_regs()
        assert (vcpu_live.msr_bitmap() == vcpu_fresh.msr_bitmap()).all()
    assert live.msr_filter() == fresh.msr_filter()


def test_seek_anywhere_and_branch():
    s = session(checkpoint_every=2)
    digests = [s.state_digest()]
    for _ in range(6):
        s.apply(c.StepVcpu())
        digests.append(s.state_digest())
    for target in (3, 0, 6, 1, 5):
        s.seek(target)
        assert s.state_digest() == digests[target]
    s.seek(2)
    s.apply(c.RunToExit())
    assert len(s.history) == 3 and s.step == 3
    with pytest.raises(ValueError, match="outside"):
        s.seek(4)


def test_pci_commands_step_back_restores_vconfig():
    text = """
version = 1
[pci]
platform = "s390"
profile = "linux-5.9"
[[pci.devices]]
kind = "detached_vf"
name = "vf"
"""
    from workbench.vfio.story import EnableMemoryStep
    s = Session(loads(text))
    before = s.state_digest()
    s.apply(c.Pci(action=EnableMemoryStep(device="vf")))
    assert s.state_digest() != before
    s.step_back()
    assert s.state_digest() == before


def test_breakpoints_on_addresses_and_msrs_stop_a_run():
    s = session()
    rdmsr_of_0x10 = next(i.address for i in s.listing(0) if i.text == "mov ecx, 0x10") + 5
    s.apply(c.SetBreakpoint(kind="msr", value=0xC0000100))
    s.apply(c.SetBreakpoint(kind="address", value=rdmsr_of_0x10))
    s.apply(c.Run())
    row = s.log.row(len(s.log) - 1)
    assert row["kind"] == EventKind.BREAKPOINT and row["msr"] == 0xC0000100
    s.apply(c.Run())                      # over the wrmsr, stops again before the rdmsr
    assert s.log.row(len(s.log) - 1)["msr"] == 0xC0000100
    s.apply(c.Run())
    row = s.log.row(len(s.log) - 1)
    assert row["kind"] == EventKind.BREAKPOINT and row["aux"] == rdmsr_of_0x10
    assert s.breakpoints(0) == (frozenset({rdmsr_of_0x10}), frozenset({0xC0000100}))
    s.apply(c.SetBreakpoint(kind="address", value=rdmsr_of_0x10, enabled=False))
    s.apply(c.Run())
    assert s.pending_exit(0).msr.index == 0x36


def test_a_paused_run_is_recorded_so_re_application_lands_on_the_same_state():
    import threading
    import time

    loop = """
version = 1
[caps]
user_space_msr = ["UNKNOWN"]
[[vcpus]]
source = '''
    mov ecx, 0x35
    rdmsr
    rdmsr
spin:
    add rbx, 1
    movq xmm3, rbx
    mov [0x300000], rbx
    jmp spin
'''
[[handlers]]
msr = "0x35"
value = 7
"""
    s = Session(loads(loop), checkpoint_every=1000)
    timer = threading.Timer(0.2, lambda: s.pause(0))
    timer.start()
    started = time.monotonic()
    result = s.apply(c.Run())
    timer.join()
    assert time.monotonic() - started < 30  # hang guard only
    assert isinstance(result.command, c.Run) and result.command.interrupt is not None
    assert result.command.interrupt.exits == 2
    row = s.log.row(len(s.log) - 1)
    assert row["kind"] == EventKind.INTR
    live = s.state_digest()
    assert s.regs(0).rbx > 1000
    s.seek(0)
    s.seek(1)                                    # re-applies the rewritten command
    assert s.state_digest() == live
    encoded = c.from_builtins(c.to_builtins(result.command))
    fresh = Session(loads(loop))
    assert fresh.apply(encoded).digest == result.digest
    assert fresh.state_digest() == live


def test_a_pause_between_runs_stops_the_next_one_until_cancelled():
    s = session()
    s.apply(c.RunToExit())
    s.pause(0)                       # like kvm_run.immediate_exit: the next run stops at once
    s.apply(c.RunToExit())
    assert s.log.row(len(s.log) - 1)["kind"] == EventKind.INTR
    s.pause(0)
    s.cancel_pause(0)                # the GUI drops a pause its run's own end beat
    s.apply(c.RunToExit())
    assert s.log.row(len(s.log) - 1)["kind"] != EventKind.INTR
