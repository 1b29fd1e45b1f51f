"""Recorder: writes a session's commands to a journal as the session applies them.

It is a session observer, so every CommandResult — from the GUI, a script or the headless
runner — becomes one "command" record, flushed before the next command runs. A failing
disk stops the recording (see `failure`), never the session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import workbench
from workbench.session import commands as c
from workbench.session.journal import Journal, new_journal_path
from workbench.session.recording.reader import RecordingError
from workbench.session.recording.records import (
    EVENT_LINES,
    FORMAT,
    VERSION,
    Bookmark,
    CommandRecord,
    End,
    Header,
    encode_line,
)
from workbench.session.session import CommandResult, Session


def header_of(session: Session) -> Header:
    scenario = session.scenario
    if not scenario.source:
        raise RecordingError("the session's scenario has no TOML text to embed; load it with "
                             "workbench.session.scenario.load() or loads()")
    return Header(format=FORMAT, version=VERSION, app_version=workbench.__version__,
                  engine=session.engine, profile=session.profile, vendor=session.vendor,
                  scenario=scenario.source, scenario_name=scenario.name,
                  programs=[program.code.hex() for program in scenario.programs])


class Recorder:
    """Records `session` into `journal`; commands already in its history come first."""

    def __init__(self, session: Session, journal: Journal) -> None:
        self.session, self.journal = session, journal
        self.failure: OSError | None = None
        self._bookmarks: dict[int, str] = {}
        self._write(header_of(session))
        for step, (command, digest) in enumerate(zip(session.history, session.digests,
                                                     strict=True), start=1):
            log = session.log
            self._write(self._record(step, command, digest, log.row_of_step(step),
                                     log.row_of_step(step + 1), None))
        session.observers.append(self._on_result)

    @classmethod
    def start(cls, session: Session, path: str | Path | None = None, *,
              sync_each: bool = False) -> Recorder:
        """Record into a new journal at `path` (default: a fresh name in journal_dir())."""
        journal = Journal(new_journal_path() if path is None else Path(path),
                          sync_each=sync_each)
        try:
            return cls(session, journal)
        except BaseException:
            journal.close()
            raise

    @property
    def path(self) -> Path:
        return self.journal.path

    def _record(self, step: int, command: c.Command, digest: str, first: int, last: int,
                error: str | None) -> CommandRecord:
        log = self.session.log
        events = [log.format_row(row) for row in range(first, min(last, first + EVENT_LINES))]
        return CommandRecord(step=step, command=command, digest=digest, rows=last - first,
                             events=events, error=error)

    def _on_result(self, result: CommandResult) -> None:
        self._write(self._record(result.step, result.command, result.digest, result.first_row,
                                 result.last_row, result.error))

    def _write(self, record: Any) -> None:
        if self.failure is not None or self.journal.closed:
            return
        try:
            self.journal.append(encode_line(record))
        except OSError as exc:
            self.failure = exc
            if self._on_result in self.session.observers:
                self.session.observers.remove(self._on_result)

    def add_bookmark(self, step: int, note: str) -> None:
        """Mark `step` with a note (an empty note removes the bookmark)."""
        if not 0 <= step <= len(self.session.history):
            raise ValueError(f"step {step} is outside 0..{len(self.session.history)}")
        if note:
            self._bookmarks[step] = note
        else:
            self._bookmarks.pop(step, None)
        self._write(Bookmark(step=step, note=note))

    def bookmarks(self) -> dict[int, str]:
        return dict(sorted(self._bookmarks.items()))

    def close(self) -> None:
        """Stop recording; a clean close ends the journal with an "end" record."""
        if self._on_result in self.session.observers:
            self.session.observers.remove(self._on_result)
        self._write(End(steps=len(self.session.history)))
        self.journal.close()
