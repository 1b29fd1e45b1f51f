"""What the statistics count per row, and the counts of one block of rows.

Each row's kind, flags and reason bits form a 17-bit index; a lookup table turns it into
a category (which columns of which statistics views the row counts in), and one bincount
over key * categories + category counts every column of every key at once. The log keeps
the counts of each full chunk from the moment it fills (EventLog.chunk_counts), so the
statistics of the whole log are a sum over kept counts plus the last, growing chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from workbench.session.eventlog.columns import ROW_DTYPE
from workbench.session.eventlog.kinds import EXIT_KINDS, EventKind, Flag

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
COLUMNS: dict[str, tuple[tuple[str, Callable[[], np.ndarray]], ...]] = {
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
COLUMNS["reason"] = tuple((label, rows) for label, _, rows in REASONS)


@dataclass(frozen=True)
class Categories:
    """One category per distinct combination of columns a row counts in, over all views:
    `lut` maps a row's 17-bit index to it, `matrix[view]` is categories x the view's
    columns (1 where the category counts in the column)."""

    lut: np.ndarray
    matrix: dict[str, np.ndarray]


@cache
def categories() -> Categories:
    code = np.zeros(len(_IDX), dtype=np.int64)
    bit = 0
    for columns in COLUMNS.values():
        for _, rows in columns:
            code |= rows().astype(np.int64) << bit
            bit += 1
    combos, lut = np.unique(code, return_inverse=True)
    matrix, bit = {}, 0
    for name, columns in COLUMNS.items():
        matrix[name] = (combos[:, None] >> np.arange(bit, bit + len(columns))) & 1
        bit += len(columns)
    return Categories(lut.astype(np.int32), matrix)


# Overlays on a row's bytes: the kind...flags bytes as one u64 and vcpu+device as one u32,
# so a chunk is read with three strided passes instead of six (the 58-byte rows make every
# column read a strided copy, which is what the time goes into).
_OFF = {name: ROW_DTYPE.fields[name][1] for name in ROW_DTYPE.names}
_SHIFT = {name: 8 * (_OFF[name] - _OFF["kind"]) for name in ("kind", "reason", "flags")}
assert _OFF["flags"] - _OFF["kind"] < 8 and _OFF["device"] - _OFF["vcpu"] == 2
_OVERLAY = np.dtype({"names": ["bits", "who", "msr"], "formats": ["<u8", "<u4", "<u4"],
                     "offsets": [_OFF["kind"], _OFF["vcpu"], _OFF["msr"]],
                     "itemsize": ROW_DTYPE.itemsize})


def category_of(block: np.ndarray) -> np.ndarray:
    """Each row's category (a block of log rows in, int32 out)."""
    bits = block.view(_OVERLAY)["bits"]
    idx = bits >> (_SHIFT["flags"] - 3)  # (kind, flags & 63, reason & 7), two temporaries
    idx &= 63 << 3
    part = bits >> _SHIFT["reason"]
    part &= 7
    idx |= part
    np.right_shift(bits, _SHIFT["kind"], out=part)
    part &= 0xFF
    part <<= 9
    idx |= part
    return categories().lut[idx]


_MAX_RANGES = 8  # MSR ranges (high 16 bits) MsrIds keeps a table for: 2 MiB at most


