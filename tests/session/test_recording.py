"""Recordings: record -> replay gives the same events, step back equals a fresh replay,
damaged files give file:line: field: message, journals survive a crash."""

import json
import os
import threading
import time
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import workbench
from workbench.kvm import uapi
from workbench.session import commands as c
from workbench.session import journal as journal_mod
from workbench.session.journal import (
    Journal,
    find_unfinished_journals,
    journal_dir,
    write_atomic,
)
from workbench.session.recording import (
    Recorder,
    RecordingError,
    is_recording,
    open_recording,
    read_recording,
    recover,
)
from workbench.session.recording.records import encode_line
from workbench.session.runner import drive
from workbench.session.scenario import build, load, loads
from workbench.session.session import Session

SCENARIOS = sorted((Path(__file__).parents[2] / "resources" / "scenarios").glob("*.toml"))

LOOP = """
loop:
    mov ecx, 0x35
    rdmsr
    mov ecx, 0xc0010015
    rdmsr
    mov ecx, 0x10
    rdmsr
    mov ecx, 0x3a
    xor eax, eax
    xor edx, edx
    wrmsr
    in al, 0x60
    out 0x80, al
    inc r13
    jmp loop
"""

LOOP_SCENARIO = f"""
version = 1
name = "loop"
[caps]
user_space_msr = ["INVAL", "UNKNOWN", "FILTER"]
[[vcpus]]
source = '''{LOOP}'''
[[handlers]]
msr = "0x35"
value = "0x40008"
"""

PARSED = loads(LOOP_SCENARIO)
ADDRESSES = [insn.address for insn in PARSED.programs[0].listing]
MSRS = [0x10, 0x35, 0x3A, 0xC0010015]


def record_session(path, commands, checkpoint_every=1000):
    """Apply `commands` to a fresh loop session while recording; the session (open)."""
    session = Session(PARSED, checkpoint_every=checkpoint_every)
    recorder = Recorder.start(session, path)
    for command in commands:
        session.apply(command)
    recorder.close()
    return session


def lines_of(path):
    return Path(path).read_text().splitlines()


def line_of(record):
    """A record (read back as a dict and edited) as a line with a checksum that matches."""
    return encode_line(record).decode().rstrip("\n")


def write_lines(path, lines):
    Path(path).write_text("".join(line + "\n" for line in lines))


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


# --- the file format ---------------------------------------------------------------------------
def test_header_embeds_the_scenario_and_its_machine_code(tmp_path):
    record_session(tmp_path / "r.jsonl", [c.RunToExit()])
    header, command, end = (json.loads(line) for line in lines_of(tmp_path / "r.jsonl"))
    assert header["kind"] == "header" and header["format"] == "workbench-recording"
    assert header["version"] == 1 and header["app_version"] == workbench.__version__
    assert (header["engine"], header["profile"], header["vendor"]) == ("sim", "linux-6.18",
                                                                      "intel")
    assert header["scenario"] == LOOP_SCENARIO and header["scenario_name"] == "loop"
    assert header["programs"] == [PARSED.programs[0].code.hex()]
    assert command == {"kind": "command", "step": 1, "command": c.to_builtins(c.RunToExit()),
                       "digest": command["digest"], "rows": 2, "events": [
                           "step 1     #0    vcpu0 MSR_EXIT    rdmsr 0x35 "
                           "(MSR_CORE_THREAD_COUNT) reason=UNKNOWN rip=0x100005",
                           "step 1     #1    vcpu0 USER_ANSWER rdmsr 0x35 "
                           "(MSR_CORE_THREAD_COUNT) data=0x40008"], "error": None,
                       "check": command["check"]}
    assert end == {"kind": "end", "steps": 1, "check": end["check"]}
    assert all(len(r["check"]) == 16 for r in (header, command, end))


def test_a_command_keeps_its_first_32_events(tmp_path):
    text = LOOP_SCENARIO.replace("in al, 0x60", "nop").replace(
        'value = "0x40008"', 'value = "0x40008"\n[[handlers]]\nmsr = "0xc0010015"\nkind = "fail"')
    session = Session(loads(text))
    recorder = Recorder.start(session, tmp_path / "r.jsonl")
    result = session.apply(c.Run(max_exits=40))
    recorder.close()
    command = json.loads(lines_of(tmp_path / "r.jsonl")[1])
    assert command["rows"] == result.last_row - result.first_row > 32
    assert command["events"] == [session.log.format_row(row) for row in range(32)]


