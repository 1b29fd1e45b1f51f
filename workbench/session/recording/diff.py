"""Diffing two recordings (rr's divergence hunting): the first step where they differ, as a
unified diff, and what differs between two sessions standing at the same step.

A recording's steps are compared as text (`StepText`): the command, the digest of its
events, the event count, the first EVENT_LINES formatted events and the error. The same
text can be built from a live session's history and log (`session_steps`), so the GUI can
diff the session it shows against a recording file. Step 0 is the scenario itself.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from workbench.session import commands as c
from workbench.session.recording.reader import RecordingError, RecordingFile, read_recording
from workbench.session.recording.records import EVENT_LINES
from workbench.session.session import Session


@dataclass(frozen=True)
class StepText:
    """One step as the diff reads it. `error` is None where it is not known (a live
    session keeps no command errors): it is then left out of the comparison."""

    command: str
    digest: str
    rows: int
    events: tuple[str, ...]
    error: str | None = None

    def lines(self, error: bool) -> list[str]:
        head = [f"command: {self.command}", f"digest: {self.digest}", f"events: {self.rows}"]
        if error:
            head.append(f"error: {self.error or '-'}")
        return head + list(self.events)


@dataclass(frozen=True)
class Side:
    """One recording (or session) to diff: a name for the report, its scenario text and
    its steps."""

    name: str
    scenario: str
    steps: Sequence[StepText]


def file_side(recording: RecordingFile) -> Side:
    return Side(str(recording.path), recording.header.scenario,
                [StepText(c.encode(r.command).decode(), r.digest, r.rows, tuple(r.events),
                          r.error or "") for r in recording.commands])


def session_steps(session: Session, first: int = 1, last: int | None = None) -> list[StepText]:
    """Steps `first`..`last` (default: the end) of the session's history, as a recording
    would hold them."""
    log, out = session.log, []
    last = len(session.history) if last is None else min(last, len(session.history))
    # Rows are logged in step order, the history's future included (see time_travel).
    starts = np.searchsorted(log.column("step"), np.arange(first, last + 2), side="left")
    for step, begin, end in zip(range(first, last + 1), starts[:-1].tolist(),
                                starts[1:].tolist(), strict=True):
        out.append(StepText(c.encode(session.history[step - 1]).decode(),
                            session.digests[step - 1], end - begin,
                            tuple(log.format_row(row)
                                  for row in range(begin, min(end, begin + EVENT_LINES)))))
    return out


def history_key(session: Session) -> tuple[int, str]:
    """Changes whenever the session's history does: its length and its last digest."""
    return len(session.history), session.digests[-1] if session.digests else ""


def session_side(session: Session, name: str) -> Side:
    return Side(name, session.scenario.source, session_steps(session))


def _same(a: StepText, b: StepText) -> bool:
    known = a.error is not None and b.error is not None
    return a.lines(known) == b.lines(known)


def first_divergence(a: Side, b: Side) -> int | None:
    """The first step at which `a` and `b` differ (0: the scenario; one past the shorter
    when one is a prefix of the other), or None when they are the same."""
    if a.scenario != b.scenario:
        return 0
    for step, (sa, sb) in enumerate(zip(a.steps, b.steps, strict=False), 1):
        if not _same(sa, sb):
            return step
    if len(a.steps) != len(b.steps):
        return min(len(a.steps), len(b.steps)) + 1
    return None


def _step_lines(side: Side, step: int, error: bool) -> list[str]:
    if step == 0:
        return side.scenario.splitlines()
    if step > len(side.steps):
        return [f"(no step {step}: the recording ends after step {len(side.steps)})"]
    return side.steps[step - 1].lines(error)


def step_report(a: Side, b: Side, step: int) -> str:
    """What differs at `step` as a unified diff of the two sides' text of it."""
    sa = a.steps[step - 1] if 0 < step <= len(a.steps) else None
    sb = b.steps[step - 1] if 0 < step <= len(b.steps) else None
    error = sa is None or sb is None or (sa.error is not None and sb.error is not None)
    what = "the scenario" if step == 0 else f"step {step}"
    diff = difflib.unified_diff(_step_lines(a, step, error), _step_lines(b, step, error),
                                f"{a.name} {what}", f"{b.name} {what}", lineterm="")
    return "\n".join([f"first divergence at {what}", *diff])


def diff_files(path_a: str | Path, path_b: str | Path) -> str | None:
    """The report of the first divergence between two recording files, or None when they
    agree. RecordingError for a file that is not a whole, readable recording."""
    sides = []
    for path in (path_a, path_b):
        recording = read_recording(path)
        if recording.problem is not None:
            raise RecordingError(recording.problem)
        sides.append(file_side(recording))
    step = first_divergence(*sides)
    return None if step is None else step_report(*sides, step)


# --- two sessions at the same step ----------------------------------------------------------
@dataclass(frozen=True)
class Difference:
    what: str      # "event 3", "vcpu0 rax", "MSR 0x277"
    a: str
    b: str


def events_at(side: Side, step: int) -> tuple[str, ...]:
    return side.steps[step - 1].events if 0 < step <= len(side.steps) else ()


def session_events(session: Session, step: int) -> tuple[str, ...]:
    """The events of `step` of the session's history, as a recording keeps them."""
    found = session_steps(session, step, step) if step > 0 else []
    return found[0].events if found else ()


def event_differences(ea: Sequence[str], eb: Sequence[str]) -> list[Difference]:
    """The events that differ, position by position (one side may have fewer)."""
    return [Difference(f"event {i + 1}", ea[i] if i < len(ea) else "",
                       eb[i] if i < len(eb) else "")
            for i in range(max(len(ea), len(eb)))
            if (ea[i] if i < len(ea) else None) != (eb[i] if i < len(eb) else None)]


def register_differences(a: Session, b: Session) -> list[Difference]:
    out = []
    for vcpu in range(min(a.vcpu_count, b.vcpu_count)):
        ra, rb = a.regs(vcpu), b.regs(vcpu)
        out += [Difference(f"vcpu{vcpu} {f.name}", f"{getattr(ra, f.name):#x}",
                           f"{getattr(rb, f.name):#x}")
                for f in fields(ra) if getattr(ra, f.name) != getattr(rb, f.name)]
    if a.vcpu_count != b.vcpu_count:
        out.append(Difference("vCPUs", str(a.vcpu_count), str(b.vcpu_count)))
    return out


def msr_values(session: Session) -> dict[str, int]:
    """The MSR values a session can show, by name: the single place the diff reads MSRs.
    Today the user-space rules' registers (what the VMM answers); the vCPU's MSR file
    query joins here when the session offers one."""
    return {f"MSR {index:#x}": value for index, value in session.handler_registers().items()}


def msr_differences(a: Session, b: Session) -> list[Difference]:
    va, vb = msr_values(a), msr_values(b)
    return [Difference(name, "" if name not in va else f"{va[name]:#x}",
                       "" if name not in vb else f"{vb[name]:#x}")
            for name in sorted(va.keys() | vb.keys()) if va.get(name) != vb.get(name)]
