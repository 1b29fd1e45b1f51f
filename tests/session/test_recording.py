"""Recordings: record -> replay gives the same events and state, step back equals a fresh
replay, seeking visits the same states."""

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recording_loop import ADDRESSES, MSRS, PARSED, SCENARIOS, record_session

from workbench.kvm import uapi
from workbench.session import commands as c
from workbench.session.recording import Recorder, open_recording
from workbench.session.runner import drive
from workbench.session.scenario import load, loads
from workbench.session.session import Session

# --- command sequences ------------------------------------------------------------------------
filters = st.one_of(
    st.none(),
    st.builds(lambda default, allow: {
        "flags": default,
        "ranges": [{"flags": uapi.KVM_MSR_FILTER_READ | uapi.KVM_MSR_FILTER_WRITE,
                    "base": "0x0", "nmsrs": 64, "bitmap": (allow * 8).hex()}]},
        st.sampled_from([uapi.KVM_MSR_FILTER_DEFAULT_ALLOW, uapi.KVM_MSR_FILTER_DEFAULT_DENY]),
        st.integers(0, 255).map(lambda b: bytes([b]))),
    st.just({"flags": 0xFF, "ranges": []}),                                   # EINVAL flags
    st.just({"flags": 0, "ranges": [{"flags": 0, "base": 0, "nmsrs": 8,        # EINVAL range
                                     "bitmap": "ff"}]}),
)
command_strategy = st.one_of(
    st.builds(c.StepVcpu, vcpu=st.sampled_from([0, 0, 0, 1])),
    st.builds(c.RunToExit, vcpu=st.just(0)),
    st.builds(c.Run, vcpu=st.just(0), max_exits=st.integers(1, 12)),
    st.builds(c.Answer, vcpu=st.sampled_from([0, 0, 1]), data=st.integers(0, 2**64 - 1),
              error=st.integers(0, 1)),
    st.builds(c.SetHandler, msr=st.sampled_from(MSRS),
              kind=st.sampled_from(["constant", "register", "fail", "ask", "none"]),
              value=st.integers(0, 2**64 - 1)),
    st.builds(c.SetFilter, filter=filters),
    st.builds(c.EnableCap, cap=st.sampled_from([uapi.KVM_CAP_X86_USER_SPACE_MSR, 0x7FFF]),
              args=st.lists(st.sampled_from([0, 1, 2, 4, 7, 0x100]), min_size=1, max_size=1)),
    st.builds(c.SetBreakpoint, vcpu=st.just(0), kind=st.sampled_from(["address", "msr"]),
              value=st.sampled_from(ADDRESSES + MSRS), enabled=st.booleans()),
)
sequences = st.lists(command_strategy, min_size=1, max_size=25)
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


# --- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_demo_scenarios_replay_to_the_same_events_and_state(tmp_path, scenario):
    session = Session(load(scenario))
    recorder = Recorder.start(session, tmp_path / "rec.jsonl")
    results = list(drive(session))
    recorder.close()
    replay = open_recording(tmp_path / "rec.jsonl")
    assert replay.recording.finished and replay.problem is None
    assert replay.verify() is None
    assert replay.step == len(results) > 0
    assert replay.session.digests == [r.digest for r in results]
    assert replay.session.log.digest() == session.log.digest()
    assert replay.session.state_digest() == session.state_digest()


@SETTINGS
@given(commands=sequences)
def test_generated_command_sequences_replay_identically(tmp_path, commands):
    path = tmp_path / "gen.jsonl"
    path.unlink(missing_ok=True)
    original = record_session(path, commands)
    replay = open_recording(path)
    assert [r.command for r in replay.recording.commands] == original.history
    assert replay.verify() is None
    assert replay.session.digests == original.digests
    assert replay.session.state_digest() == original.state_digest()


@SETTINGS
@given(commands=sequences, data=st.data())
def test_step_back_equals_a_fresh_replay_to_the_step_before(tmp_path, commands, data):
    path = tmp_path / "back.jsonl"
    path.unlink(missing_ok=True)
    record_session(path, commands)
    n = data.draw(st.integers(1, len(commands)), label="n")
    stepped = open_recording(path, checkpoint_every=3)
    assert stepped.seek(n) is None
    stepped.step_back()
    fresh = open_recording(path)
    fresh.seek(n - 1)
    assert stepped.step == fresh.step == n - 1
    assert stepped.session.state_digest() == fresh.session.state_digest()
    stepped.step_forward()
    fresh.seek(n)
    assert stepped.session.state_digest() == fresh.session.state_digest()