def test_replay_needs_no_assembler(tmp_path, monkeypatch):
    record_session(tmp_path / "r.jsonl", [c.RunToExit()])

    def no_assembler(text):
        raise AssertionError("the assembler ran")

    monkeypatch.setattr("workbench.session.scenario.assemble", no_assembler)
    assert open_recording(tmp_path / "r.jsonl").verify() is None


def test_unknown_kinds_and_fields_from_a_newer_workbench_are_skipped(tmp_path):
    path = tmp_path / "r.jsonl"
    record_session(path, [c.RunToExit(), c.Answer()])
    header, first, second, end = (json.loads(line) for line in lines_of(path))
    header["compression"] = "none"
    first["wall_time"] = 1.5
    note = {"kind": "annotation", "text": "from the future", "step": "two"}
    write_lines(path, [line_of(r) for r in (header, first, note, second, end)])
    recording = read_recording(path)
    assert recording.problem is None and recording.finished
    assert len(recording.commands) == 2


def test_bookmarks_are_journaled_and_saved_with_copies(tmp_path):
    session = Session(PARSED)
    recorder = Recorder.start(session, tmp_path / "r.jsonl")
    for _ in range(4):
        session.apply(c.RunToExit())
    recorder.add_bookmark(2, "HWCR exit")
    recorder.add_bookmark(3, "gone soon")
    recorder.add_bookmark(3, "")
    recorder.add_bookmark(0, "start")
    assert recorder.bookmarks() == {0: "start", 2: "HWCR exit"}
    with pytest.raises(ValueError, match="outside"):
        recorder.add_bookmark(5, "future")
    recorder.close()
    replay = open_recording(tmp_path / "r.jsonl")
    assert replay.bookmarks() == {0: "start", 2: "HWCR exit"}
    replay.add_bookmark(4, "the end")
    replay.save_as(tmp_path / "copy.jsonl")
    assert open_recording(tmp_path / "copy.jsonl").bookmarks() == {0: "start", 2: "HWCR exit",
                                                                  4: "the end"}
    replay.save_as(tmp_path / "trim.jsonl", upto=2)
    trimmed = open_recording(tmp_path / "trim.jsonl")
    assert trimmed.steps == 2 and trimmed.recording.finished
    assert trimmed.bookmarks() == {0: "start", 2: "HWCR exit"}
    assert trimmed.verify() is None


def test_is_recording_tells_recordings_from_scenarios(tmp_path):
    record_session(tmp_path / "r.jsonl", [c.RunToExit()])
    (tmp_path / "renamed.rec").write_bytes((tmp_path / "r.jsonl").read_bytes())
    (tmp_path / "junk.jsonl").write_bytes(b"\xff\xfe garbage")
    assert is_recording(tmp_path / "r.jsonl") and is_recording(tmp_path / "renamed.rec")
    assert is_recording(tmp_path / "junk.jsonl")
    assert not is_recording(SCENARIOS[0]) and not is_recording(tmp_path / "missing.toml")


def test_a_scenario_without_its_text_cannot_be_recorded(tmp_path):
    session = Session(build(PARSED.spec))
    with pytest.raises(RecordingError, match="no TOML text"):
        Recorder.start(session, tmp_path / "r.jsonl")
    assert not session.observers


# --- damaged files ------------------------------------------------------------------------------
@pytest.fixture
def recorded(tmp_path):
    """A 3-command recording's lines (header, 3 commands, end) and a path to write."""
    path = tmp_path / "rec.jsonl"
    record_session(path, [c.RunToExit(), c.RunToExit(), c.Answer(data=3)])
    return path, lines_of(path)


def edited(line, **changes):
    record = json.loads(line)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = record
        for name in parents:
            target = target[name]
        target[last] = value
    return line_of(record)


def test_wrong_type_names_line_and_field_and_keeps_the_prefix(recorded):
    path, lines = recorded
    lines[3] = edited(lines[3], command__vcpu="0")
    write_lines(path, lines)
    replay = open_recording(path)
    assert replay.problem == f"{path}:4: $.command.vcpu: Expected `int`, got `str`"
    assert replay.steps == 2 and replay.verify() is None