class MsrIds:
    """Dense ids for MSR indices (sparse u32s), looked up through the index's high 16 bits'
    slot and its low 16 bits: two gathers a chunk. Slot 0 is all "unknown", so an unseen
    high half needs no test; the few MSR ranges a log touches (0x0..., 0x4000_0000...,
    0xc000_0000...) cost 256 KiB each, and MSRs spread over more ranges get no ids."""

    def __init__(self) -> None:
        self.slot = np.zeros(1 << 16, np.int32)  # high 16 bits -> row of `ids` (0: none)
        self.ids = np.full(1 << 16, -1, np.int32)  # row * 65536 + low 16 bits -> id
        self.msrs = np.zeros(0, np.int64)  # id -> MSR index

    def _learn(self, msr: np.ndarray) -> bool:
        new = np.unique(msr)
        highs = np.unique(new >> 16)
        if (len(self.ids) >> 16) + np.count_nonzero(self.slot[highs] == 0) > _MAX_RANGES + 1:
            return False
        for n, index in enumerate(new.tolist(), start=len(self.msrs)):
            high = index >> 16
            if not self.slot[high]:
                self.slot[high] = len(self.ids) >> 16
                self.ids = np.concatenate([self.ids, np.full(1 << 16, -1, np.int32)])
            self.ids[(int(self.slot[high]) << 16) + (index & 0xFFFF)] = n
        self.msrs = np.concatenate([self.msrs, new.astype(np.int64)])
        return True

    def _dense(self, msr: np.ndarray) -> np.ndarray:
        flat = self.slot[msr >> 16]
        flat <<= 16
        flat |= (msr & 0xFFFF).view(np.int32)
        return self.ids[flat]

    def ids_of(self, msr: np.ndarray) -> np.ndarray | None:
        """Each MSR's dense id (int32), learning the new ones; None if they are spread
        over more ranges than it keeps tables for."""
        ids = self._dense(msr)
        if ids.min(initial=0) < 0:
            if not self._learn(msr[ids < 0]):
                return None
            ids = self._dense(msr)
        return ids


@dataclass(frozen=True)
class Counts:
    """The counts of one block of rows, sparse: `msrs` holds MSR index * categories +
    category for each (MSR, category) counted, `who` the same for each who key
    ((vcpu + 1) & 0xffff) << 16 | (device + 1); `*_counts` how many rows each."""

    msrs: np.ndarray
    msr_counts: np.ndarray
    who: np.ndarray
    who_counts: np.ndarray
    events: int

    @property
    def size(self) -> int:
        """Entries held: what keeping these counts costs (16 bytes each)."""
        return len(self.msrs) + len(self.who)


_MAX_SPAN = 1 << 22  # the most bincount slots a block's keys may spread over


def _sparse(counted: np.ndarray, ncat: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(slot // ncat, slot % ncat, count) of a bincount's non-zero slots."""
    nz = np.flatnonzero(counted)
    key, cat = np.divmod(nz, ncat)
    return key, cat, counted[nz]


def _msr_counts(msr: np.ndarray, cat: np.ndarray, ids: MsrIds,
                ncat: int) -> tuple[np.ndarray, np.ndarray]:
    dense = ids.ids_of(msr)
    if dense is None:  # MSRs all over the index space: sort instead
        return np.unique(msr.astype(np.int64) * ncat + cat, return_counts=True)
    dense *= ncat
    dense += cat
    key, kcat, n = _sparse(np.bincount(dense), ncat)
    return ids.msrs[key] * ncat + kcat, n


def _who_counts(who: np.ndarray, cat: np.ndarray, ndev: int,
                ncat: int) -> tuple[np.ndarray, np.ndarray]:
    vcpu = who + 1  # the vCPU in the low half: -1 (none) -> 0
    vcpu &= 0xFFFF
    device = who >> 16  # arithmetic: -1 stays -1
    device += 1
    if (int(vcpu.max(initial=0)) + 1) * ndev * ncat > _MAX_SPAN:  # wide ids: sort instead
        return np.unique((vcpu.astype(np.int64) << 16 | device) * ncat + cat,
                         return_counts=True)
    vcpu *= ndev
    vcpu += device
    vcpu *= ncat
    vcpu += cat
    key, kcat, n = _sparse(np.bincount(vcpu), ncat)
    v, d = np.divmod(key, ndev)
    return (v << 16 | d) * ncat + kcat, n


def count(block: np.ndarray, ids: MsrIds, ndev: int,
          keep: np.ndarray | None = None) -> Counts:
    """The counts of `block`'s rows (only those `keep` marks, if given); `ndev` is at
    least the largest device id in the block + 2."""
    ncat = len(categories().matrix["msr"])
    over = block.view(_OVERLAY)
    cat, msr, who = category_of(block), over["msr"], over["who"].view(np.int32)
    if keep is not None:  # select from the narrow results, not the 58-byte rows
        cat, msr, who = cat[keep], msr[keep], who[keep]
    return Counts(*_msr_counts(msr, cat, ids, ncat), *_who_counts(who, cat, ndev, ncat),
                  len(cat))
