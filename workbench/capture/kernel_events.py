"""Kernel kvm tracepoint lines -> capture events, shared by the tracefs and trace-cmd readers.

Both print one event a line as `COMM-TID [CPU] (flags) SECONDS: EVENT: TEXT`, TEXT from the
event's print fmt (/sys/kernel/tracing/events/kvm/*/format) or, where the reader could not
format it, `[FAILED TO PARSE] field=value ...`. The thread id is the vCPU: a kernel trace
knows nothing of vCPU indexes. A user-space MSR exit shows only as kvm_userspace_exit with
reason KVM_EXIT_X86_RDMSR/WRMSR and no index, so it is a UserExit and not an MsrAccess.

Lines are split with str methods; a whole trace's canonical `kvm_msr` lines are read faster
by msr_lines.py, which hands every other line here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from workbench.capture.model import Event, MsrAccess, SkippedLine, UserExit
from workbench.kvm import uapi

# For sniffing a file's format: [instance: ]COMM-TID [(TGID)] [CPU] [FLAGS] SECONDS: EVENT:
EVENT_LINE = re.compile(
    r"^(?:[\w.-]+:\s+)?\s*(?P<comm>.+?)-(?P<tid>\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(?P<cpu>\d+)\]"
    r"\s+(?:\S{4,6}\s+)?(?P<ts>\d+\.\d+):\s+(?P<event>\w+):")
_RAW = re.compile(r"(\w+)=(-?(?:0x[0-9a-fA-F]+|\d+))")
_U32, _U64 = 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF
_WANTED_DETAIL = {uapi.KVM_EXIT_IO: "port", uapi.KVM_EXIT_MMIO: "phys_addr"}


class _Garbled(ValueError):
    """A line of a known event whose text does not parse."""


class EventLine(NamedTuple):
    comm: str
    tid: int
    seconds: float
    event: str
    text: str


def split_line(line: str) -> EventLine | None:
    """The parts of an event line, or None if `line` is not one."""
    close = line.find("] ")
    start = line.rfind("[", 0, close)
    if close < 0 or start < 0 or not line[start + 1:close].isdigit():
        return None
    who = line[:start].rstrip()
    if who.endswith(")"):                           # the tgid column: "(  1234)"
        who = who[:who.rfind("(")].rstrip()
    comm, dash, tid = who.rpartition("-")
    rest = line[close + 2:]
    stamp, colon, tail = rest.partition(": ")
    event, colon2, text = tail.partition(":")
    if not (dash and tid.isdigit() and colon and colon2 and event.isidentifier()):
        return None
    try:
        seconds = float(stamp.rsplit(None, 1)[-1])
    except (ValueError, IndexError):
        return None
    return EventLine(comm.rpartition(": ")[2].strip(), int(tid), seconds, event, text.strip())


def _raw_fields(text: str) -> dict[str, int]:
    return {k: int(v, 0) for k, v in _RAW.findall(text)}


def _hex(word: str) -> int:
    return int(word[2:] if word.startswith("0x") else "!", 16)


def msr_fields(text: str) -> tuple[int, bool, int, bool]:
    """(index, write, value, gp) of a kvm_msr event's text; ValueError saying what is wrong.
    The value is as printed: the kernel prints 0 for a read that faulted."""
    try:
        if text.startswith("[FAILED TO PARSE]"):
            f = _raw_fields(text)
            write, index, value, gp = bool(f["write"]), f["ecx"], f["data"], bool(f["exception"])
        else:
            words = text.split()
            if words[0] not in ("msr_read", "msr_write") or words[2] != "=" or \
                    words[4:] not in ([], ["(#GP)"]):
                raise ValueError
            write, index, value, gp = words[0] == "msr_write", int(words[1], 16), \
                _hex(words[3]), len(words) == 5
    except KeyError as missing:
        raise _Garbled(f"kvm_msr without the field {missing}") from None
    except (ValueError, IndexError):
        raise _Garbled("kvm_msr text is not 'msr_read|msr_write INDEX = 0xVALUE'") from None
    if not 0 <= index <= _U32 or not 0 <= value <= _U64:
        raise _Garbled("kvm_msr index or value out of range")
    return index, write, value, gp


def _msr(e: EventLine, line: int) -> MsrAccess:
    index, write, value, gp = msr_fields(e.text)
    # A faulting read returns nothing to the guest.
    return MsrAccess(e.tid, index, write, None if gp and not write else value, gp, None,
                     e.seconds, line)


def _exit_reason(text: str) -> int | None:
    """The exit reason, or None for a KVM_RUN that returned an error (-EINTR: "restart")."""
    if text.startswith("[FAILED TO PARSE]"):
        f = _raw_fields(text)
        if "reason" not in f:
            raise _Garbled("kvm_userspace_exit without the field 'reason'")
        return None if f.get("errno", 0) < 0 else f["reason"]
    words = text.split()
    number = words[-1] if words else ""
    if len(words) != 3 or words[0] != "reason" or number[:1] != "(" or number[-1:] != ")" \
            or not number[1:-1].isdigit():
        raise _Garbled("kvm_userspace_exit text is not 'reason NAME (NUMBER)'")
    return None if words[1] in ("restart", "error") else int(number[1:-1])


def _io_detail(event: str, text: str) -> dict[str, int]:
    words = text.split()
    try:
        if event == "kvm_pio":
            if words[0] not in ("pio_read", "pio_write") or words[1::2][:4] != [
                    "at", "size", "count", "val"]:
                raise ValueError
            return {"direction": int(words[0] == "pio_write"), "port": _hex(words[2]),
                    "size": int(words[4]), "count": int(words[6]), "data": _hex(words[8])}
        if words[0] != "mmio" or words[1] not in ("unsatisfied-read", "read", "write") or \
                words[2::2][:3] != ["len", "gpa", "val"]:
            raise ValueError
        return {"is_write": int(words[1] == "write"), "len": int(words[3]),
                "phys_addr": _hex(words[5]), "data": _hex(words[7])}
    except (ValueError, IndexError):
        raise _Garbled(f"{event} text is not in the event's print format") from None


@dataclass
class KernelEvents:
    """Turns event lines into capture events in order, keeping per-thread context."""

    events: list[Event] = field(default_factory=list)
    skipped: list[SkippedLine] = field(default_factory=list)
    threads: dict[int, str] = field(default_factory=dict)
    _pending_io: dict[int, dict[str, int]] = field(default_factory=dict)

    def feed(self, line_no: int, line: str) -> bool:
        """Reads one line; False if it is not an event line at all (the caller decides)."""
        e = split_line(line)
        if e is None:
            return False
        try:
            self._event(line_no, e)
        except _Garbled as why:
            self.skipped.append(SkippedLine(line_no, f"{e.event}: {why}"))
        else:
            if e.tid not in self.threads:
                self.threads[e.tid] = e.comm
        return True

    def feed_lines(self, lines: Iterable[str], header: re.Pattern[str], first: int = 1) -> None:
        """Reads lines numbered from `first`: those `header` matches are skipped silently,
        any other that is not an event line is a skipped line."""
        for number, line in enumerate(lines, start=first):
            if not header.match(line) and not self.feed(number, line):
                self.skipped.append(SkippedLine(number, "not an event line"))

    def _event(self, line_no: int, e: EventLine) -> None:
        event = e.event
        if event == "kvm_msr":
            self.events.append(_msr(e, line_no))
        elif event == "kvm_userspace_exit":
            reason = _exit_reason(e.text)
            detail = self._pending_io.pop(e.tid, {})
            if reason is not None:
                wanted = _WANTED_DETAIL.get(reason)
                self.events.append(UserExit(vcpu=e.tid, exit_reason=reason,
                                            detail=detail if wanted in detail else {},
                                            time=e.seconds, line=line_no))
        elif event in ("kvm_pio", "kvm_mmio"):
            # Printed before the exit it causes, or alone where the kernel handled it.
            self._pending_io[e.tid] = _io_detail(event, e.text)
        # Other events (kvm_inj_exception, kvm_entry, sched_*) say nothing the model keeps.
