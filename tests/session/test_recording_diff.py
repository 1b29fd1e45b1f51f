"""`workbench diff A B`: nothing and exit 0 for the same recording, the first divergent step
as a unified diff and exit 1 otherwise, exit 2 naming the file that cannot be read."""

import json

import pytest

from tests.session.recording_loop import lines_of, record_session
from workbench import cli
from workbench.session import commands as c
from workbench.session.recording.records import encode_line

STEPS = [c.RunToExit(vcpu=0) for _ in range(6)]


@pytest.fixture
def recording(tmp_path):
    path = tmp_path / "a.jsonl"
    record_session(path, STEPS).close()
    return path


def tampered(recording, step, edit):
    """A copy whose command record for `step` is edited by `edit(record)` and re-checksummed,
    so only the content differs."""
    lines = lines_of(recording)
    record = json.loads(lines[step])
    assert record["kind"] == "command" and record["step"] == step
    edit(record)
    lines[step] = encode_line(record).decode().rstrip("\n")
    copy = recording.with_name("b.jsonl")
    copy.write_text("\n".join(lines) + "\n")
    return copy


def change_event_value(record):
    """The value the guest read (HWCR, 0x0) changed, as a tamperer would."""
    event = record["events"][0]
    assert "rdmsr 0xc0010015 (HWCR) -> 0x0 " in event, event
    record["events"][0] = event.replace("-> 0x0 ", "-> 0x1 ")


def test_a_recording_has_no_divergence_with_itself(recording, capsys):
    assert cli.main(["diff", str(recording), str(recording)]) == 0
    assert capsys.readouterr() == ("", "")


def test_a_tampered_event_is_the_first_divergence(recording, capsys):
    copy = tampered(recording, 5, change_event_value)
    assert cli.main(["diff", str(recording), str(copy)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["first divergence at step 5", f"--- {recording} step 5",
                       f"+++ {copy} step 5"]
    removed = [line for line in out if line.startswith("-") and not line.startswith("---")]
    added = [line for line in out if line.startswith("+") and not line.startswith("+++")]
    assert len(removed) == len(added) == 1
    assert "(HWCR) -> 0x0 " in removed[0]
    assert added[0] == "+" + removed[0][1:].replace("-> 0x0 ", "-> 0x1 ")


def test_a_shorter_recording_diverges_after_its_end(recording, tmp_path, capsys):
    short = tmp_path / "short.jsonl"
    record_session(short, STEPS[:4]).close()
    assert cli.main(["diff", str(short), str(recording)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("first divergence at step 5\n")
    assert "-(no step 5: the recording ends after step 4)" in out


def test_a_different_scenario_diverges_at_step_zero(recording, capsys):
    def rename(record):
        record["scenario"] = record["scenario"].replace('name = "loop"', 'name = "other"')
    lines = lines_of(recording)
    record = json.loads(lines[0])
    rename(record)
    lines[0] = encode_line(record).decode().rstrip("\n")
    other = recording.with_name("other.jsonl")
    other.write_text("\n".join(lines) + "\n")
    assert cli.main(["diff", str(recording), str(other)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("first divergence at the scenario\n")
    assert '-name = "loop"\n+name = "other"' in out


@pytest.mark.parametrize("damage", ["missing", "garbage", "flipped"])
def test_an_unreadable_recording_exits_2_naming_it(recording, tmp_path, capsys, damage):
    bad = tmp_path / "bad.jsonl"
    if damage == "garbage":
        bad.write_text("not a recording\n")
    elif damage == "flipped":
        bad.write_text(recording.read_text().replace("0x40008", "0x40009", 1))
    assert cli.main(["diff", str(recording), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"workbench: {bad}")
