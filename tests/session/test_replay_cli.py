"""`workbench record`, `workbench replay [--verify]` and `workbench open` on recordings:
exit status 0 when every digest matches, 1 at a divergence, 2 for an unusable file."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench import cli
from workbench.session.recording.records import encode_line

SCENARIOS_DIR = Path(__file__).parents[2] / "resources" / "scenarios"
SCENARIOS = sorted(SCENARIOS_DIR.glob("*.toml"))
DEMO = SCENARIOS[0].parent / "demo.toml"


def line_of(record):
    """A record (read back as a dict and edited) as a line with a checksum that matches."""
    return encode_line(record).decode().rstrip("\n")


def record(tmp_path, capsys, scenario=DEMO, *extra):
    out = tmp_path / "rec.jsonl"
    assert cli.main(["record", str(scenario), "-o", str(out), *extra]) == 0
    return out, capsys.readouterr().out


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_record_then_verify(tmp_path, capsys, scenario):
    out, printed = record(tmp_path, capsys, scenario)
    steps = len(out.read_text().splitlines()) - 2
    assert printed.startswith(f"recorded {steps} commands, ")
    assert printed.rstrip().endswith(f"{scenario} -> {out}")
    assert [p.name for p in tmp_path.iterdir()] == ["rec.jsonl"]    # no partial journal left
    assert cli.main(["replay", str(out), "--verify"]) == 0
    assert capsys.readouterr().out == f"{out}: {steps} commands, every digest matches\n"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_replay_prints_the_events_run_prints(tmp_path, capsys, scenario):
    out, _ = record(tmp_path, capsys, scenario)
    assert cli.main(["run", str(scenario), "--headless"]) == 0
    run_lines = capsys.readouterr().out.splitlines()
    assert cli.main(["replay", str(out)]) == 0
    replay_lines = capsys.readouterr().out.splitlines()
    assert replay_lines and replay_lines == [ln for ln in run_lines if ln.startswith("step ")]


def test_record_steps_limits_each_vcpu(tmp_path, capsys):
    out, _ = record(tmp_path, capsys, DEMO, "--steps", "2")
    command = json.loads(out.read_text().splitlines()[1])
    assert command["command"]["max_exits"] == 2
    assert cli.main(["replay", str(out), "--verify"]) == 0


def test_record_never_half_overwrites_an_old_recording(tmp_path, capsys):
    out = tmp_path / "rec.jsonl"
    out.write_text("old\n")
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\n[vm]\nvendor = 3\n")
    assert cli.main(["record", str(bad), "-o", str(out)]) == 2
    assert f"{bad}:3: $.vm.vendor" in capsys.readouterr().err
    assert out.read_text() == "old\n"
    assert cli.main(["record", str(DEMO), "-o", str(out), "--steps", "0"]) == 2


def test_a_tampered_digest_is_the_first_divergence(tmp_path, capsys):
    out, _ = record(tmp_path, capsys, SCENARIOS_DIR / "s390-detached-vf.toml")
    lines = out.read_text().splitlines()
    record_ = json.loads(lines[3])
    record_["digest"] = "f" * 32
    lines[3] = line_of(record_)
    out.write_text("\n".join(lines) + "\n")
    assert cli.main(["replay", str(out), "--verify"]) == 1
    printed = capsys.readouterr().out
    assert printed.startswith(f"{out}: first divergence at step 3\nstep 3: ")
    assert f"digest: recorded {'f' * 32}, replayed " in printed


def test_a_tampered_event_prints_a_unified_diff(tmp_path, capsys):
    out, _ = record(tmp_path, capsys)
    lines = out.read_text().splitlines()
    record_ = json.loads(lines[1])
    record_["events"][1] = record_["events"][1].replace("data=0x40008", "data=0x40009")
    record_["digest"] = "0" * 32
    lines[1] = line_of(record_)
    out.write_text("\n".join(lines) + "\n")
    assert cli.main(["replay", str(out), "--verify"]) == 1
    printed = capsys.readouterr().out
    assert "--- recorded\n+++ replayed\n" in printed
    assert "-step 1     #1    vcpu0 USER_ANSWER rdmsr 0x35 (MSR_CORE_THREAD_COUNT) " \
           "data=0x40009" in printed
    assert "+step 1     #1    vcpu0 USER_ANSWER rdmsr 0x35 (MSR_CORE_THREAD_COUNT) " \
           "data=0x40008" in printed


@pytest.fixture
def two_step(tmp_path, capsys):
    """The s390 story's recording (10 commands) as lines."""
    out, _ = record(tmp_path, capsys, SCENARIOS_DIR / "s390-detached-vf.toml")
    return out, out.read_text().splitlines()


