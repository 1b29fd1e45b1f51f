"""The `workbench capture` file: versioned JSON Lines, and its reader into a `Capture`.

Line 1 is the header, every further line one event, in the order they happened (ptrace
and tracefs events merged by their CLOCK_MONOTONIC time `t`, in seconds):

    {"format": "workbench-capture", "version": 1, "argv": [...], "host": {...}, ...}
    {"ev": "create_vm", "t": .., "tid": .., "result": fd | -errno}
    {"ev": "create_vcpu", "t", "tid", "vcpu": id, "result": fd | -errno}
    {"ev": "enable_cap", "t", "tid", "cap": 188, "args": [mask, 0, 0, 0], "result": 0 | -errno}
    {"ev": "set_msr_filter", "t", "tid", "filter": MsrFilter.to_dict() or null where the
        VMM's struct was unreadable, "notes": [why a bitmap is missing...], "result"}
    {"ev": "exit", "t", "tid", "vcpu", "reason": KVM_EXIT_*,
        "msr": {"index", "reason", "data", "error"} | "io": {"direction", "size", "port",
        "count", "data": hex} | "mmio": {"phys_addr", "len", "is_write", "data": hex}}
        ({"ev": "exit", "vcpu", "unreadable": why} where kvm_run could not be read;
        kvm_run as the vCPU's next KVM_RUN entry finds it: the exit KVM returned, with the
        VMM's completion in it: IN and MMIO read data, msr.data/error; "t" is that entry)
    {"ev": "msr_done", "t", "tid", "vcpu", "index", "reason", "data", "error"}
        (right after an MSR exit: kvm_run.msr as the VMM completed it)
    {"ev": "trace", "t", "tid", "event": "kvm_msr" | ..., "text": the tracefs event text}
    {"ev": "end", "status": "...", "exit_status", "signal", "interrupted", "error", "events": N}

The reader never raises on a line: a line it cannot use is a `SkippedLine` with its number.
Only a file that is not a capture at all (empty, no header) is an error naming the file.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from workbench.atomic import write_atomic
from workbench.capture.kernel_events import msr_fields
from workbench.capture.model import (
    Capture,
    IoctlRecord,
    MsrAccess,
    MsrExitAnswer,
    SkippedLine,
    UserExit,
)
from workbench.kvm import uapi
from workbench.kvm.filter import MsrFilter

FORMAT = "workbench-capture"
VERSION = 1
_MAGIC = b'{"format": "workbench-capture"'
_MSR_EXITS = (uapi.KVM_EXIT_X86_RDMSR, uapi.KVM_EXIT_X86_WRMSR)


def header(argv: list[str], **fields: object) -> dict[str, object]:
    return {"format": FORMAT, "version": VERSION, "argv": list(argv), **fields}


def write(path: Path, head: dict[str, object], events: Iterable[dict[str, object]],
          end: dict[str, object]) -> int:
    """Write a capture atomically (workbench.atomic: a private temporary file renamed over
    `path`); the event count."""
    count = 0

    def lines() -> Iterator[bytes]:
        nonlocal count
        yield (json.dumps(head) + "\n").encode()
        for event in events:
            yield (json.dumps(event, separators=(",", ":")) + "\n").encode()
            count += 1
        yield (json.dumps({"ev": "end", **end, "events": count}) + "\n").encode()

    write_atomic(Path(path), lines())
    return count


def sniff(head: bytes) -> bool:
    """Whether a file starting with `head` (already un-gzipped) is a capture file."""
    return head.lstrip(b"\xef\xbb\xbf").startswith(_MAGIC)


def _lines(path: Path, skipped: list[SkippedLine]) -> Iterator[str]:
    """The file's lines; a gzip stream that ends early or breaks is one skipped line."""
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    number = 0
    with opener(path, "rt", encoding="utf-8", errors="replace") as text:
        try:
            for number, line in enumerate(text, start=1):  # noqa: B007 - used below
                yield line
        except (EOFError, OSError, zlib.error) as exc:
            skipped.append(SkippedLine(number + 1, f"the compressed data is damaged ({exc})"))


def read(path: str | os.PathLike[str]) -> Capture:
    """Read a capture file (gzip accepted). ValueError naming the file if it is not one."""
    path = Path(path)
    skipped: list[SkippedLine] = []
    lines = _lines(path, skipped)
    first = next(lines, "")
    try:
        head = json.loads(first)
    except ValueError:
        head = None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        what = "is empty" if not first.strip() else "is not a workbench capture (no header)"
        raise ValueError(f"{path}: {what}")
    if head.get("version") != VERSION:
        raise ValueError(f"{path}: line 1: capture version {head.get('version')!r} is not "
                         f"supported (this workbench reads version {VERSION})")
    builder = _Builder(Capture(source=path, format="capture", meta=dict(head), skipped=skipped))
    for number, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            if not isinstance(event, dict):
                raise ValueError("not a JSON object")
            builder.add(event, number)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            reason = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            builder.capture.skipped.append(SkippedLine(number, reason[:200]))
    return builder.finish()


