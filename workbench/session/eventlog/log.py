"""EventLog: the session's events as fixed-width rows in chunked numpy storage.

A session can produce tens of millions of events, so a row is 58 packed little-endian
bytes (columns.COLUMNS) rather than a Python object, kept in chunks (storage.RowStore) so
an append is O(1). The kvm_stat-style counters are kept up to date on append, and filters
run chunk by chunk on the columns with numpy (query).

The row number is the event's sequence number; `step` is the session's command counter,
which never decreases, so time travel can cut the log at a step. Nothing in a row comes
from a clock: replaying a recording must produce the same bytes, which `digest` checks.
Not thread-safe: one thread appends, reads and flushes observers.
"""

from __future__ import annotations

import copy
import struct
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from workbench.kvm.uapi import KVM_EXIT_IO, KVM_EXIT_IO_OUT, KVM_EXIT_X86_RDMSR, KVM_EXIT_X86_WRMSR
from workbench.session.eventlog import counters, formatting, query
from workbench.session.eventlog.chunk_counts import Counts, MsrIds, count
from workbench.session.eventlog.columns import (
    CHUNK_ROWS,
    DEFAULTS,
    FIELDS,
    KNOWN_KINDS,
    ROW_STRUCT,
    bad_field,
    check_rows,
    checked_column,
)
from workbench.session.eventlog.digest import digest_of
from workbench.session.eventlog.kinds import (
    EXIT_KIND_OF_REASON,
    VFIO_BASE,
    EventKind,
    Flag,
    MsrExitReason,
)
from workbench.session.eventlog.observers import Observer, Observers
from workbench.session.eventlog.storage import RowStore
from workbench.values import U64_MAX
from workbench.vfio.events import TrapEvent

# Plain ints for the per-event paths: enum arithmetic costs more than the row write.
_WRITE, _ALLOWED, _EXITED, _GP, _ERROR, _PASSTHROUGH = (int(f) for f in Flag)
_FILTER = int(MsrExitReason.FILTER)
_RESULT_OF_REASON = {int(MsrExitReason.INVAL): 1, int(MsrExitReason.UNKNOWN): 2}  # MsrResult
_MSR_READ, _MSR_WRITE, _MSR_GP, _MSR_EXIT, _USER_ANSWER, _IO_EXIT, _IO_ANSWER = (
    int(k) for k in (EventKind.MSR_READ, EventKind.MSR_WRITE, EventKind.MSR_GP,
                     EventKind.MSR_EXIT, EventKind.USER_ANSWER, EventKind.IO_EXIT,
                     EventKind.IO_ANSWER))
_EXIT_KINDS = counters.EXIT_KIND_VALUES
_ROW_SIZE = ROW_STRUCT.size
# Most statistics entries kept per chunk (16 bytes each): 1 byte an event at most, whereas a
# chunk of rows about thousands of distinct MSRs or vCPUs is counted afresh when asked.
_KEEP_ENTRIES = CHUNK_ROWS // 16
_pack_row = ROW_STRUCT.pack_into


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
    passthrough: bool


