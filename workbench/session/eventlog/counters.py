"""kvm_stat-style counters over the log: events per kind, MSR exits per reason, exits per vCPU.

The log bumps the counters on each single append (inline: that is the per-event path);
bulk appends and truncation go through a Tally of the rows involved, computed from the
columns, so that all three ways of changing the log agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.session.eventlog.kinds import EXIT_KINDS, EventKind, MsrExitReason

MSR_EXIT = int(EventKind.MSR_EXIT)
EXIT_KIND_VALUES = frozenset(int(k) for k in EXIT_KINDS)
_EXIT_LUT = np.zeros(256, dtype=bool)
_EXIT_LUT[list(EXIT_KIND_VALUES)] = True


@dataclass
class Tally:
    """Counter contributions of a block of rows."""

    kinds: np.ndarray  # counts per kind value (256)
    reasons: np.ndarray  # MSR_EXIT rows per reason byte (256)
    vcpu_exits: dict[int, int]


@dataclass
class Counters:
    """The running counts; `kinds` and `reasons` are indexed by the row's byte."""

    kinds: list[int] = field(default_factory=lambda: [0] * 256)
    reasons: list[int] = field(default_factory=lambda: [0] * 256)  # of MSR_EXIT rows
    vcpu_exits: dict[int, int] = field(default_factory=dict)

    def apply(self, tally: Tally, sign: int) -> None:
        """Add (sign=+1) or remove (sign=-1) the rows a tally counted."""
        for k in np.flatnonzero(tally.kinds).tolist():
            self.kinds[k] += sign * int(tally.kinds[k])
        for r in np.flatnonzero(tally.reasons).tolist():
            self.reasons[r] += sign * int(tally.reasons[r])
        for v, c in tally.vcpu_exits.items():
            left = self.vcpu_exits.get(v, 0) + sign * c
            if left:
                self.vcpu_exits[v] = left
            else:
                self.vcpu_exits.pop(v, None)

    def summary(self, events: int) -> dict[str, Any]:
        """kvm_stat's view, for a log of `events` rows."""
        reasons = {r.name: 0 for r in MsrExitReason}
        for value, count in enumerate(self.reasons):
            for r in MsrExitReason:
                if count and value & r:
                    reasons[r.name] += count
        kinds = {EventKind(k).name: c for k, c in enumerate(self.kinds) if c}
        return {
            "events": events,
            "exits": sum(self.vcpu_exits.values()),
            "kinds": kinds,
            "msr_exit_reasons": reasons,
            "vcpu_exits": {v: c for v, c in sorted(self.vcpu_exits.items()) if c},
        }


def tally(blocks: Iterable[np.ndarray]) -> Tally:
    """Counter contributions of the rows in `blocks` (structured, columns.ROW_DTYPE)."""
    kinds = np.zeros(256, np.int64)
    reasons = np.zeros(256, np.int64)
    vcpus: dict[int, int] = {}
    for block in blocks:
        k = block["kind"]
        kinds += np.bincount(k, minlength=256)
        values, counts = np.unique(block["vcpu"][_EXIT_LUT[k]], return_counts=True)
        for v, c in zip(values.tolist(), counts.tolist(), strict=True):
            vcpus[v] = vcpus.get(v, 0) + c
        reasons += np.bincount(block["reason"][k == MSR_EXIT], minlength=256)
    return Tally(kinds, reasons, vcpus)
