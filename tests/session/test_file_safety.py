"""Files the workbench opens cannot reach the machine, and files it writes stay private:
guest source that names a file is refused by record and by replay, journals and recordings
are 0600, and what an interrupted `workbench record` left behind is recovered, not lost."""

import json
import os
import stat
from pathlib import Path

from workbench import cli
from workbench.atomic import write_atomic
from workbench.session.journal import Journal

DEMO = Path(__file__).parents[2] / "resources" / "scenarios" / "demo.toml"
MARKER = "WORKBENCH-SECRET-MARKER"


def partial_path(out: Path, pid: int) -> Path:
    """Where `workbench record -o out` (process `pid`) journals until it finishes."""
    return out.with_name(f".{out.name}.{pid}.partial.jsonl")


def incbin_scenario(secret: Path) -> str:
    return f'version = 1\n[[vcpus]]\nsource = """\nnop\n.incbin "{secret}"\nhlt\n"""\n'


def test_record_refuses_source_that_reads_a_file(tmp_path, capsys):
    secret = tmp_path / "secret"
    secret.write_text(MARKER)
    scenario = tmp_path / "leak.toml"
    scenario.write_text(incbin_scenario(secret))
    out = tmp_path / "leak.jsonl"
    assert cli.main(["record", str(scenario), "-o", str(out)]) == 2
    assert f"{scenario}:3: $.vcpus[0].source: line 2: `.incbin`" in capsys.readouterr().err
    assert not out.exists()


def test_replaying_a_recording_without_machine_code_reads_no_file(tmp_path, capsys):
    """A recording whose `programs` is empty is re-assembled from its embedded source on
    the replaying machine: that source must not be able to read the machine's files."""
    secret = tmp_path / "secret"
    secret.write_text(MARKER)
    header = {"kind": "header", "format": "workbench-recording", "version": 1,
              "app_version": "0.1.0", "engine": "sim", "profile": None, "vendor": "intel",
              "scenario": incbin_scenario(secret), "programs": []}
    path = tmp_path / "leak.jsonl"
    path.write_text(json.dumps(header) + "\n" + json.dumps({"kind": "end", "steps": 0}) + "\n")
    assert cli.main(["replay", str(path)]) == 2
    printed = capsys.readouterr()
    assert "$.vcpus[0].source: line 2: `.incbin` reads a file" in printed.err
    assert MARKER not in printed.out + printed.err


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def test_journals_recordings_and_rewritten_files_are_private(tmp_path, capsys):
    umask = os.umask(0o022)                        # the usual umask: files would be 0644
    try:
        journal = Journal(tmp_path / "journal.jsonl")
        journal.append({"kind": "end"})
        journal.close()
        out = tmp_path / "demo.jsonl"
        assert cli.main(["record", str(DEMO), "-o", str(out), "--steps", "2"]) == 0
        write_atomic(tmp_path / "rewritten.jsonl", [b"{}\n"])
    finally:
        os.umask(umask)
    assert all(private(tmp_path / name) for name in ("journal.jsonl", "demo.jsonl",
                                                     "rewritten.jsonl"))


def test_an_interrupted_record_is_recovered_and_reported(tmp_path, capsys):
    out = tmp_path / "demo.jsonl"
    assert cli.main(["record", str(DEMO), "-o", str(out), "--steps", "2"]) == 0
    capsys.readouterr()
    left = partial_path(out, 4242)                 # as a `record` killed mid-run leaves it
    lines = out.read_text().splitlines()
    left.write_text("\n".join(lines[:-1]) + "\n")  # no end record
    (partial_path(out, 4343)).write_text("")       # killed before it wrote anything
    assert cli.main(["replay", str(out), "--verify"]) == 0
    err = capsys.readouterr().err
    kept = tmp_path / "demo.interrupted-4242.jsonl"
    assert f"left its commands in {kept}" in err and f"removed {partial_path(out, 4343)}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name, out.name]
    assert cli.main(["replay", str(kept), "--verify"]) == 0
    assert "no end record" in capsys.readouterr().err


def test_a_running_records_partial_and_temporaries_are_left_alone(tmp_path, capsys):
    out = tmp_path / "demo.jsonl"
    live = Journal(partial_path(out, 4242))        # a `record` still writing
    stale = tmp_path / ".demo.jsonl.abc123.tmp"    # a write_atomic a crash interrupted
    stale.write_text("half")
    try:
        assert cli.main(["record", str(DEMO), "-o", str(out), "--steps", "2"]) == 0
        assert live.path.exists() and "interrupted" not in capsys.readouterr().err
        write_atomic(out, [out.read_bytes()])
        assert not stale.exists() and live.path.exists()
    finally:
        live.close()
