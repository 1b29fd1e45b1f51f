"""EventLog: the session's events as fixed-width rows in chunked numpy storage.

A session can produce tens of millions of events, so a row is 58 packed little-endian
bytes in a structured numpy array rather than a Python object. Rows live in chunks of
CHUNK_ROWS: appending fills the current chunk and a full one is left alone for good, so
an append is O(1) and never copies old rows. The kvm_stat-style counters are kept up to
date on append, and filters run chunk by chunk on the columns with numpy.

The row number is the event's sequence number; `step` is the session's command counter,
which never decreases, so time travel can cut the log at a step. Nothing in a row comes
from a clock: replaying a recording must produce the same bytes, which `digest` checks.
Not thread-safe: one thread appends, reads and flushes observers.
"""

from __future__ import annotations

import errno as errno_mod
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from workbench.session.eventlog import query
from workbench.session.eventlog.kinds import (
    EXIT_KIND_OF_REASON,
    EXIT_KINDS,
    KVM_EXIT_IO,
    KVM_EXIT_IO_OUT,
    KVM_EXIT_X86_RDMSR,
    KVM_EXIT_X86_WRMSR,
    VFIO_BASE,
    EventKind,
    Flag,
    MsrExitReason,
)
from workbench.vfio.events import EventKind as VfioKind
from workbench.vfio.events import Site, TrapEvent

CHUNK_ROWS = 1 << 16
U64 = (1 << 64) - 1

# (name, dtype, default): the order is the tuple order of a row and of the digest's bytes.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("step", "<u8", 0),  # the session's command counter when the event happened
    ("value", "<u8", 0),  # data read/written/answered (two's complement if negative)
    ("aux", "<u8", 0),  # RIP for KVM rows, the device's (phys) value for vfio rows
    ("msr", "<u4", 0),  # MSR index (MSR kinds only)
    ("virt", "<u4", 0),  # vfio: vconfig value
    ("mask", "<u4", 0),  # vfio: virtualized bits
    ("offset", "<u4", 0),  # vfio config/BAR offset, I/O port
    ("arg", "<i4", 0),  # vfio arg, KVM exit_reason, I/O count, cap number, filter flags
    ("vcpu", "<i2", -1),  # vCPU id, -1 for none
    ("device", "<i2", -1),  # vfio dev_id (see EventLog.devices), -1 for none
    ("errno", "<i2", 0),  # errno of a failed operation, kvm_run.msr.error of an answer
    ("kind", "u1", 0),  # EventKind
    ("vkind", "u1", 0),  # workbench.vfio EventKind, 0 for KVM rows
    ("site", "u1", 0),  # vfio Site
    ("size", "u1", 0),  # access size in bytes
    ("reason", "u1", 0),  # KVM_MSR_EXIT_REASON_* bits
    ("result", "u1", 0),  # MsrResult of the in-kernel handler
    ("flags", "u1", 0),  # Flag bits
    ("bar", "i1", -1),  # vfio BAR index, -1 for none
)
ROW_DTYPE = np.dtype([(name, fmt) for name, fmt, _ in COLUMNS])
FIELDS = tuple(name for name, _, _ in COLUMNS)
_DEFAULTS = {name: default for name, _, default in COLUMNS}
_IS_EXIT = tuple(k in EXIT_KINDS for k in range(256))
_EXIT_LUT = np.array(_IS_EXIT)
_KNOWN_KIND = tuple(k in EventKind._value2member_map_ for k in range(256))
_KNOWN_LUT = np.array(_KNOWN_KIND)
_MSR_EXIT = int(EventKind.MSR_EXIT)
_RESULT_OF_REASON = {int(MsrExitReason.INVAL): 1, int(MsrExitReason.UNKNOWN): 2}  # MsrResult
# Plain ints for the per-event paths: IntFlag arithmetic costs more than the row write.
_WRITE, _ALLOWED, _EXITED, _GP, _ERROR, _PASSTHROUGH = (int(f) for f in Flag)
_FILTER = int(MsrExitReason.FILTER)
_DIGEST_PERSON = b"wb-eventlog-v1"  # changes with COLUMNS, so old digests never match


class MsrAccessLike(Protocol):
    """workbench.kvm.sim.MsrAccess, duck-typed so the log never imports the simulator."""

    vcpu_id: int
    rip: int
    index: int
    write: bool
    value: int
    allowed: bool
    result: int
    reason: int
    exited: bool
    gp: bool


