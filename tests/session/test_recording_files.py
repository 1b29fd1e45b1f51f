"""The recording file: what a record holds, and damaged files giving file:line: field:
message, keeping the good prefix; a tampered event stops replay with a diff."""

import json

import msgspec
import pytest
from recording_loop import (
    LOOP_SCENARIO,
    PARSED,
    SCENARIOS,
    line_of,
    lines_of,
    record_session,
    write_lines,
)

import workbench
from workbench.session import commands as c
from workbench.session.recording import (
    Recorder,
    RecordingError,
    is_recording,
    open_recording,
    read_recording,
    recover,
)
from workbench.session.scenario import build, loads
from workbench.session.session import Session


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


def test_records_are_msgspec_json(tmp_path):
    record_session(tmp_path / "r.jsonl", [c.SetFilter(filter={"flags": 0xFF, "ranges": []})])
    command = msgspec.json.decode(lines_of(tmp_path / "r.jsonl")[1])
    assert command["error"].startswith("[Errno 22] flags: 0xff")
    assert command["command"] == {"command": "set_filter", "filter": {"flags": 255,
                                                                      "ranges": []}}


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
