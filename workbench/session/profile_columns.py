"""A profile comparison as two event columns: each step's trap-log rows under A and B,
line by line, with every differing line marked and each explained difference attached to
the first line of its step that differs. The GUI renders these rows as they are."""

from __future__ import annotations

import errno
from dataclasses import dataclass

from workbench.session.profile_compare import Difference, ProfileComparison, StepOutcome


@dataclass(frozen=True)
class ColumnRow:
    step: int
    command: str
    a: str  # "" where A's run has no such line
    b: str
    differs: bool
    explanation: str = ""  # the switch and commit, on the first differing line of a step
    inferred: bool = False  # the explaining fact is one the spec only inferred


def _lines(outcome: StepOutcome | None) -> list[str]:
    """A step's lines: an ioctl's result first (the kernel's answer), then its log rows."""
    if outcome is None:
        return []
    head = []
    if outcome.ioctl:
        head = [f"{outcome.command}: " + (errno.errorcode.get(outcome.errno, str(outcome.errno))
                                         if outcome.errno else "allowed")]
    return head + list(outcome.rows)


def side_by_side(result: ProfileComparison) -> tuple[list[ColumnRow], int | None]:
    """The aligned rows, and the index of the first differing one (None: none differs)."""
    by_step: dict[int, Difference] = {}
    for d in result.differences:
        by_step.setdefault(d.step, d)
    rows: list[ColumnRow] = []
    first: int | None = None
    a_run, b_run = result.a_run, result.b_run
    for k in range(max(len(a_run), len(b_run))):
        a = a_run[k] if k < len(a_run) else None
        b = b_run[k] if k < len(b_run) else None
        shown = a if a is not None else b
        assert shown is not None
        a_lines, b_lines = _lines(a), _lines(b)
        pending = by_step.pop(shown.step, None)
        for i in range(max(len(a_lines), len(b_lines), 1)):
            left = a_lines[i] if i < len(a_lines) else ""
            right = b_lines[i] if i < len(b_lines) else ""
            differs = left != right
            why, inferred = "", False
            if differs and pending is not None:
                why = result.explain(pending)
                inferred = bool(pending.change and pending.change.inferred)
                pending = None
            if differs and first is None:
                first = len(rows)
            rows.append(ColumnRow(shown.step, shown.command, left, right, differs, why,
                                  inferred))
    return rows, first
