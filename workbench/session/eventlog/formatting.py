"""Rows for people: a row decoded into named, typed fields, and its one-line text.

The line of a vfio row is vfio's own TrapEvent.format(), so the log reads exactly like
workbench.vfio's trace; KVM and session rows describe what happened in kernel terms.
"""

from __future__ import annotations

import errno as errno_mod
from collections.abc import Mapping
from typing import TypedDict

import numpy as np

from workbench.kvm.msrs.catalogue import msr_name
from workbench.session.eventlog.columns import FIELDS
from workbench.session.eventlog.kinds import EventKind, Flag, MsrExitReason
from workbench.vfio.events import EventKind as VfioKind
from workbench.vfio.events import Site, TrapEvent


class LoggedRow(TypedDict):
    """One row decoded (EventLog.row): every column by name, enums and the address."""

    row: int  # the row number, the event's sequence number
    step: int
    value: int
    aux: int
    msr: int
    virt: int
    mask: int
    offset: int
    arg: int
    vcpu: int
    device: str | None  # the device's PCI address (the column's id is device_id)
    errno: int
    kind: EventKind
    vkind: int
    site: Site | None  # vfio rows only
    size: int
    reason: MsrExitReason
    result: int
    flags: Flag
    bar: int
    device_id: int
    vfio_kind: VfioKind | None  # vfio rows only


def decode(i: int, record: np.void, devices: Mapping[int, str]) -> LoggedRow:
    """Row number `i`, stored as `record`, for the detail view and the line formatter."""
    raw = {name: int(record[name]) for name in FIELDS}
    kind = EventKind(raw["kind"])
    site = raw["site"]
    return LoggedRow(
        row=i, step=raw["step"], value=raw["value"], aux=raw["aux"], msr=raw["msr"],
        virt=raw["virt"], mask=raw["mask"], offset=raw["offset"], arg=raw["arg"],
        vcpu=raw["vcpu"], device=devices.get(raw["device"]), errno=raw["errno"], kind=kind,
        vkind=raw["vkind"],
        site=Site(site) if kind.is_vfio and site in Site._value2member_map_ else None,
        size=raw["size"], reason=MsrExitReason(raw["reason"]), result=raw["result"],
        flags=Flag(raw["flags"]), bar=raw["bar"], device_id=raw["device"],
        vfio_kind=VfioKind(raw["vkind"]) if kind.is_vfio else None,
    )


def format_line(r: LoggedRow) -> str:
    """One line: step, row number, then what happened, values in hex."""
    head = f"step {r['step']:<5} "
    kind = r["kind"]
    if kind.is_vfio:
        try:
            return head + _trap_event(r).format()
        except (ValueError, KeyError):  # fields vfio never produces (a bulk-loaded row)
            return f"{head}#{r['row']:<4} {r['device']} {kind.name} value={r['value']:#x}"
    vcpu = f"vcpu{r['vcpu']}" if r["vcpu"] >= 0 else "-"
    return f"{head}#{r['row']:<4} {vcpu} {kind.name:<11} {_describe(r)}".rstrip()


def _trap_event(r: LoggedRow) -> TrapEvent:
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


def _errname(code: int) -> str:
    return "ok" if code == 0 else errno_mod.errorcode.get(code, str(code))


def _reason_name(bits: int) -> str:
    return "+".join(r.name for r in MsrExitReason if bits & r and r.name) or "none"


def _describe(r: LoggedRow) -> str:
    """The kind-specific part of a KVM/session row's line."""
    kind = r["kind"]
    write = bool(r["flags"] & Flag.WRITE)
    op = "wrmsr" if write else "rdmsr"
    msr = f"{op} {r['msr']:#x} ({msr_name(r['msr'])})"
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
