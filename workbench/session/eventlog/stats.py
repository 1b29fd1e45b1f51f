"""Statistics over the columnar log (Wireshark's Statistics, kvm_stat): per MSR, per vCPU,
per exit reason and per PCI device, for the whole session, a step range or a filter.

Rows are counted per category with a handful of numpy passes a chunk (chunk_counts); the
log keeps the counts of every full chunk from when it filled, so the whole session or a
step range adds up kept counts and counts only the rows at its ends. A display filter's
rows are counted afresh. Nothing is counted per row in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from workbench.kvm.msrs.catalogue import msr_name
from workbench.session.eventlog.chunk_counts import (
    COLUMNS,
    REASONS,
    Counts,
    MsrIds,
    categories,
    category_of,
    count,
)
from workbench.session.eventlog.log import EventLog

__all__ = ["REASONS", "RateMeter", "StatRow", "StatTable", "Statistics", "compute",
           "reason_counts"]


@dataclass(frozen=True)
class StatRow:
    """One row of a statistics table; `filter` is the display filter that shows its events."""

    label: str
    counts: tuple[int, ...]
    filter: str


@dataclass(frozen=True)
class StatTable:
    title: str
    key: str  # the first column's heading
    columns: tuple[str, ...]
    rows: tuple[StatRow, ...]


@dataclass(frozen=True)
class Statistics:
    events: int
    tables: tuple[StatTable, ...]

    def table(self, title: str) -> StatTable:
        return next(t for t in self.tables if t.title == title)


def _parts(log: EventLog, rows: range, mask: np.ndarray | None) -> list[Counts]:
    """Counts covering `rows`: kept ones for whole chunks, fresh ones for the rest."""
    ndev = max(log.devices, default=-1) + 2
    ids = MsrIds()
    parts = []
    for row, block in log.blocks(rows.start, rows.stop):
        if mask is None and len(block) == log.chunk_rows:
            parts.append(log.chunk_counts(row // log.chunk_rows))
        else:
            keep = None if mask is None else mask[row - rows.start:row - rows.start
                                                  + len(block)]
            parts.append(count(block, ids, ndev, keep))
    return parts


def _summed(keys: list[np.ndarray], counts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(distinct keys ascending, key x category counts) summed over the parts' sparse
    key * categories + category entries."""
    ncat = len(categories().matrix["msr"])
    slots, inverse = np.unique(np.concatenate([np.zeros(0, np.int64), *keys]),
                               return_inverse=True)
    summed = np.bincount(inverse, np.concatenate([np.zeros(0, np.int64), *counts]),
                         minlength=len(slots)).astype(np.int64)
    found, row = np.unique(slots // ncat, return_inverse=True)
    total = np.zeros((len(found), ncat), np.int64)
    total[row, slots % ncat] = summed
    return found, total


def _grouped(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    found, inverse = np.unique(keys, return_inverse=True)
    total = np.zeros((len(found), counts.shape[1]), np.int64)
    np.add.at(total, inverse, counts)
    return found, total


def _rows(view: str, keys: np.ndarray, per_key: np.ndarray, label: Callable[[int], str],
          filt: Callable[[int], str]) -> tuple[StatRow, ...]:
    """The rows of the keys with anything counted in the view."""
    totals = per_key @ categories().matrix[view]
    present = np.flatnonzero(totals.any(axis=1))
    return tuple(StatRow(label(k), tuple(c), filt(k)) for k, c in
                 zip(keys[present].tolist(), totals[present].tolist(), strict=True))


def compute(log: EventLog, rows: range | None = None,
            mask: np.ndarray | None = None) -> Statistics:
    """Statistics over log rows `rows` (all by default), only those `mask` keeps (a mask
    over `rows`, e.g. a display filter's)."""
    rows = range(0, len(log)) if rows is None else rows
    cats = categories()
    devices = log.devices
    parts = _parts(log, rows, mask)
    msrs, per_msr = _summed([p.msrs for p in parts], [p.msr_counts for p in parts])
    who, per_who = _summed([p.who for p in parts], [p.who_counts for p in parts])
    vcpus, per_vcpu = _grouped(who >> 16, per_who)
    devs, per_dev = _grouped(who & 0xFFFF, per_who)
    tables = []
    for name, title, key_name, label, filt, (keys, counts) in (
        ("msr", "MSRs", "MSR", lambda k: f"{k:#x} {msr_name(k)}", lambda k: f"msr={k:#x}",
         (msrs, per_msr)),
        ("vcpu", "vCPUs", "vCPU", str, lambda k: f"vcpu={k}",
         (vcpus[vcpus > 0] - 1, per_vcpu[vcpus > 0])),
        ("device", "PCI devices", "Device", lambda k: devices.get(k, str(k)),
         lambda k: f"device={devices.get(k, k)}", (devs[devs > 0] - 1, per_dev[devs > 0])),
    ):
        tables.append(StatTable(title, key_name, tuple(c for c, _ in COLUMNS[name]),
                                _rows(name, keys, counts, label, filt)))
    per_reason = per_who.sum(axis=0) @ cats.matrix["reason"]
    tables.append(StatTable("Exit reasons", "Exit reason", ("Count",), tuple(
        StatRow(label, (int(n),), expr)
        for (label, expr, _), n in zip(REASONS, per_reason.tolist(), strict=True))))
    return Statistics(sum(p.events for p in parts), tuple(tables))


def reason_counts(log: EventLog, first: int, last: int) -> np.ndarray:
    """Exits per REASONS entry among rows [first, last): what live rates are made of."""
    matrix = categories().matrix["reason"]
    counts = np.zeros(len(matrix), np.int64)
    for _, block in log.blocks(first, last):
        counts += np.bincount(category_of(block), minlength=len(counts))
    return counts @ matrix


class RateMeter:
    """kvm_stat's live view: exits per second per reason, from the rows added between two
    samples (the caller passes the clock, so a test can too). A truncated log restarts it."""

    def __init__(self, min_interval: float = 0.0) -> None:
        """Samples closer than `min_interval` seconds to the last one are skipped."""
        self._seen = -1
        self._at = 0.0
        self.min_interval = min_interval

    def sample(self, log: EventLog, now: float) -> dict[str, float] | None:
        """Rates since the previous sample, by REASONS label; None for the first sample
        (or a skipped one)."""
        n = len(log)
        if self._seen < 0 or n < self._seen:
            self._seen, self._at = n, now
            return None
        if now - self._at < max(self.min_interval, 1e-9):
            return None
        counts = reason_counts(log, self._seen, n)
        elapsed = now - self._at
        self._seen, self._at = n, now
        return {label: count / elapsed
                for (label, _, _), count in zip(REASONS, counts.tolist(), strict=True)}