Observer = Callable[[int, int], None]


@dataclass
class _Subscription:
    callback: Observer
    cursor: int  # rows before this have been delivered
    rewound: bool = False  # rows it saw were truncated since its last batch


@dataclass
class _Tally:
    """Counter contributions of a block of rows, so append, extend and truncate agree."""

    kinds: np.ndarray  # counts per kind value (256)
    reasons: np.ndarray  # MSR_EXIT rows per reason byte (256)
    vcpu_exits: dict[int, int]


class EventLog:
    """The session's event log; see the module docstring for the storage model."""

    def __init__(self, chunk_rows: int = CHUNK_ROWS) -> None:
        """`chunk_rows` only changes for tests that want many chunk boundaries cheaply."""
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
        self._chunk_rows = chunk_rows
        self._chunks: list[np.ndarray] = []
        self._cur = np.empty(0, ROW_DTYPE)
        self._off = self._chunk_rows  # rows used in _cur; full until the first append
        self._n = 0
        self._last_step = 0
        self._version = 0  # bumped by truncate, so cached columns never outlive it
        self._cache: dict[str, tuple[int, int, np.ndarray]] = {}
        self._kind_counts = [0] * 256
        self._reason_counts = [0] * 256
        self._vcpu_exits: dict[int, int] = {}
        self._devices: dict[int, str] = {}
        self._subs: list[_Subscription] = []

    # --- appending -------------------------------------------------------------------------
    def append(
        self,
        kind: int,
        *,
        step: int,
        vcpu: int = -1,
        device: int = -1,
        msr: int = 0,
        value: int = 0,
        aux: int = 0,
        virt: int = 0,
        mask: int = 0,
        offset: int = 0,
        arg: int = 0,
        errno: int = 0,
        site: int = 0,
        size: int = 0,
        reason: int = 0,
        result: int = 0,
        flags: int = 0,
        bar: int = -1,
    ) -> int:
        """Append one event (fields as documented on EventKind); return its row number.

        The `vkind` column follows from `kind`; a device must be registered (add_device).
        """
        if device != -1 and device not in self._devices:
            raise ValueError(f"device id {device} is not registered (add_device)")
        vkind = kind - VFIO_BASE if kind > VFIO_BASE else 0
        return self._put(
            (step, value & U64, aux & U64, msr, virt, mask, offset, arg, vcpu, device, errno,
             kind, vkind, site, size, reason, result, flags, bar)
        )

    def append_msr_access(self, access: MsrAccessLike, step: int) -> int | None:
        """Log an access the kernel finished (read, write or #GP); return its row.

        An access that exits to user space returns None: run() returns its exit record,
        and append_exit logs that, so the host engine (which has no such observer) and the
        sim produce the same rows.
        """
        if access.exited:
            return None
        write = access.write
        if access.gp:
            kind = EventKind.MSR_GP
        else:
            kind = EventKind.MSR_WRITE if write else EventKind.MSR_READ
        flags = (_WRITE if write else 0) | (_ALLOWED if access.allowed else 0) | (
            _GP if access.gp else 0) | (_PASSTHROUGH if access.passthrough else 0)
        return self._put(
            (step, access.value & U64, access.rip & U64, access.index, 0, 0, 0, 0,
             access.vcpu_id, -1, 0, kind, 0, 0, 0, access.reason, access.result, flags, -1)
        )

    def append_exit(self, exit_: Any, vcpu: int, step: int) -> int:
        """Log a VcpuExit that run() returned, before user space answers it."""
        reason_code = exit_.exit_reason
        kind = EXIT_KIND_OF_REASON.get(reason_code, EventKind.OTHER_EXIT)
        msr = value = offset = size = reason = result = flags = 0
        arg = reason_code
        if kind is EventKind.MSR_EXIT:
            m = exit_.msr
            msr, reason = m.index, m.reason
            flags = _EXITED if reason & _FILTER else _EXITED | _ALLOWED
            result = _RESULT_OF_REASON.get(reason, 0)
            if reason_code == KVM_EXIT_X86_WRMSR:
                flags |= _WRITE
                value = m.data
        elif kind is EventKind.IO_EXIT:
            io = exit_.io
            offset, size, arg = io.port, io.size, io.count
            if io.direction == KVM_EXIT_IO_OUT:
                flags, value = _WRITE, io.data
        return self._put(
            (step, value & U64, exit_.rip & U64, msr, 0, 0, offset, arg, vcpu, -1, 0, kind, 0,
             0, size, reason, result, flags, -1)
        )

    def append_answer(self, exit_: Any, vcpu: int, step: int) -> int:
        """Log user space's answer to an MSR or IN exit, as filled into the VcpuExit."""
        code = exit_.exit_reason
        if code in (KVM_EXIT_X86_RDMSR, KVM_EXIT_X86_WRMSR):
            m = exit_.msr
            flags = (_WRITE if code == KVM_EXIT_X86_WRMSR else 0) | (_ERROR if m.error else 0)
            return self._put(
                (step, m.data & U64, exit_.rip & U64, m.index, 0, 0, 0, code, vcpu, -1,
                 m.error, EventKind.USER_ANSWER, 0, 0, 0, m.reason, 0, flags, -1)
            )
        if code == KVM_EXIT_IO and exit_.io.direction != KVM_EXIT_IO_OUT:
            io = exit_.io
            return self._put(
                (step, io.data & U64, exit_.rip & U64, 0, 0, 0, io.port, io.count, vcpu, -1,
                 0, EventKind.IO_ANSWER, 0, 0, io.size, 0, 0, 0, -1)
            )
        raise ValueError(f"exit_reason {code} has no answer from user space")

    def append_user_gp(self, exit_: Any, vcpu: int, step: int) -> int:
        """Log the #GP a guest takes on re-entry because user space failed its MSR exit
        (kvm_run.msr.error != 0): a #GP like any other, flagged EXITED|ERROR for its cause."""
        m = exit_.msr
        flags = _GP | _EXITED | _ERROR | (_WRITE if exit_.exit_reason == KVM_EXIT_X86_WRMSR
                                          else 0)
        return self._put(
            (step, m.data & U64, exit_.rip & U64, m.index, 0, 0, 0, exit_.exit_reason, vcpu,
             -1, m.error, EventKind.MSR_GP, 0, 0, 0, m.reason, 0, flags, -1)
        )

    def append_vfio(self, event: TrapEvent, step: int) -> int:
        """Log a vfio TrapEvent; its device address joins the device table."""
        dev = event.dev_id
        if self._devices.get(dev) != event.device:
            self.add_device(dev, event.device)
        vkind = event.kind
        return self._put(
            (step, event.value & U64, event.phys & U64, 0, event.virt, event.mask,
             event.offset, event.arg, -1, dev, event.errno, VFIO_BASE + vkind, vkind,
             event.site, event.size, 0, 0, 0, event.bar)
        )

    def add_device(self, dev_id: int, address: str) -> None:
        """Name a device id (vfio's dev_id); ids are never renamed within a log."""
        known = self._devices.get(dev_id)
        if known is not None and known != address:
            raise ValueError(f"device id {dev_id} is {known}, cannot also be {address}")
        if not query.is_address(address):
            raise ValueError(f"{address!r} is not a PCI address (dddd:bb:dd.f)")
        if not 0 <= dev_id < 1 << 15:
            raise ValueError(f"device id {dev_id} does not fit the device column")
        self._devices[dev_id] = address

    def _put(self, row: tuple) -> int:
        """The one per-event path: write the row, then the counters (O(1))."""
        step = row[0]
        if step < self._last_step:
            raise ValueError(f"step {step} is before the last logged step {self._last_step}")
        kind = row[11]
        if not _KNOWN_KIND[kind]:
            raise ValueError(f"unknown event kind {kind}")
        off = self._off
        if off == self._chunk_rows:
            self._new_chunk()
            off = 0
        try:
            self._cur[off] = row
        except (OverflowError, ValueError, TypeError) as exc:
            raise ValueError(_bad_field(row, exc)) from None
        self._off = off + 1
        self._last_step = step
        self._kind_counts[kind] += 1
        if _IS_EXIT[kind]:
            vcpu = row[8]
            self._vcpu_exits[vcpu] = self._vcpu_exits.get(vcpu, 0) + 1
            if kind == _MSR_EXIT:
                self._reason_counts[row[15]] += 1
        n = self._n
        self._n = n + 1
        return n

    def _new_chunk(self) -> None:
        self._cur = np.zeros(self._chunk_rows, ROW_DTYPE)
        self._chunks.append(self._cur)
        self._off = 0

    def extend_columns(self, **arrays: Any) -> range:
        """Bulk append (benchmarks, loading a recording): equal-length columns by name.

        `kind` and `step` are required; a missing column takes its default, a scalar is
        broadcast, `vkind` follows from `kind`. Values are range-checked against the column
        dtypes. Returns the new rows.
        """
        unknown = set(arrays) - set(FIELDS) | ({"vkind"} & set(arrays))
        if unknown:
            raise ValueError(f"cannot take columns {', '.join(sorted(unknown))} "
                             "(vkind follows from kind)")
        if "kind" not in arrays or "step" not in arrays:
            raise ValueError("extend_columns needs at least kind and step")
        lengths = {np.shape(a)[0] for a in arrays.values() if np.ndim(a) == 1}
        if len(lengths) != 1:
            raise ValueError(f"columns must be 1-d with one length, got lengths {lengths}")
        count = lengths.pop()
        cols = {name: _checked(name, arrays.get(name, _DEFAULTS[name]), count)
                for name in FIELDS if name != "vkind"}
        kinds = cols["kind"]
        cols["vkind"] = np.where(kinds > VFIO_BASE, kinds - VFIO_BASE, 0).astype(np.uint8)
        _check_rows(cols, self._last_step, self._devices)
        first = self._n
        done = 0
        while done < count:
            if self._off == self._chunk_rows:
                self._new_chunk()
            take = min(self._chunk_rows - self._off, count - done)
            block = self._cur[self._off:self._off + take]
            for name, col in cols.items():
                block[name] = col[done:done + take]
            self._off += take
            done += take
        self._n += count
        if count:
            self._last_step = int(cols["step"][-1])
        self._apply(self._tally(first, self._n), +1)
        return range(first, self._n)

    # --- reading ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Bytes held by the row storage (allocated chunks, including unused tail rows)."""
        return sum(c.nbytes for c in self._chunks)

    @property
    def devices(self) -> dict[int, str]:
        """Device ids in the `device` column and their PCI addresses."""
        return dict(self._devices)

    def _blocks(self, first: int, last: int) -> Iterator[tuple[int, np.ndarray]]:
        """(row of the block's first row, block) covering rows [first, last)."""
        row = first
        while row < last:
            ci, off = divmod(row, self._chunk_rows)
            take = min(self._chunk_rows - off, last - row)
            yield row, self._chunks[ci][off:off + take]
            row += take

    def _span(self, first: int | None, last: int | None) -> tuple[int, int]:
        first = 0 if first is None else first
        last = self._n if last is None else last
        if not 0 <= first <= last <= self._n:
            raise IndexError(f"rows [{first}, {last}) are not within [0, {self._n})")
        return first, last

    def rows(self, first: int | None = None, last: int | None = None) -> np.ndarray:
        """A copy of rows [first, last) as one structured array (ROW_DTYPE)."""
        first, last = self._span(first, last)
        out = np.empty(last - first, ROW_DTYPE)
        for row, block in self._blocks(first, last):
            out[row - first:row - first + len(block)] = block
        return out

    def column(self, name: str) -> np.ndarray:
        """One column over all rows, read-only; cached until the log changes."""
        if name not in _DEFAULTS:
            raise KeyError(f"no column {name!r}; columns: {', '.join(FIELDS)}")
        cached = self._cache.get(name)
        if cached is not None and cached[:2] == (self._n, self._version):
            return cached[2]
        out = np.empty(self._n, ROW_DTYPE[name])
        for row, block in self._blocks(0, self._n):
            out[row:row + len(block)] = block[name]
        out.flags.writeable = False
        self._cache[name] = (self._n, self._version, out)
        return out

    def row(self, i: int) -> dict[str, Any]:
        """Row `i` decoded for the detail view: every column plus enums and the address."""
        i = self._index(i)
        ci, off = divmod(i, self._chunk_rows)
        record = self._chunks[ci][off]
        out: dict[str, Any] = {"row": i}
        out.update((name, int(record[name])) for name in FIELDS)
        kind = EventKind(out["kind"])
        out["kind"] = kind
        out["flags"] = Flag(out["flags"])
        out["device_id"] = out["device"]
        out["device"] = self._devices.get(out["device"])
        out["vfio_kind"] = VfioKind(out["vkind"]) if kind.is_vfio else None
        site = out["site"]
        out["site"] = Site(site) if kind.is_vfio and site in Site._value2member_map_ else None
        out["reason"] = MsrExitReason(out["reason"])
        return out

    def _index(self, i: int) -> int:
        if not -self._n <= i < self._n:
            raise IndexError(f"row {i} out of range for {self._n} rows")
        return i % self._n

    def format_row(self, i: int) -> str:
        """One line for row `i`: step, row number, then what happened, values in hex."""
        r = self.row(i)
        head = f"step {r['step']:<5} "
        kind: EventKind = r["kind"]
        if kind.is_vfio:
            try:
                return head + self._trap_event(r).format()
            except (ValueError, KeyError):  # fields vfio never produces (a bulk-loaded row)
                return f"{head}#{r['row']:<4} {r['device']} {kind.name} value={r['value']:#x}"
        vcpu = f"vcpu{r['vcpu']}" if r["vcpu"] >= 0 else "-"
        return f"{head}#{r['row']:<4} {vcpu} {kind.name:<11} {_describe(r)}".rstrip()

    def _trap_event(self, r: dict[str, Any]) -> TrapEvent:
        """Rebuild the vfio event, so the line reads exactly like vfio's own format()."""
        value = r["value"]
        if r["vfio_kind"] is VfioKind.FLAG_CHANGE and value >> 63:
            value -= 1 << 64  # physfn=-1 ("none") was stored as two's complement
        return TrapEvent(
            seq=r["row"], kind=r["vfio_kind"], device=r["device"] or "?",
            dev_id=r["device_id"], site=r["site"] or Site.NONE, offset=r["offset"],
            size=r["size"], value=value, phys=r["aux"], virt=r["virt"], mask=r["mask"],
            bar=r["bar"], errno=r["errno"], arg=r["arg"],
        )

    # --- filtering -------------------------------------------------------------------------
    def mask(
        self,
        kinds: query.KindSpec | None = None,
        msr: query.IntSpec | None = None,
        vcpu: query.IntSpec | None = None,
        device: query.DeviceSpec | None = None,
        reason: query.ReasonSpec | None = None,
        steps: query.IntSpec | None = None,
    ) -> np.ndarray:
        """Boolean mask over all rows: rows matching every given key (parse_filter's keys).

        kinds takes EventKind values, names or groups (EXIT, MSR, VFIO); msr/vcpu/steps an
        int, a range/slice or several; device an id or a PCI address; reason INVAL/
        UNKNOWN/FILTER bits (any of them set). An msr filter only matches MSR kinds.
        """
        preds = query.predicates(
            kinds=kinds, msr=msr, vcpu=vcpu, device=device, reason=reason, steps=steps,
            device_ids=self._device_ids,
        )
        out = np.ones(self._n, dtype=bool)
        if not preds:
            return out
        for row, block in self._blocks(0, self._n):
            part = out[row:row + len(block)]
            for pred in preds:
                part &= pred(block)
        return out

    def select(self, **filters: Any) -> np.ndarray:
        """Row numbers matching `mask(**filters)`, ascending."""
        return np.flatnonzero(self.mask(**filters))

    def _device_ids(self, address: str) -> list[int]:
        address = address.lower()
        return [i for i, a in self._devices.items() if a == address]

    def row_of_step(self, step: int) -> int:
        """The first row logged at `step` or later (len(log) if none): where to truncate."""
        for row, block in self._blocks(0, self._n):
            if block["step"][-1] >= step:
                return row + int(np.searchsorted(block["step"], step, side="left"))
        return self._n

    # --- counters --------------------------------------------------------------------------
    def counters(self) -> dict[str, Any]:
        """kvm_stat's view: events per kind, MSR exits per reason, exits per vCPU."""
        reasons = {r.name: 0 for r in MsrExitReason}
        for value, count in enumerate(self._reason_counts):
            for r in MsrExitReason:
                if count and value & r:
                    reasons[r.name] += count
        kinds = {EventKind(k).name: c for k, c in enumerate(self._kind_counts) if c}
        return {
            "events": self._n,
            "exits": sum(self._vcpu_exits.values()),
            "kinds": kinds,
            "msr_exit_reasons": reasons,
            "vcpu_exits": {v: c for v, c in sorted(self._vcpu_exits.items()) if c},
        }

    def _tally(self, first: int, last: int) -> _Tally:
        """Counter contributions of rows [first, last), computed from the columns."""
        kinds = np.zeros(256, np.int64)
        reasons = np.zeros(256, np.int64)
        vcpus: dict[int, int] = {}
        for _, block in self._blocks(first, last):
            k = block["kind"]
            kinds += np.bincount(k, minlength=256)
            exits = _EXIT_LUT[k]
            values, counts = np.unique(block["vcpu"][exits], return_counts=True)
            for v, c in zip(values.tolist(), counts.tolist(), strict=True):
                vcpus[v] = vcpus.get(v, 0) + c
            reasons += np.bincount(block["reason"][k == _MSR_EXIT], minlength=256)
        return _Tally(kinds, reasons, vcpus)

    def _apply(self, tally: _Tally, sign: int) -> None:
        for k in np.flatnonzero(tally.kinds).tolist():
            self._kind_counts[k] += sign * int(tally.kinds[k])
        for r in np.flatnonzero(tally.reasons).tolist():
            self._reason_counts[r] += sign * int(tally.reasons[r])
        for v, c in tally.vcpu_exits.items():
            left = self._vcpu_exits.get(v, 0) + sign * c
            if left:
                self._vcpu_exits[v] = left
            else:
                self._vcpu_exits.pop(v, None)

    # --- time travel -----------------------------------------------------------------------
    def truncate(self, n: int) -> None:
        """Drop rows n and later (stepping back); counters lose exactly those rows."""
        if not 0 <= n <= self._n:
            raise IndexError(f"cannot truncate {self._n} rows to {n}")
        if n == self._n:
            return
        self._apply(self._tally(n, self._n), -1)
        keep = -(-n // self._chunk_rows)  # chunks holding rows < n
        del self._chunks[keep:]
        self._cur = self._chunks[-1] if self._chunks else np.empty(0, ROW_DTYPE)
        self._off = n - (keep - 1) * self._chunk_rows if keep else self._chunk_rows
        self._n = n
        self._last_step = int(self._cur[self._off - 1]["step"]) if n else 0
        self._version += 1
        self._cache.clear()
        for sub in self._subs:
            if sub.cursor > n:
                sub.cursor, sub.rewound = n, True

    # --- observers -------------------------------------------------------------------------
    def subscribe(self, callback: Observer) -> Callable[[], None]:
        """Deliver new rows to `callback(first, last)` in batches; returns an unsubscriber.

        Batches come only from flush_observers (the GUI's timer, the session after each
        command), never per event. A batch whose `first` is below the previous batch's
        `last` means rows from `first` on were truncated (and possibly replaced): drop
        them first. The callback starts with rows appended after it subscribed.
        """
        if not callable(callback):
            raise TypeError(f"observer must be callable, got {type(callback).__name__}")
        sub = _Subscription(callback, self._n)
        self._subs.append(sub)

        def unsubscribe() -> None:
            if sub in self._subs:
                self._subs.remove(sub)

        return unsubscribe

    def flush_observers(self) -> None:
        """Send each observer one batch covering what changed since its last batch."""
        n = self._n
        for sub in list(self._subs):
            if sub.cursor < n or sub.rewound:
                first, sub.cursor, sub.rewound = sub.cursor, n, False
                sub.callback(first, n)

    # --- replay ----------------------------------------------------------------------------
    def digest(self, first: int | None = None, last: int | None = None) -> str:
        """Stable hash of rows [first, last): blake2b over their little-endian bytes."""
        first, last = self._span(first, last)
        h = hashlib.blake2b(digest_size=16, person=_DIGEST_PERSON)
        for _, block in self._blocks(first, last):
            h.update(block.data)
        return h.hexdigest()


def _checked(name: str, values: Any, count: int) -> np.ndarray:
    """A column for extend_columns in its dtype, refusing values it cannot hold."""
    dtype = ROW_DTYPE[name]
    arr = np.asarray(values)
    if arr.dtype.kind not in "biu":
        raise ValueError(f"column {name} must hold integers, got {arr.dtype}")
    if arr.size and arr.dtype != dtype and not np.can_cast(arr.dtype, dtype):
        info = np.iinfo(dtype)
        low, high = int(arr.min()), int(arr.max())
        if low < info.min or high > info.max:
            raise ValueError(f"column {name} holds [{low}, {high}], beyond {dtype}")
    # A scalar becomes a broadcast view: no 10-million-row array of defaults.
    return np.broadcast_to(arr.astype(dtype, copy=False), (count,))


def _check_rows(cols: dict[str, np.ndarray], last_step: int, devices: dict[int, str]) -> None:
    kinds = cols["kind"]
    if len(kinds) and not _KNOWN_LUT[kinds].all():
        bad = int(kinds[~_KNOWN_LUT[kinds]][0])
        raise ValueError(f"unknown event kind {bad}")
    step = cols["step"]
    if len(step) and (step[0] < last_step or np.any(step[1:] < step[:-1])):
        raise ValueError("steps must not decrease (within the batch and after the log)")
    used = np.flatnonzero(np.bincount(cols["device"].astype(np.int64) + 1)) - 1
    unknown = [d for d in used.tolist() if d != -1 and d not in devices]
    if unknown:
        raise ValueError(f"device ids {unknown} are not registered (add_device)")


def _bad_field(row: tuple, exc: Exception) -> str:
    """Which field of a rejected row did not fit its column."""
    for (name, fmt, _), value in zip(COLUMNS, row, strict=True):
        try:
            np.array(value, dtype=fmt)
        except (OverflowError, ValueError, TypeError):
            return f"{name}={value!r} does not fit the {name} column ({fmt})"
    return f"row rejected: {exc}"


_msr_name: Callable[[int], str] | None = None


def _name_of_msr(index: int) -> str:
    """The catalogue's name for an MSR, or hex while the catalogue cannot be imported."""
    global _msr_name
    if _msr_name is None:
        try:
            from workbench.kvm.msrs.catalogue import msr_name
        except ImportError:
            return f"{index:#x}"
        _msr_name = msr_name
    return _msr_name(index)


def _errname(code: int) -> str:
    return "ok" if code == 0 else errno_mod.errorcode.get(code, str(code))


def _reason_name(bits: int) -> str:
    return "+".join(r.name for r in MsrExitReason if bits & r and r.name) or "none"


def _describe(r: dict[str, Any]) -> str:
    """The kind-specific part of a KVM/session row's line."""
    kind: EventKind = r["kind"]
    write = bool(r["flags"] & Flag.WRITE)
    op = "wrmsr" if write else "rdmsr"
    msr = f"{op} {r['msr']:#x} ({_name_of_msr(r['msr'])})"
    rip = f"rip={r['aux']:#x}"
    if kind is EventKind.MSR_READ or kind is EventKind.MSR_WRITE:
        arrow = "<-" if write else "->"
        failed = "" if r["result"] == 0 else f" result={r['result']}"
        through = " (passthrough: no VM exit)" if r["flags"] & Flag.PASSTHROUGH else ""
        return f"{msr} {arrow} {r['value']:#x}{failed}{through} {rip}"
    if kind is EventKind.MSR_GP:
        cause = f" (user space error={r['errno']})" if r["flags"] & Flag.ERROR else ""
        return f"{msr} reason={_reason_name(r['reason'])} -> #GP{cause} {rip}"
    if kind is EventKind.MSR_EXIT:
        data = f" data={r['value']:#x}" if write else ""
        return f"{msr} reason={_reason_name(r['reason'])}{data} {rip}"
    if kind is EventKind.USER_ANSWER:
        if r["flags"] & Flag.ERROR:
            return f"{msr} error={r['errno']} (#GP)"
        return f"{msr} accepted" if write else f"{msr} data={r['value']:#x}"
    if kind is EventKind.IO_EXIT:
        data = f" data={r['value']:#x}" if write else ""
        way = "out" if write else "in"
        return f"{way} port={r['offset']:#x} size={r['size']}{data} {rip}"
    if kind is EventKind.IO_ANSWER:
        return f"in port={r['offset']:#x} data={r['value']:#x}"
    if kind is EventKind.OTHER_EXIT:
        return f"exit_reason={r['arg']} {rip}"
    if kind is EventKind.BREAKPOINT:
        return f"breakpoint {r['value']} {rip}"
    if kind is EventKind.FILTER_SET:
        return f"ranges={r['value']} flags={r['arg']:#x} -> {_errname(r['errno'])}"
    if kind is EventKind.CAP_SET:
        return f"cap={r['arg']} args[0]={r['value']:#x} -> {_errname(r['errno'])}"
    if kind is EventKind.PAUSE:
        return ""
    return rip
