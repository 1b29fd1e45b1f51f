"""Journals: every command on disk before the next, a crashed session recovers, a failing
disk stops the recording and not the session; atomic writes."""

import os
import time

import pytest
from recording_loop import PARSED, lines_of, record_session

from workbench.atomic import write_atomic
from workbench.session import commands as c
from workbench.session import journal as journal_mod
from workbench.session.journal import Journal, find_unfinished_journals, journal_dir
from workbench.session.recording import Recorder, recover
from workbench.session.session import Session


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