def _int(event: dict, name: str) -> int:
    value = event[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    return value


class _Builder:
    """Turns events into the model: pairs each MSR exit with the VMM's answer, and names
    each tracefs thread by the vCPU it ran."""

    def __init__(self, capture: Capture):
        self.capture = capture
        self.vcpu_of_tid: dict[int, int] = {}
        self.open_exits: dict[int, tuple[int, dict, float | None, int]] = {}  # vcpu -> exit
        self.last_msr: dict[int, int] = {}    # vcpu -> index in events of its last access
        self.ended = False

    def add(self, event: dict, line: int) -> None:
        kind = event["ev"]
        handler = getattr(self, f"_ev_{kind}", None)
        if handler is None:
            raise ValueError(f"unknown event {kind!r}")
        handler(event, line)

    def _ioctl(self, name: str, event: dict, line: int, **args: object) -> None:
        self.capture.events.append(IoctlRecord(name, _int(event, "result"), args,
                                               event.get("t"), line))

    def _ev_create_vm(self, event: dict, line: int) -> None:
        self._ioctl("KVM_CREATE_VM", event, line)

    def _ev_create_vcpu(self, event: dict, line: int) -> None:
        self._ioctl("KVM_CREATE_VCPU", event, line, vcpu=_int(event, "vcpu"))
        if event["result"] >= 0:   # QEMU creates each vCPU on the thread that runs it
            self.vcpu_of_tid[_int(event, "tid")] = event["vcpu"]

    def _ev_enable_cap(self, event: dict, line: int) -> None:
        args = [int(a) for a in event["args"]]
        self._ioctl("KVM_ENABLE_CAP", event, line, cap=_int(event, "cap"), args=args)
        if event["cap"] == uapi.KVM_CAP_X86_USER_SPACE_MSR and event["result"] == 0:
            self.capture.user_space_msr_mask = args[0]

    def _ev_set_msr_filter(self, event: dict, line: int) -> None:
        raw = event["filter"]
        msr_filter = None if raw is None else MsrFilter.from_dict(raw)
        self._ioctl("KVM_X86_SET_MSR_FILTER", event, line, filter=msr_filter,
                    notes=list(event.get("notes", [])))
        if event["result"] == 0 and msr_filter is not None:
            self.capture.msr_filter = msr_filter

    def _ev_exit(self, event: dict, line: int) -> None:
        vcpu, result = _int(event, "vcpu"), event.get("result", 0)
        self.vcpu_of_tid[_int(event, "tid")] = vcpu
        self.last_msr.pop(vcpu, None)
        if vcpu in self.open_exits:   # its answer is missing (a garbled line)
            self._close_exit(vcpu, None, 0)
        if result != 0 or "reason" not in event:
            return      # KVM_RUN failed (EINTR...): no exit to show
        reason = _int(event, "reason")
        detail = {}
        for member in ("msr", "io", "mmio"):
            for key, value in event.get(member, {}).items():
                # io/mmio data are the guest's bytes in hex: little-endian values
                detail[key] = int.from_bytes(bytes.fromhex(value), "little") \
                    if isinstance(value, str) else int(value)
        self.capture.events.append(UserExit(vcpu, reason, detail, event.get("t"), line))
        if reason in _MSR_EXITS:
            msr = event["msr"]
            self.capture.events.append(None)   # the access, filled in by its answer
            self.open_exits[vcpu] = (len(self.capture.events) - 1, msr, event.get("t"), line)

    def _ev_msr_done(self, event: dict, line: int) -> None:
        vcpu = _int(event, "vcpu")
        if vcpu not in self.open_exits:
            raise ValueError(f"vCPU {vcpu}: an MSR answer without an MSR exit")
        self._close_exit(vcpu, _int(event, "data"), _int(event, "error"))

    def _close_exit(self, vcpu: int, data: int | None, error: int) -> None:
        slot, msr, time, line = self.open_exits.pop(vcpu)
        write = self.capture.events[slot - 1].exit_reason == uapi.KVM_EXIT_X86_WRMSR
        answer = MsrExitAnswer(self.capture.events[slot - 1].exit_reason, int(msr["reason"]),
                               int(msr["data"]) if data is None else data, error)
        value = int(msr["data"]) if write else (None if data is None or error else data)
        self.capture.events[slot] = MsrAccess(vcpu, int(msr["index"]), write, value,
                                              error != 0, answer, time, line)
        self.last_msr[vcpu] = slot

    def _ev_trace(self, event: dict, line: int) -> None:
        tid, name, text = _int(event, "tid"), event["event"], str(event["text"])
        vcpu = self.vcpu_of_tid.get(tid, tid)
        if name == "kvm_msr":
            index, write, value, gp = msr_fields(text)     # ValueError: a skipped line
            self.capture.events.append(MsrAccess(
                vcpu, index, write, None if gp and not write else value, gp, None,
                event.get("t"), line))
            self.last_msr[vcpu] = len(self.capture.events) - 1
        elif name == "kvm_inj_exception" and text.startswith("#GP"):
            self._mark_gp(vcpu)
        else:
            self.last_msr.pop(vcpu, None)
        self.capture.meta.setdefault("trace_events", {})
        counts = self.capture.meta["trace_events"]
        counts[name] = counts.get(name, 0) + 1

    def _mark_gp(self, vcpu: int) -> None:
        """A #GP injected right after an MSR access is that access's #GP."""
        slot = self.last_msr.pop(vcpu, None)
        if slot is None:
            return
        access = self.capture.events[slot]
        if isinstance(access, MsrAccess) and not access.gp:
            self.capture.events[slot] = MsrAccess(
                access.vcpu, access.index, access.write,
                access.value if access.write else None, True, access.exit, access.time,
                access.line)

    def _ev_end(self, event: dict, line: int) -> None:
        self.ended = True
        self.capture.meta["end"] = {k: v for k, v in event.items() if k != "ev"}

    def finish(self) -> Capture:
        # An exit the VMM never answered (it stopped first): the access without its answer.
        for vcpu in list(self.open_exits):
            self._close_exit(vcpu, None, 0)
        self.capture.events = [e for e in self.capture.events if e is not None]
        if not self.ended:
            self.capture.meta["truncated"] = True
        return self.capture
