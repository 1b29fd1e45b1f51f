"""`workbench export`: a recording's events as CSV or JSON Lines, a display filter applied;
unusable input exits 2 with a message that says where."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from eventlog_rows import DEVICES, sample_log
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import cli
from workbench.session.eventlog import ROW_DTYPE, EventKind, EventLog
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


_INT = {name: st.integers(int(np.iinfo(ROW_DTYPE[name]).min), int(np.iinfo(ROW_DTYPE[name]).max))
        for name in ("value", "aux", "msr", "virt", "mask", "offset", "arg", "vcpu", "errno",
                     "site", "size", "reason", "result", "flags", "bar")}


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.fixed_dictionaries({
    **_INT, "kind": st.sampled_from([int(k) for k in EventKind]),
    "device": st.sampled_from([-1, 1, 2, 3]), "dstep": st.integers(0, 1 << 40)}), max_size=30),
    order=st.randoms())
def test_json_lines_are_the_text_json_dumps_writes_for_each_event(rows, order, tmp_path_factory):
    log = EventLog(chunk_rows=7)
    for dev, address in DEVICES.items():
        log.add_device(dev, address)
    if rows:
        cols = {k: np.array([r[k] for r in rows], dtype=ROW_DTYPE[k]) for k in (*_INT, "device")}
        log.extend_columns(kind=np.array([r["kind"] for r in rows]),
                           step=np.cumsum([r["dstep"] for r in rows], dtype=np.uint64), **cols)
    picked = list(range(len(rows))) * 2
    order.shuffle(picked)
    path = tmp_path_factory.mktemp("jsonl") / "rows.jsonl"
    write_events(log, picked, path, "jsonl")
    assert path.read_text() == "".join(json.dumps(event, separators=(",", ":")) + "\n"
                                       for event in events(log, picked))