class EventLog(RowStore):
    """The session's event log; see the module docstring for the storage model."""

    def __init__(self, chunk_rows: int = CHUNK_ROWS) -> None:
        """`chunk_rows` only changes for tests that want many chunk boundaries cheaply."""
        super().__init__(chunk_rows)
        self._last_step = 0
        self._counts = counters.Counters()
        self._devices: dict[int, str] = {}
        self._observers = Observers()
        self._kept: list[Counts | None] = []  # statistics' counts of each full chunk
        self._msr_ids: MsrIds | None = None

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
        Every single-row append comes through here: this is the per-event path.
        """
        if step < self._last_step:
            raise ValueError(f"step {step} is before the last logged step {self._last_step}")
        if kind not in KNOWN_KINDS:
            raise ValueError(f"unknown event kind {kind}")
        if device != -1 and device not in self._devices:
            raise ValueError(f"device id {device} is not registered (add_device)")
        vkind = kind - VFIO_BASE if kind > VFIO_BASE else 0
        off = self._off
        if off == self._chunk_rows:
            self._new_chunk()
            off = 0
        try:  # the arguments in columns.COLUMNS order
            _pack_row(self._buf, off * _ROW_SIZE, step, value & U64_MAX, aux & U64_MAX, msr, virt,
                      mask, offset, arg, vcpu, device, errno, kind, vkind, site, size, reason,
                      result, flags, bar)
        except (struct.error, OverflowError, TypeError):
            raise ValueError(bad_field(locals())) from None
        self._off = off + 1
        self._last_step = step
        counts = self._counts
        counts.kinds[kind] += 1
        if kind in _EXIT_KINDS:
            counts.vcpu_exits[vcpu] = counts.vcpu_exits.get(vcpu, 0) + 1
            if kind == _MSR_EXIT:
                counts.reasons[reason] += 1
        n = self._n
        self._n = n + 1
        return n

    def append_msr_access(self, access: MsrAccessLike, step: int) -> int | None:
        """Log an access the kernel finished (read, write or #GP); return its row.

        An access that exits to user space returns None: run() returns its exit record,
        and append_exit logs that, so the host engine (which has no such observer) and the
        sim produce the same rows.
        """
        if access.exited:
            return None
        write = access.write
        gp = access.gp
        return self.append(
            _MSR_GP if gp else _MSR_WRITE if write else _MSR_READ,
            step=step, vcpu=access.vcpu_id, msr=access.index, value=access.value,
            aux=access.rip, reason=access.reason, result=access.result,
            flags=(_WRITE if write else 0) | (_ALLOWED if access.allowed else 0)
            | (_GP if gp else 0) | (_PASSTHROUGH if access.passthrough else 0),
        )

    def append_exit(self, exit_: Any, vcpu: int, step: int) -> int:
        """Log a VcpuExit that run() returned, before user space answers it."""
        code = exit_.exit_reason
        kind = EXIT_KIND_OF_REASON.get(code, EventKind.OTHER_EXIT)
        if kind == _MSR_EXIT:
            m = exit_.msr
            reason = m.reason
            write = code == KVM_EXIT_X86_WRMSR
            return self.append(
                _MSR_EXIT, step=step, vcpu=vcpu, msr=m.index, value=m.data if write else 0,
                aux=exit_.rip, arg=code, reason=reason,
                result=_RESULT_OF_REASON.get(reason, 0),
                flags=_EXITED | (0 if reason & _FILTER else _ALLOWED) | (_WRITE if write else 0),
            )
        if kind == _IO_EXIT:
            io = exit_.io
            out = io.direction == KVM_EXIT_IO_OUT
            return self.append(
                _IO_EXIT, step=step, vcpu=vcpu, offset=io.port, size=io.size, arg=io.count,
                value=io.data if out else 0, aux=exit_.rip, flags=_WRITE if out else 0,
            )
        return self.append(kind, step=step, vcpu=vcpu, aux=exit_.rip, arg=code)

    def append_answer(self, exit_: Any, vcpu: int, step: int) -> int:
        """Log user space's answer to an MSR or IN exit, as filled into the VcpuExit."""
        code = exit_.exit_reason
        if code in (KVM_EXIT_X86_RDMSR, KVM_EXIT_X86_WRMSR):
            m = exit_.msr
            return self.append(
                _USER_ANSWER, step=step, vcpu=vcpu, msr=m.index, value=m.data, aux=exit_.rip,
                arg=code, errno=m.error, reason=m.reason,
                flags=(_WRITE if code == KVM_EXIT_X86_WRMSR else 0) | (_ERROR if m.error else 0),
            )
        if code == KVM_EXIT_IO and exit_.io.direction != KVM_EXIT_IO_OUT:
            io = exit_.io
            return self.append(_IO_ANSWER, step=step, vcpu=vcpu, offset=io.port, arg=io.count,
                               size=io.size, value=io.data, aux=exit_.rip)
        raise ValueError(f"exit_reason {code} has no answer from user space")

    def append_user_gp(self, exit_: Any, vcpu: int, step: int) -> int:
        """Log the #GP a guest takes on re-entry because user space failed its MSR exit
        (kvm_run.msr.error != 0): a #GP like any other, flagged EXITED|ERROR for its cause."""
        m = exit_.msr
        code = exit_.exit_reason
        return self.append(
            _MSR_GP, step=step, vcpu=vcpu, msr=m.index, value=m.data, aux=exit_.rip, arg=code,
            errno=m.error, reason=m.reason,
            flags=_GP | _EXITED | _ERROR | (_WRITE if code == KVM_EXIT_X86_WRMSR else 0),
        )

    def append_vfio(self, event: TrapEvent, step: int) -> int:
        """Log a vfio TrapEvent; its device address joins the device table."""
        dev = event.dev_id
        if self._devices.get(dev) != event.device:
            self.add_device(dev, event.device)
        return self.append(
            VFIO_BASE + event.kind, step=step, device=dev, value=event.value, aux=event.phys,
            virt=event.virt, mask=event.mask, offset=event.offset, arg=event.arg,
            errno=event.errno, site=event.site, size=event.size, bar=event.bar,
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
        cols = {name: checked_column(name, arrays.get(name, DEFAULTS[name]), count)
                for name in FIELDS if name != "vkind"}
        kinds = cols["kind"]
        cols["vkind"] = np.where(kinds > VFIO_BASE, kinds - VFIO_BASE, 0).astype(np.uint8)
        check_rows(cols, self._last_step, self._devices)
        new = self._write_columns(cols, count)
        if count:
            self._last_step = int(cols["step"][-1])
        self._counts.apply(self._tally(new.start, new.stop), +1)
        return new

    # --- reading ---------------------------------------------------------------------------
    @property
    def devices(self) -> dict[int, str]:
        """Device ids in the `device` column and their PCI addresses."""
        return dict(self._devices)

    def row(self, i: int) -> formatting.LoggedRow:
        """Row `i` decoded for the detail view: every column plus enums and the address."""
        i = self._index(i)
        return formatting.decode(i, self._record(i), self._devices)

    def format_row(self, i: int) -> str:
        """One line for row `i`: step, row number, then what happened, values in hex."""
        return formatting.format_line(self.row(i))

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

    # --- counters --------------------------------------------------------------------------
    def counters(self, rows: int | None = None) -> dict[str, Any]:
        """kvm_stat's view: events per kind, MSR exits per reason, exits per vCPU, of the
        first `rows` rows (all by default; fewer after a seek back in time)."""
        if rows is None or rows >= self._n:
            return self._counts.summary(self._n)
        counts = copy.deepcopy(self._counts)
        counts.apply(self._tally(max(rows, 0), self._n), -1)
        return counts.summary(max(rows, 0))

    def exits_of(self, vcpu: int) -> int:
        """Exits of `vcpu` so far: counters()["vcpu_exits"][vcpu] without building the
        whole summary (a free run asks after every chunk)."""
        return self._counts.vcpu_exits.get(vcpu, 0)

    def _tally(self, first: int, last: int) -> counters.Tally:
        return counters.tally(block for _, block in self._blocks(first, last))

    # --- statistics ------------------------------------------------------------------------
    def _sealed(self, index: int) -> None:
        """Count a chunk as it fills (while it is still in cache): a first statistics count
        of millions of rows is then a sum over kept counts, ~30 ns an event paid on append."""
        self.chunk_counts(index)

    def chunk_counts(self, index: int) -> Counts:
        """The statistics' counts of full chunk `index`, kept until rows are cut off."""
        full = len(self._chunks) - (self._off < self._chunk_rows)
        if not 0 <= index < full:
            raise IndexError(f"chunk {index} is not a full chunk (0 to {full - 1})")
        self._kept.extend([None] * (index + 1 - len(self._kept)))
        kept = self._kept[index]
        if kept is None:
            if self._msr_ids is None:  # 256 KiB a range of MSRs: only for logs counted
                self._msr_ids = MsrIds()
            kept = count(self._chunks[index], self._msr_ids, max(self._devices, default=-1) + 2)
            if kept.size <= _KEEP_ENTRIES:  # else counted afresh each time: bounded memory
                self._kept[index] = kept
        return kept

    def forget_chunk_counts(self) -> None:
        """Drop the kept counts; each is counted again when next asked for (a benchmark
        times counting every chunk with this)."""
        self._kept = []

    # --- time travel -----------------------------------------------------------------------
    def truncate(self, n: int) -> None:
        """Drop rows n and later (stepping back); counters lose exactly those rows."""
        if not 0 <= n <= self._n:
            raise IndexError(f"cannot truncate {self._n} rows to {n}")
        if n == self._n:
            return
        self._counts.apply(self._tally(n, self._n), -1)
        self._cut(n)
        del self._kept[n // self._chunk_rows:]
        self._last_step = int(self._cur[self._off - 1]["step"]) if n else 0
        self._observers.rewind(n)

    # --- observers -------------------------------------------------------------------------
    def subscribe(self, callback: Observer) -> Callable[[], None]:
        """Deliver new rows to `callback(first, last)` in batches; returns an unsubscriber.

        Batches come only from flush_observers (the GUI's timer, the session after each
        command), never per event. A batch whose `first` is below the previous batch's
        `last` means rows from `first` on were truncated (and possibly replaced): drop
        them first. The callback starts with rows appended after it subscribed.
        """
        return self._observers.subscribe(callback, self._n)

    def flush_observers(self) -> None:
        """Send each observer one batch covering what changed since its last batch."""
        self._observers.flush(self._n)

    # --- replay ----------------------------------------------------------------------------
    def digest(self, first: int | None = None, last: int | None = None) -> str:
        """Stable hash of rows [first, last): blake2b over their little-endian bytes."""
        first, last = self._span(first, last)
        return digest_of(block for _, block in self._blocks(first, last))
