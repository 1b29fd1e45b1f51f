"""Statistics over the columnar log (Wireshark's Statistics, kvm_stat): per MSR, per vCPU,
per exit reason and per PCI device, for the whole session, a step range or a filter.

Tens of millions of rows are counted with a handful of numpy passes: each row's kind,
flags and reason bits form a 17-bit index; a lookup table per view turns it into a
category (which of the view's columns the row counts in), and one bincount over
key * categories + category counts every column of every key at once. Nothing is
counted per row in Python.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from workbench.kvm.msrs.catalogue import msr_name
from workbench.session.eventlog.columns import ROW_DTYPE
from workbench.session.eventlog.kinds import EXIT_KINDS, EventKind, Flag
from workbench.session.eventlog.log import EventLog

_IDX = np.arange(1 << 17, dtype=np.uint32)
_K, _F, _R = _IDX >> 9, (_IDX >> 3) & 63, _IDX & 7  # kind, flags & 63, reason & 7
_WRITE, _EXITED, _PT = int(Flag.WRITE), int(Flag.EXITED), int(Flag.PASSTHROUGH)


def _kinds(*kinds: EventKind) -> np.ndarray:
    return np.isin(_K, [int(k) for k in kinds])


def _msr_access() -> np.ndarray:
    """A guest RDMSR/WRMSR, counted once: the user-space #GP after a failed exit is the
    same access as its exit, so it is not counted again."""
    return (_kinds(EventKind.MSR_READ, EventKind.MSR_WRITE, EventKind.MSR_EXIT)
            | (_kinds(EventKind.MSR_GP) & (_F & _EXITED == 0)))


def _in_kernel() -> np.ndarray:
    """Accesses the kernel finished itself after a VM exit (not passthrough, not user)."""
    return _msr_access() & (_F & (_EXITED | _PT) == 0) & ~_kinds(EventKind.MSR_EXIT)


def _exit(reason_bit: int) -> np.ndarray:
    return _kinds(EventKind.MSR_EXIT) & (_R & reason_bit != 0)


_MSR_EXIT = EventKind.MSR_EXIT
_VFIO = {name: EventKind[f"VFIO_{name}"] for name in
         ("CONFIG_READ", "CONFIG_WRITE", "REGION_READ", "REGION_WRITE", "REGION_BLOCKED",
          "MMAP_ZAP", "MMAP_FAULT")}

# view -> (column name, which (kind, flags, reason) rows it counts)
_COLUMNS: dict[str, tuple[tuple[str, Callable[[], np.ndarray]], ...]] = {
    "msr": (
        ("Reads", lambda: _msr_access() & (_F & _WRITE == 0)),
        ("Writes", lambda: _msr_access() & (_F & _WRITE != 0)),
        ("In kernel", _in_kernel),
        ("Exit INVAL", lambda: _exit(1)),
        ("Exit UNKNOWN", lambda: _exit(2)),
        ("Exit FILTER", lambda: _exit(4)),
        ("#GP", lambda: _kinds(EventKind.MSR_GP)),
        ("Passthrough", lambda: _msr_access() & (_F & _PT != 0)),
    ),
    "vcpu": (
        ("Events", lambda: np.ones(len(_K), dtype=bool)),
        ("Exits", lambda: _kinds(*EXIT_KINDS)),
        ("MSR exits", lambda: _kinds(_MSR_EXIT)),
        ("In kernel", _in_kernel),
        ("#GP", lambda: _kinds(EventKind.MSR_GP)),
        ("IO exits", lambda: _kinds(EventKind.IO_EXIT)),
        ("HLT", lambda: _kinds(EventKind.HLT)),
    ),
    "device": (
        ("Events", lambda: np.ones(len(_K), dtype=bool)),
        ("Config reads", lambda: _kinds(_VFIO["CONFIG_READ"])),
        ("Config writes", lambda: _kinds(_VFIO["CONFIG_WRITE"])),
        ("BAR reads", lambda: _kinds(_VFIO["REGION_READ"])),
        ("BAR writes", lambda: _kinds(_VFIO["REGION_WRITE"])),
        ("Blocked MMIO", lambda: _kinds(_VFIO["REGION_BLOCKED"])),
        ("Zaps", lambda: _kinds(_VFIO["MMAP_ZAP"])),
        ("SIGBUS faults", lambda: _kinds(_VFIO["MMAP_FAULT"])),
    ),
}
# kvm_stat's exit reasons: (label, filter expression, rows); an MSR exit with several
# reason bits counts under each.
REASONS: tuple[tuple[str, str, Callable[[], np.ndarray]], ...] = (
    ("MSR exit INVAL", "kind=MSR_EXIT and reason=INVAL", lambda: _exit(1)),
    ("MSR exit UNKNOWN", "kind=MSR_EXIT and reason=UNKNOWN", lambda: _exit(2)),
    ("MSR exit FILTER", "kind=MSR_EXIT and reason=FILTER", lambda: _exit(4)),
    *((f"{k.name} exit" if k is not EventKind.HLT else "HLT", f"kind={k.name}",
       (lambda k=k: _kinds(k)))
      for k in (EventKind.IO_EXIT, EventKind.HLT, EventKind.SHUTDOWN, EventKind.INTR,
                EventKind.OTHER_EXIT)),
)
_COLUMNS["reason"] = tuple((label, rows) for label, _, rows in REASONS)


@dataclass(frozen=True)
class _Categories:
    """One category per distinct combination of columns a row counts in, over all views:
    `lut` maps a row's 17-bit index to it, `matrix[view]` is categories x the view's
    columns (1 where the category counts in the column)."""

    lut: np.ndarray
    matrix: dict[str, np.ndarray]


@cache
def _categories() -> _Categories:
    code = np.zeros(len(_IDX), dtype=np.int64)
    bit = 0
    for columns in _COLUMNS.values():
        for _, rows in columns:
            code |= rows().astype(np.int64) << bit
            bit += 1
    combos, lut = np.unique(code, return_inverse=True)
    matrix, bit = {}, 0
    for name, columns in _COLUMNS.items():
        matrix[name] = (combos[:, None] >> np.arange(bit, bit + len(columns))) & 1
        bit += len(columns)
    return _Categories(lut.astype(np.int32), matrix)


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


# Overlays on a row's bytes: the kind...flags bytes as one u64 and vcpu+device as one u32,
# so a chunk is read with three strided passes instead of six (the 58-byte rows make every
# column read a strided copy, which is what the time goes into).
_OFF = {name: ROW_DTYPE.fields[name][1] for name in ROW_DTYPE.names}
_SHIFT = {name: 8 * (_OFF[name] - _OFF["kind"]) for name in ("kind", "reason", "flags")}
assert _OFF["flags"] - _OFF["kind"] < 8 and _OFF["device"] - _OFF["vcpu"] == 2
_OVERLAY = np.dtype({"names": ["bits", "who", "msr"], "formats": ["<u8", "<u4", "<u4"],
                     "offsets": [_OFF["kind"], _OFF["vcpu"], _OFF["msr"]],
                     "itemsize": ROW_DTYPE.itemsize})


def _index(bits: np.ndarray) -> np.ndarray:
    """The 17-bit (kind, flags & 63, reason & 7) index of each row (in place: no
    temporaries beyond two)."""
    idx = bits >> (_SHIFT["flags"] - 3)
    idx &= 63 << 3
    part = bits >> _SHIFT["reason"]
    part &= 7
    idx |= part
    np.right_shift(bits, _SHIFT["kind"], out=part)
    part &= 0xFF
    part <<= 9
    idx |= part
    return idx


def _present(per_key: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keys, counts per column) of the keys with anything counted in the view."""
    totals = per_key @ matrix
    present = np.flatnonzero(totals.any(axis=1))
    return present, totals[present]


