"""Replay: a Session rebuilt from a recording's embedded scenario, fed the recorded
commands on demand, checked against the recorded digests as it goes.

Moving back and forth goes through Session.seek (a checkpoint plus at most
`checkpoint_every` commands), so a million-step recording seeks quickly; moving past what
has been applied so far applies the next recorded commands and stops at the first one
whose events differ from the recording's (a Divergence, with a unified diff to read).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from workbench.atomic import write_atomic
from workbench.session import commands as c
from workbench.session.recording.reader import RecordingError, RecordingFile, read_recording
from workbench.session.recording.records import (
    EVENT_LINES,
    Bookmark,
    CommandRecord,
    End,
    Header,
    encode_line,
)
from workbench.session.scenario import Scenario, ScenarioError, ScenarioSpec, VcpuSpec, build, loads
from workbench.session.session import CommandResult, Session


@dataclass(frozen=True)
class Divergence:
    """The first command whose replayed events differ from the recorded ones."""

    step: int
    command: c.Command
    recorded: CommandRecord
    replayed_digest: str
    replayed_rows: int
    replayed_events: list[str]
    replayed_error: str | None

    def report(self) -> str:
        """Step, command, the counts, then recorded vs replayed events as a unified diff."""
        rec = self.recorded
        lines = [f"step {self.step}: {c.encode(self.command).decode()}",
                 f"  digest: recorded {rec.digest}, replayed {self.replayed_digest}",
                 f"  events: recorded {rec.rows}, replayed {self.replayed_rows}"]
        if rec.error != self.replayed_error:
            lines.append(f"  error: recorded {rec.error!r}, replayed {self.replayed_error!r}")
        diff = list(difflib.unified_diff(rec.events, self.replayed_events, "recorded",
                                         "replayed", lineterm=""))
        if diff:
            lines.extend(diff)
        else:
            lines.append(f"  (the first {EVENT_LINES} events agree; the difference is after "
                         f"them or inside a row's fields the text does not show)")
        return "\n".join(lines)


def scenario_of(header: Header, where: str) -> Scenario:
    """The recorded scenario, with the recorded machine code in place of the assembly."""
    text = header.scenario
    try:
        spec = msgspec.toml.decode(text.encode(), type=ScenarioSpec)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return loads(text, where)  # raises the ScenarioError that names the field and line
    if header.programs:
        if len(header.programs) != len(spec.vcpus):
            raise ScenarioError(f"{len(header.programs)} programs for {len(spec.vcpus)} vCPUs",
                                "$.programs", source=where)
        vcpus = [VcpuSpec(source=v.source, code=code)
                 for v, code in zip(spec.vcpus, header.programs, strict=True)]
        spec = msgspec.structs.replace(spec, vcpus=vcpus)
        try:
            return dataclasses.replace(build(spec), source=text)
        except ScenarioError as exc:
            raise ScenarioError(str(exc), source=where) from None
    return loads(text, where)


class Replay:
    """A recording being replayed: `session` is at step `step` of `steps` recorded."""

    def __init__(self, recording: RecordingFile, engine: str = "sim",
                 checkpoint_every: int = 1000) -> None:
        self.recording = recording
        where = f"{recording.path}:1: $.scenario"
        try:
            scenario = scenario_of(recording.header, where)
        except ScenarioError as exc:
            raise RecordingError(str(exc)) from None
        self.session = Session(scenario, engine=engine, checkpoint_every=checkpoint_every)
        self.divergence: Divergence | None = None

    @property
    def steps(self) -> int:
        return len(self.recording.commands)

    @property
    def problem(self) -> str | None:
        """What is wrong after the valid prefix being replayed (file:line: field: message)."""
        return self.recording.problem

    @property
    def step(self) -> int:
        return self.session.step

    def close(self) -> None:
        self.session.close()

    # --- moving ---------------------------------------------------------------------------
    def play(self, until: int | None = None) -> Iterator[CommandResult]:
        """Apply recorded commands after those already applied, up to step `until` (default:
        all); yield each result; stop after the first divergence."""
        s = self.session
        until = self.steps if until is None else min(until, self.steps)
        if s.step < len(s.history) < until:
            s.seek(len(s.history))
        while self.divergence is None and len(s.history) < until:
            record = self.recording.commands[len(s.history)]
            result = s.apply(record.command)
            if result.digest != record.digest:
                self.divergence = self._divergence(record, result)
            yield result

    def _divergence(self, record: CommandRecord, result: CommandResult) -> Divergence:
        log = self.session.log
        shown = range(result.first_row, min(result.last_row, result.first_row + EVENT_LINES))
        return Divergence(result.step, result.command, record, result.digest,
                          result.last_row - result.first_row,
                          [log.format_row(row) for row in shown], result.error)

    def seek(self, step: int) -> Divergence | None:
        """Go to `step` (0..steps); going forward stops at the first divergence, which is
        returned (the session stays there)."""
        if not 0 <= step <= self.steps:
            raise ValueError(f"step {step} is outside 0..{self.steps}")
        for _ in self.play(step):
            pass
        target = min(step, len(self.session.history))
        if self.session.step != target:
            self.session.seek(target)
        return self.divergence

    def step_forward(self) -> Divergence | None:
        if self.step >= self.steps:
            raise ValueError("already at the recording's last step")
        return self.seek(self.step + 1)

    def step_back(self) -> None:
        self.session.step_back()

    def verify(self) -> Divergence | None:
        """Replay every recorded command; the first divergence, or None if all match."""
        return self.seek(self.steps)

    # --- bookmarks and copies ----------------------------------------------------------------
    def bookmarks(self) -> dict[int, str]:
        return dict(self.recording.bookmarks)

    def add_bookmark(self, step: int, note: str) -> None:
        """Set the note at `step` (an empty note removes it); saved by `save_as`."""
        if not 0 <= step <= self.steps:
            raise ValueError(f"step {step} is outside 0..{self.steps}")
        if note:
            self.recording.bookmarks[step] = note
        else:
            self.recording.bookmarks.pop(step, None)

    def save_as(self, path: str | Path, upto: int | None = None) -> None:
        """Write the recording (its first `upto` steps when trimming) with its bookmarks,
        atomically: the old file stays whole if anything fails."""
        upto = self.steps if upto is None else upto
        if not 0 <= upto <= self.steps:
            raise ValueError(f"step {upto} is outside 0..{self.steps}")
        records: list[Any] = [self.recording.header, *self.recording.commands[:upto]]
        records += [Bookmark(step=s, note=n) for s, n in self.recording.bookmarks.items()
                    if s <= upto]
        records.append(End(steps=upto))
        write_atomic(Path(path), (encode_line(r) for r in records))


def open_recording(path: str | Path, engine: str = "sim",
                   checkpoint_every: int = 1000) -> Replay:
    """Open a recording for replay: its valid prefix when a line is damaged (see
    `Replay.problem`); RecordingError when the header or embedded scenario is unusable."""
    return Replay(read_recording(path), engine, checkpoint_every)


def recover(path: str | Path, engine: str = "sim") -> tuple[Replay, str | None]:
    """The valid prefix of a journal, and what was wrong after it (None: nothing, though a
    journal without an "end" record was not closed cleanly). RecordingError if even the
    header is unusable."""
    replay = open_recording(path, engine)
    problem = replay.problem
    if problem is None and not replay.recording.finished:
        problem = (f"{replay.recording.path}: no end record: the session stopped without "
                   f"closing the journal; all {replay.steps} commands are intact")
    return replay, problem
