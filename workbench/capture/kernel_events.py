"""Kernel kvm tracepoint lines -> capture events, shared by the tracefs and trace-cmd readers.

Both print one event a line as `COMM-TID [CPU] (flags) SECONDS: EVENT: TEXT`, TEXT from the
event's print fmt (/sys/kernel/tracing/events/kvm/*/format) or, where the reader could not
format it, `[FAILED TO PARSE] field=value ...`. The thread id is the vCPU: a kernel trace
knows nothing of vCPU indexes. A user-space MSR exit shows only as kvm_userspace_exit with
reason KVM_EXIT_X86_RDMSR/WRMSR and no index, so it is a UserExit and not an MsrAccess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from workbench.capture.model import Event, MsrAccess, SkippedLine, UserExit
from workbench.kvm import uapi

# [instance: ]COMM-TID [(TGID)] [CPU] [FLAGS] SECONDS: EVENT: TEXT
EVENT_LINE = re.compile(
    r"^(?:[\w.-]+:\s+)?\s*(?P<comm>.+?)-(?P<tid>\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(?P<cpu>\d+)\]"
    r"\s+(?:\S{4,6}\s+)?(?P<ts>\d+\.\d+):\s+(?P<event>\w+):\s*(?P<text>.*?)\s*$")
_MSR = re.compile(r"^msr_(?P<rw>read|write) (?P<index>[0-9a-fA-F]+) = 0x(?P<value>[0-9a-fA-F]+)"
                  r"(?P<gp> \(#GP\))?$")
_EXIT = re.compile(r"^reason (?:(?P<name>KVM_EXIT_\w+)|(?P<err>restart|error)) \((?P<num>\d+)\)$")
_PIO = re.compile(r"^pio_(?P<rw>read|write) at 0x(?P<port>[0-9a-fA-F]+) size (?P<size>\d+) "
                  r"count (?P<count>\d+) val 0x(?P<val>[0-9a-fA-F]+)")
_MMIO = re.compile(r"^mmio (?P<type>unsatisfied-read|read|write) len (?P<len>\d+) "
                   r"gpa 0x(?P<gpa>[0-9a-fA-F]+) val 0x(?P<val>[0-9a-fA-F]+)$")
_RAW = re.compile(r"(\w+)=(-?(?:0x[0-9a-fA-F]+|\d+))")


class _Garbled(ValueError):
    """A line of a known event whose text does not parse."""


def _raw_fields(text: str) -> dict[str, int]:
    return {k: int(v, 0) for k, v in _RAW.findall(text)}


def _msr(tid: int, ts: float, text: str, line: int) -> MsrAccess:
    if text.startswith("[FAILED TO PARSE]"):
        f = _raw_fields(text)
        try:
            write, index, value, gp = bool(f["write"]), f["ecx"], f["data"], bool(f["exception"])
        except KeyError as missing:
            raise _Garbled(f"kvm_msr without the field {missing}") from None
    else:
        m = _MSR.match(text)
        if m is None:
            raise _Garbled("kvm_msr text is not 'msr_read|msr_write INDEX = 0xVALUE'")
        write, index = m["rw"] == "write", int(m["index"], 16)
        value, gp = int(m["value"], 16), m["gp"] is not None
    if index > 0xFFFF_FFFF or value > 0xFFFF_FFFF_FFFF_FFFF:
        raise _Garbled("kvm_msr index or value out of range")
    # A faulting read returns nothing to the guest; the trace prints 0 for it.
    return MsrAccess(vcpu=tid, index=index, write=write, value=None if gp and not write else value,
                     gp=gp, exit=None, time=ts, line=line)


def _exit_reason(text: str) -> int | None:
    """The exit reason, or None for a KVM_RUN that returned an error (-EINTR: "restart")."""
    if text.startswith("[FAILED TO PARSE]"):
        f = _raw_fields(text)
        if "reason" not in f:
            raise _Garbled("kvm_userspace_exit without the field 'reason'")
        return None if f.get("errno", 0) < 0 else f["reason"]
    m = _EXIT.match(text)
    if m is None:
        raise _Garbled("kvm_userspace_exit text is not 'reason NAME (NUMBER)'")
    return None if m["err"] else int(m["num"])


def _io_detail(event: str, text: str) -> dict[str, int]:
    if event == "kvm_pio":
        m = _PIO.match(text)
        if m is None:
            raise _Garbled("kvm_pio text is not 'pio_read|pio_write at 0xPORT size N ...'")
        return {"direction": int(m["rw"] == "write"), "port": int(m["port"], 16),
                "size": int(m["size"]), "count": int(m["count"]), "data": int(m["val"], 16)}
    m = _MMIO.match(text)
    if m is None:
        raise _Garbled("kvm_mmio text is not 'mmio read|write len N gpa 0x.. val 0x..'")
    return {"is_write": int(m["type"] == "write"), "len": int(m["len"]),
            "phys_addr": int(m["gpa"], 16), "data": int(m["val"], 16)}


@dataclass
class KernelEvents:
    """Turns event lines into capture events in order, keeping per-thread context."""

    events: list[Event] = field(default_factory=list)
    skipped: list[SkippedLine] = field(default_factory=list)
    threads: dict[int, str] = field(default_factory=dict)
    _pending_io: dict[int, dict[str, int]] = field(default_factory=dict)

    def feed(self, line_no: int, line: str) -> bool:
        """Reads one line; False if it is not an event line at all (the caller decides)."""
        m = EVENT_LINE.match(line)
        if m is None:
            return False
        tid, ts, event, text = int(m["tid"]), float(m["ts"]), m["event"], m["text"]
        try:
            self._event(line_no, tid, ts, event, text)
        except _Garbled as why:
            self.skipped.append(SkippedLine(line_no, f"{event}: {why}"))
        else:
            self.threads.setdefault(tid, m["comm"].strip())
        return True

    def _event(self, line_no: int, tid: int, ts: float, event: str, text: str) -> None:
        if event == "kvm_msr":
            self.events.append(_msr(tid, ts, text, line_no))
        elif event == "kvm_userspace_exit":
            reason = _exit_reason(text)
            detail = self._pending_io.pop(tid, {})
            if reason is not None:
                wanted = {uapi.KVM_EXIT_IO: "port", uapi.KVM_EXIT_MMIO: "phys_addr"}.get(reason)
                self.events.append(UserExit(vcpu=tid, exit_reason=reason,
                                            detail=detail if wanted in detail else {},
                                            time=ts, line=line_no))
        elif event in ("kvm_pio", "kvm_mmio"):
            # Printed before the exit it causes, or alone where the kernel handled it.
            self._pending_io[tid] = _io_detail(event, text)
        # Other events (kvm_inj_exception, kvm_entry, sched_*) say nothing the model keeps.