class _MsrAccumulator:
    """Dense ids for MSR indices (sparse u32s), looked up through the index's high 16 bits'
    slot and its low 16 bits: two gathers a chunk. Slot 0 is all "unknown", so an unseen
    high half needs no test; the few MSR ranges a log touches (0x0..., 0x4000_0000...,
    0xc000_0000...) cost 256 KiB each."""

    def __init__(self) -> None:
        self.slot = np.zeros(1 << 16, np.int32)  # high 16 bits -> row of `ids` (0: none)
        self.ids = np.full(1 << 16, -1, np.int32)  # row * 65536 + low 16 bits -> id
        self.msrs: list[int] = []  # id -> MSR index

    def _learn(self, msr: np.ndarray) -> None:
        for index in np.unique(msr).tolist():
            high = index >> 16
            if not self.slot[high]:
                self.slot[high] = len(self.ids) >> 16
                self.ids = np.concatenate([self.ids, np.full(1 << 16, -1, np.int32)])
            self.ids[(int(self.slot[high]) << 16) + (index & 0xFFFF)] = len(self.msrs)
            self.msrs.append(index)

    def _dense(self, msr: np.ndarray) -> np.ndarray:
        flat = self.slot[msr >> 16]
        flat <<= 16
        flat |= (msr & 0xFFFF).view(np.int32)
        return self.ids[flat]

    def ids_of(self, msr: np.ndarray) -> np.ndarray:
        """Each MSR's dense id (int32), learning the new ones."""
        ids = self._dense(msr)
        if ids.min(initial=0) < 0:
            self._learn(msr[ids < 0])
            ids = self._dense(msr)
        return ids