@pytest.mark.parametrize(("line", "change", "message"), [
    (2, {"command__bogus": 1}, ":2: $.command: Object contains unknown field `bogus`"),
    (2, {"digest": "not-a-digest"}, ":2: $.digest: Expected `str` matching regex"),
    (3, {"rows": -1}, ":3: $.rows: Expected `int` >= 0"),
    (3, {"step": 9}, ":3: $.step: step 9 follows step 1"),
    (2, {"command__command": "teleport"}, ":2: $.command.command: Invalid value 'teleport'"),
    (5, {"steps": 7}, ":5: $.steps: the end record says 7 steps, the file holds 3"),
])
def test_bad_records_name_line_and_field(recorded, line, change, message):
    path, lines = recorded
    lines[line - 1] = edited(lines[line - 1], **change)
    write_lines(path, lines)
    recording = read_recording(path)
    assert recording.problem.startswith(f"{path}{message}")
    assert len(recording.commands) == line - 2 and not recording.finished


def test_a_truncated_last_line_loses_only_that_command(recorded):
    path, lines = recorded
    path.write_text("\n".join(lines[:4])[:-10])
    replay, problem = recover(path)
    assert problem.startswith(f"{path}:4: the last line is cut short")
    assert replay.steps == 2 and replay.verify() is None


def test_garbage_bytes_name_the_line(recorded):
    path, lines = recorded
    data = "\n".join(lines[:2]).encode() + b"\n\xff\xfe\x00garbage\n" + lines[2].encode() + b"\n"
    path.write_bytes(data)
    recording = read_recording(path)
    assert recording.problem == f"{path}:3: not UTF-8 text (byte 0xff at column 1)"
    assert len(recording.commands) == 1
    path.write_bytes("\n".join(lines[:2]).encode() + b"\n{not json}\n")
    assert read_recording(path).problem.startswith(f"{path}:3: not JSON (JSON is malformed")
    path.write_bytes("\n".join(lines[:2]).encode() + b"\n[1, 2]\n")
    assert read_recording(path).problem == f"{path}:3: $: expected a JSON object, got list"


@pytest.mark.parametrize(("first_line", "message"), [
    (None, "empty file, no header record"),
    ('{"kind": "command"}', ':1: $.kind: the first record must be the header, got \'command\''),
    ('{"kind": "header", "format": "other"}', ":1: $.format: 'other' is not"),
    ("version2", ":1: $.version: version 2 is not supported (this workbench reads version 1)"),
    ("no_scenario", ":1: $: Object missing required field `scenario`"),
    ("\x00\x01garbage", ":1: not JSON"),
    ("cut", ":1: the header line is cut short"),
])
def test_unusable_headers_raise_a_clear_error(recorded, first_line, message):
    path, lines = recorded
    if first_line is None:
        path.write_text("")
    elif first_line == "version2":
        write_lines(path, [edited(lines[0], version=2), *lines[1:]])
    elif first_line == "no_scenario":
        header = json.loads(lines[0])
        del header["scenario"]
        write_lines(path, [line_of(header), *lines[1:]])
    elif first_line == "cut":
        path.write_text(lines[0][:40])
    else:
        write_lines(path, [first_line, *lines[1:]])
    with pytest.raises(RecordingError) as info:
        open_recording(path)
    assert str(info.value).startswith(f"{path}{message}" if message[0] == ":" else
                                      f"{path}: {message}")


def test_a_broken_embedded_scenario_names_its_own_line(recorded):
    path, lines = recorded
    header = json.loads(lines[0])
    header["scenario"] = header["scenario"].replace('value = "0x40008"', "value = [1]")
    header["programs"] = []
    write_lines(path, [line_of(header), *lines[1:]])
    with pytest.raises(RecordingError, match=r":1: \$.scenario:\d+: \$.handlers\[0\].value"):
        open_recording(path)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(RecordingError, match="cannot read the file: No such file"):
        open_recording(tmp_path / "nope.jsonl")