def test_step_back_over_a_step_that_follows_runs(tmp_path):
    """Hypothesis' find: step 13 steps the loop's jmp into code that only uncounted runs had
    executed; replayed from the checkpoint at 12, after steps 13-14 had run, it must log
    the same single step as the recording."""
    step, run = c.StepVcpu(), c.RunToExit()
    commands = [step, step, run, step, step, step, step,
                c.EnableCap(cap=uapi.KVM_CAP_X86_USER_SPACE_MSR, args=[0]),
                run, step, run, step, step, run]
    record_session(tmp_path / "s.jsonl", commands)
    stepped = open_recording(tmp_path / "s.jsonl", checkpoint_every=3)
    stepped.seek(14)
    stepped.step_back()
    fresh = open_recording(tmp_path / "s.jsonl")
    fresh.seek(13)
    assert stepped.session.state_digest() == fresh.session.state_digest()
    assert stepped.session.regs(0).rip == ADDRESSES[0]   # the jmp alone, not the mov after

@pytest.mark.parametrize("kind", ["msr", "address"])
def test_step_back_over_a_breakpoint_hit(tmp_path, kind):
    value = 0x35 if kind == "msr" else ADDRESSES[1]
    record_session(tmp_path / "bp.jsonl", [c.StepVcpu(), c.SetBreakpoint(kind=kind, value=value),
                                           c.RunToExit()])
    replay = open_recording(tmp_path / "bp.jsonl", checkpoint_every=2)
    replay.seek(3)
    replay.step_back()
    replay.step_forward()
    assert replay.session.log.format_row(-1).split()[4] == "BREAKPOINT"


def test_seek_back_and_forth_visits_the_same_states(tmp_path):
    commands = [c.RunToExit(), c.Answer(data=7), c.Run(max_exits=5), c.StepVcpu()] * 10
    record_session(tmp_path / "r.jsonl", commands)
    replay = open_recording(tmp_path / "r.jsonl", checkpoint_every=4)
    states = []
    for step in range(replay.steps + 1):
        replay.seek(step)
        states.append(replay.session.state_digest())
    for step in (37, 3, 40, 0, 21, 22, 20):
        replay.seek(step)
        assert replay.session.state_digest() == states[step]
    with pytest.raises(ValueError, match="outside 0..40"):
        replay.seek(41)


def test_an_interrupted_run_replays_where_the_pause_landed(tmp_path):
    scenario = loads('version = 1\n[[vcpus]]\nsource = "spin: inc rax; jmp spin"\n')
    session = Session(scenario)
    recorder = Recorder.start(session, tmp_path / "p.jsonl")
    threading.Timer(0.05, session.pause, args=(0,)).start()
    result = session.apply(c.Run())
    recorder.close()
    assert result.command.interrupt is not None     # the session rewrote the run
    replay = open_recording(tmp_path / "p.jsonl")
    assert replay.verify() is None
    assert replay.session.regs(0).rax == session.regs(0).rax > 0
    assert replay.session.state_digest() == session.state_digest()


def test_history_rewritten_while_recording_is_what_the_file_holds(tmp_path):
    session = Session(PARSED)
    recorder = Recorder.start(session, tmp_path / "r.jsonl")
    for command in (c.RunToExit(), c.RunToExit(), c.Answer(data=1), c.RunToExit()):
        session.apply(command)
    session.seek(2)
    session.apply(c.Answer(data=99))
    recorder.close()
    replay = open_recording(tmp_path / "r.jsonl")
    assert [r.command for r in replay.recording.commands] == session.history
    assert replay.steps == 3 and replay.recording.finished
    assert replay.verify() is None
    assert replay.session.state_digest() == session.state_digest()


def test_recording_starts_with_the_history_a_session_already_has(tmp_path):
    session = Session(PARSED)
    session.apply(c.RunToExit())
    session.apply(c.RunToExit())
    recorder = Recorder.start(session, tmp_path / "r.jsonl")
    session.apply(c.Answer(data=5))
    recorder.close()
    replay = open_recording(tmp_path / "r.jsonl")
    assert replay.steps == 3 and replay.verify() is None