def _rows(keys: np.ndarray, counts: np.ndarray, label: Callable[[int], str],
          filt: Callable[[int], str]) -> tuple[StatRow, ...]:
    return tuple(StatRow(label(k), tuple(c), filt(k))
                 for k, c in zip(keys.tolist(), counts.tolist(), strict=True))


@dataclass(frozen=True)
class _Part:
    """The counts of one block of rows: per MSR index, and per (vCPU + 1, device + 1)."""

    msrs: np.ndarray  # MSR indices
    msr_counts: np.ndarray  # len(msrs) x categories
    who: np.ndarray  # (vcpu + 1) x ndev x categories
    events: int


# Counts of whole chunks, per log: a full chunk never changes until rows are cut off
# (generation), so after the first count a refresh only counts the last, growing chunk.
_CHUNK_CACHE: weakref.WeakKeyDictionary[EventLog, tuple[int, dict[int, _Part]]] = (
    weakref.WeakKeyDictionary())


def forget_counts() -> None:
    """Drop the kept counts of whole chunks (a benchmark times a first count with this)."""
    _CHUNK_CACHE.clear()


def _count(block: np.ndarray, keep: np.ndarray | None, dense: _MsrAccumulator,
           ndev: int) -> _Part:
    cats = _categories()
    ncat = len(cats.matrix["msr"])
    over = block.view(_OVERLAY)
    cat, msr, who = cats.lut[_index(over["bits"])], over["msr"], over["who"].view(np.int32)
    if keep is not None:  # select from the narrow results, not the 58-byte rows
        cat, msr, who = cat[keep], msr[keep], who[keep]
    ids = dense.ids_of(msr)
    ids *= ncat
    ids += cat
    per_id = np.bincount(ids, minlength=len(dense.msrs) * ncat).reshape(-1, ncat)
    present = np.flatnonzero(per_id.any(axis=1))
    key = who + 1  # the vCPU in the low half: -1 (none) -> 0
    key &= 0xFFFF
    key *= ndev
    device = who >> 16  # arithmetic: -1 stays -1
    device += 1
    key += device
    key *= ncat
    key += cat
    counted = np.bincount(key, minlength=ndev * ncat)
    per_who = np.zeros(-(-len(counted) // (ndev * ncat)) * ndev * ncat, np.int64)
    per_who[:len(counted)] = counted
    return _Part(np.array(dense.msrs, dtype=np.int64)[present], per_id[present],
                 per_who.reshape(-1, ndev, ncat), len(cat))


def _parts(log: EventLog, rows: range, mask: np.ndarray | None) -> list[_Part]:
    ndev = max(log.devices, default=-1) + 2
    generation, cached = _CHUNK_CACHE.get(log, (-1, {}))
    if generation != log.generation:
        cached = {}
        _CHUNK_CACHE[log] = (log.generation, cached)
    dense = _MsrAccumulator()
    parts = []
    for row, block in log.blocks(rows.start, rows.stop):
        whole = mask is None and len(block) == log.chunk_rows
        part = cached.get(row) if whole else None
        if part is None or part.who.shape[1] != ndev:  # a device was added since
            keep = None if mask is None else mask[row - rows.start:row - rows.start
                                                  + len(block)]
            part = _count(block, keep, dense, ndev)
            if whole:
                cached[row] = part
        parts.append(part)
    return parts


def compute(log: EventLog, rows: range | None = None,
            mask: np.ndarray | None = None) -> Statistics:
    """Statistics over log rows `rows` (all by default), only those `mask` keeps (a mask
    over `rows`, e.g. a display filter's)."""
    rows = range(0, len(log)) if rows is None else rows
    cats = _categories()
    ncat = len(cats.matrix["msr"])
    devices = log.devices
    parts = _parts(log, rows, mask)
    msrs, inverse = np.unique(np.concatenate([np.zeros(0, np.int64)]
                                             + [p.msrs for p in parts]), return_inverse=True)
    per_msr = np.zeros((len(msrs), ncat), np.int64)
    np.add.at(per_msr, inverse, np.concatenate([np.zeros((0, ncat), np.int64)]
                                              + [p.msr_counts for p in parts]))
    ndev = max(log.devices, default=-1) + 2
    per_who = np.zeros((max((p.who.shape[0] for p in parts), default=1), ndev, ncat),
                       np.int64)
    for p in parts:
        per_who[:p.who.shape[0]] += p.who
    tables = []
    for name, title, key_name, label, filt, (found, counts) in (
        ("msr", "MSRs", "MSR", lambda k: f"{k:#x} {msr_name(k)}", lambda k: f"msr={k:#x}",
         _present(per_msr, cats.matrix["msr"])),
        ("vcpu", "vCPUs", "vCPU", str, lambda k: f"vcpu={k}",
         _present(per_who.sum(axis=1)[1:], cats.matrix["vcpu"])),
        ("device", "PCI devices", "Device", lambda k: devices.get(k, str(k)),
         lambda k: f"device={devices.get(k, k)}",
         _present(per_who.sum(axis=0)[1:], cats.matrix["device"])),
    ):
        keys = msrs[found] if name == "msr" else found
        tables.append(StatTable(title, key_name, tuple(c for c, _ in _COLUMNS[name]),
                                _rows(keys, counts, label, filt)))
    per_reason = per_who.sum(axis=(0, 1)) @ cats.matrix["reason"]
    tables.append(StatTable("Exit reasons", "Exit reason", ("Count",), tuple(
        StatRow(label, (int(count),), expr)
        for (label, expr, _), count in zip(REASONS, per_reason.tolist(), strict=True))))
    return Statistics(sum(p.events for p in parts), tuple(tables))


def reason_counts(log: EventLog, first: int, last: int) -> np.ndarray:
    """Exits per REASONS entry among rows [first, last): what live rates are made of."""
    cats = _categories()
    counts = np.zeros(len(cats.matrix["reason"]), np.int64)
    for _, block in log.blocks(first, last):
        counts += np.bincount(cats.lut[_index(block.view(_OVERLAY)["bits"])],
                              minlength=len(counts))
    return counts @ cats.matrix["reason"]


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