# --- divergence ----------------------------------------------------------------------------------
def test_a_tampered_event_stops_replay_with_a_diff(recorded):
    path, lines = recorded
    record = json.loads(lines[2])
    assert "rdmsr 0xc0010015" in record["events"][0]
    record["events"][0] = record["events"][0].replace("0xc0010015", "0xc0010016")
    record["digest"] = "0" * 32
    lines[2] = line_of(record)
    write_lines(path, lines)
    replay = open_recording(path)
    divergence = replay.verify()
    assert divergence.step == 2 and replay.step == 2
    report = divergence.report()
    assert report.startswith('step 2: {"command":"run_to_exit","vcpu":0')
    assert f"digest: recorded {'0' * 32}, replayed " in report
    assert "--- recorded\n+++ replayed" in report
    assert "\n-step 2 " in report and "0xc0010016" in report
    assert "\n+step 2 " in report and "0xc0010015" in report
    assert replay.seek(3) is divergence and replay.step == 2   # never past a divergence


# --- the journal ----------------------------------------------------------------------------------
def test_a_crashed_session_leaves_a_journal_that_recovers_every_command(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    session = Session(PARSED)
    recorder = Recorder.start(session)
    assert recorder.path.parent == tmp_path / "state" / "kvm-trap-workbench" / "journals"
    for _ in range(3):
        session.apply(c.RunToExit())
    assert find_unfinished_journals() == []      # still being written: locked
    recorder.journal.close()                     # the process dies: no end record
    assert find_unfinished_journals() == [recorder.path]
    replay, problem = recover(recorder.path)
    assert "no end record" in problem and "all 3 commands are intact" in problem
    assert replay.verify() is None
    assert replay.session.state_digest() == session.state_digest()


def test_closed_journals_are_not_offered_for_recovery(tmp_path):
    record_session(tmp_path / "done.jsonl", [c.RunToExit()])
    (tmp_path / "notes.txt").write_text("x")
    assert find_unfinished_journals(tmp_path) == []
    assert find_unfinished_journals(tmp_path / "missing") == []


def test_journal_dir_falls_back_to_local_state(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert journal_dir() == tmp_path / ".local" / "state" / "kvm-trap-workbench" / "journals"


def test_every_record_is_on_disk_before_the_next_command(tmp_path):
    session = Session(PARSED)
    recorder = Recorder.start(session, tmp_path / "r.jsonl")
    for step in range(1, 4):
        session.apply(c.RunToExit())
        assert len(lines_of(tmp_path / "r.jsonl")) == 1 + step
    recorder.close()


def test_fsync_each_record_or_at_most_every_interval(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(journal_mod.os, "fsync", lambda fd: synced.append(time.monotonic()))
    each = Journal(tmp_path / "each.jsonl", sync_each=True)
    for i in range(5):
        each.append({"kind": "x", "i": i})
    assert len(synced) == 5
    each.close()
    synced.clear()
    lazy = Journal(tmp_path / "lazy.jsonl", sync_interval=0.2)
    for i in range(50):
        lazy.append({"kind": "x", "i": i})
    assert synced == []                     # within the interval: flushed, not yet synced
    time.sleep(0.4)
    assert len(synced) == 1                 # the idle timer synced the tail
    lazy.close()
    assert len(synced) == 1                 # nothing new to sync


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "rec.jsonl"
    target.write_bytes(b"old\n")

    def chunks():
        yield b"new, half"
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_atomic(target, chunks())
    assert target.read_bytes() == b"old\n" and os.listdir(tmp_path) == ["rec.jsonl"]
    write_atomic(target, [b"new\n", b"whole\n"])
    assert target.read_bytes() == b"new\nwhole\n" and os.listdir(tmp_path) == ["rec.jsonl"]


def test_a_failing_disk_stops_the_recording_not_the_session(tmp_path, monkeypatch):
    session = Session(PARSED)
    recorder = Recorder.start(session, tmp_path / "r.jsonl")

    writes = []

    def full(record):
        writes.append(record)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(recorder.journal, "append", full)
    assert session.apply(c.RunToExit()).error is None
    assert recorder.failure.errno == 28
    assert session.apply(c.RunToExit()).error is None
    assert len(writes) == 1  # the recorder let go of the session: no retry per command


def test_records_are_msgspec_json(tmp_path):
    record_session(tmp_path / "r.jsonl", [c.SetFilter(filter={"flags": 0xFF, "ranges": []})])
    command = msgspec.json.decode(lines_of(tmp_path / "r.jsonl")[1])
    assert command["error"].startswith("[Errno 22] flags: 0xff")
    assert command["command"] == {"command": "set_filter", "filter": {"flags": 255,
                                                                      "ranges": []}}
