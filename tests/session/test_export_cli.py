"""`workbench export`: a recording's events as CSV or JSON Lines, a display filter applied;
unusable input exits 2 with a message that says where."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from eventlog_rows import sample_log

from workbench import cli
from workbench.session.eventlog.display_filter import compile_filter
from workbench.session.eventlog.export import events, write_events
from workbench.session.eventlog.filter_fields import FIELDS
from workbench.session.recording import open_recording


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "demo.rec.jsonl"
    assert cli.main(["record", str(cli.DEMO_SCENARIO), "-o", str(path)]) == 0
    return path


def _replayed(path: Path):
    replay = open_recording(path)
    for _ in replay.play():
        pass
    return replay.session.log


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_writes_the_rows_the_filter_keeps(recording, tmp_path, fmt, capsys):
    out = tmp_path / f"out.{fmt}"
    text = "kind=MSR_EXIT or (kind=USER_ANSWER and flags=ERROR)"
    assert cli.main(["export", str(recording), "--format", fmt, "--filter", text,
                     "-o", str(out)]) == 0
    log = _replayed(recording)
    expected = compile_filter(text).select(log).tolist()
    with out.open(newline="") as f:
        read = list(csv.DictReader(f)) if fmt == "csv" else [json.loads(x) for x in f]
    assert [int(r["row"]) for r in read] == expected and len(expected) == 5
    assert list(read[0]) == list(FIELDS)
    assert {r["kind"] for r in read} == {"MSR_EXIT", "USER_ANSWER"}
    assert "exported 5 of" in capsys.readouterr().out


def test_a_bad_filter_exits_2_with_the_position(recording, tmp_path, capsys):
    out = tmp_path / "out.csv"
    assert cli.main(["export", str(recording), "--filter", "vcpu=0 and", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "column 11" in err and "^" in err and not out.exists()


def test_a_missing_or_unusable_file_exits_2_and_says_so(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "o")]) == 2
    assert "none.jsonl: no such recording file" in capsys.readouterr().err
    assert cli.main(["export", str(cli.DEMO_SCENARIO), "-o", str(tmp_path / "o")]) == 2
    assert "demo.toml" in capsys.readouterr().err


def test_json_lines_are_json_objects_with_the_filter_fields(tmp_path):
    log = sample_log(True)
    rows = [22, 0, 7, 8]  # any order, across chunks
    write_events(log, rows, tmp_path / "a.jsonl", "jsonl")
    read = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert read == list(events(log, rows))
    assert [r["row"] for r in read] == rows
    assert {r["device"] for r in read} <= {"0000:00:01.0", "0000:00:02.0"}
    vfio = [r for r in read if r["kind"] == "VFIO_CONFIG_READ"]
    assert vfio and all(r["site"] == "NONE" for r in vfio)