def damage(out, lines, how):
    if how == "truncated":
        out.write_text("\n".join(lines[:5])[:-7])
        return ":5: the last line is cut short"
    if how == "wrong_version":
        header = json.loads(lines[0])
        header["version"] = 7
        out.write_text("\n".join([line_of(header), *lines[1:]]) + "\n")
        return ":1: $.version: version 7 is not supported"
    if how == "wrong_type":
        record_ = json.loads(lines[2])
        record_["command"]["action"]["device"] = 7
        out.write_text("\n".join([*lines[:2], line_of(record_), *lines[3:]]) + "\n")
        return ":3: $.command.action.device: Expected `str`, got `int`"
    if how == "unknown_field":
        record_ = json.loads(lines[2])
        record_["command"]["colour"] = "red"
        out.write_text("\n".join([*lines[:2], line_of(record_), *lines[3:]]) + "\n")
        return ":3: $.command: Object contains unknown field `colour`"
    if how == "garbage":
        out.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
        return ":1: not UTF-8 text (byte 0x89 at column 1)"
    if how == "no_header":
        out.write_text("\n".join(lines[1:]) + "\n")
        return ":1: $.kind: the first record must be the header, got 'command'"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["truncated", "wrong_version", "wrong_type", "unknown_field",
                                 "garbage", "no_header"])
def test_damaged_files_exit_2_with_line_and_field(two_step, capsys, how):
    out, lines = two_step
    expected = damage(out, lines, how)
    unusable = how in ("wrong_version", "garbage", "no_header")   # the header is damaged
    # (`open` on a damaged body goes on to the GUI, which offers to recover the prefix)
    opened = [["open", str(out)]] if unusable else []
    for args in (["replay", str(out), "--verify"], ["replay", str(out)], *opened):
        assert cli.main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"workbench: {out}{expected}")
        assert "Traceback" not in err


def test_a_damaged_body_still_verifies_its_valid_prefix(two_step, capsys):
    out, lines = two_step
    damage(out, lines, "wrong_type")
    assert cli.main(["replay", str(out), "--verify"]) == 2
    assert "(the 1 commands before it replayed identically)" in capsys.readouterr().err


def test_an_unfinished_journal_verifies_with_a_note(two_step, capsys):
    out, lines = two_step
    out.write_text("\n".join(lines[:-1]) + "\n")
    assert cli.main(["replay", str(out), "--verify"]) == 0
    captured = capsys.readouterr()
    assert "note: no end record" in captured.err
    assert captured.out == f"{out}: 10 commands, every digest matches\n"


def test_missing_recording_exits_2(tmp_path, capsys):
    assert cli.main(["replay", str(tmp_path / "nope.jsonl"), "--verify"]) == 2
    assert "cannot read the file" in capsys.readouterr().err


def test_the_installed_command_never_shows_a_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"kind": "header", "format": "workbench-recording", "version": 1}\n\xff')
    done = subprocess.run([sys.executable, "-m", "workbench.cli", "replay", str(bad),
                           "--verify"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == f"workbench: {bad}:1: $: Object missing required field `app_version`\n"
