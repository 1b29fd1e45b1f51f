"""Row filters: numpy predicates over a block of rows, and the GUI filter box's text syntax.

A filter is a set of keys that must all match (AND); a key given several values matches
any of them (OR). `predicates` turns keyword filters into functions over a structured
block of rows, so EventLog.mask can apply them chunk by chunk without concatenating
columns. `parse_filter` turns the filter box's text into those same keywords.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from workbench.session.eventlog.kinds import (
    EXIT_KINDS,
    MSR_KINDS,
    EventKind,
    MsrExitReason,
)
from workbench.values import parse_int

Predicate = Callable[[np.ndarray], np.ndarray]
# An integer column filter: one value, a range/slice, or several of either.
IntSpec = int | range | slice | Iterable[int | range]
KindSpec = int | str | Iterable[int | str]
ReasonSpec = int | str | Iterable[int | str]
DeviceSpec = int | str | Iterable[int | str]

_ADDRESS = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$")
_KIND_GROUPS: dict[str, frozenset[EventKind]] = {
    "EXIT": EXIT_KINDS,
    "MSR": MSR_KINDS,
    "VFIO": frozenset(k for k in EventKind if k.is_vfio),
}
_MSR_LUT = np.zeros(256, dtype=bool)
_MSR_LUT[list(MSR_KINDS)] = True


class FilterError(ValueError):
    """A filter the log cannot apply; `token` is the offending piece of the filter text."""

    def __init__(self, token: str, message: str) -> None:
        super().__init__(f"{token!r}: {message}")
        self.token = token


def is_address(text: str) -> bool:
    """Whether `text` is a PCI address as vfio prints it ("dddd:bb:dd.f", lower-case hex)."""
    return _ADDRESS.match(text) is not None


def kind_of(name: str | int) -> frozenset[EventKind]:
    """Kinds named by `name`: a kind, a vfio kind without its VFIO_ prefix, or a group."""
    if isinstance(name, int):
        return frozenset({EventKind(name)})
    upper = name.upper()
    if upper in _KIND_GROUPS:
        return _KIND_GROUPS[upper]
    for candidate in (upper, "VFIO_" + upper):
        if candidate in EventKind.__members__:
            return frozenset({EventKind[candidate]})
    raise ValueError(f"unknown event kind {name!r}")


def reason_bits(spec: ReasonSpec) -> int:
    """The MSR exit reason bits named by an int, a name (INVAL/UNKNOWN/FILTER) or several."""
    items = [spec] if isinstance(spec, int | str) else list(spec)
    bits = 0
    for item in items:
        if isinstance(item, int):
            bits |= item
        elif item.upper() in MsrExitReason.__members__:
            bits |= MsrExitReason[item.upper()]
        else:
            raise ValueError(f"unknown MSR exit reason {item!r}")
    return bits


def _int_predicate(column: str, spec: IntSpec) -> Predicate:
    """Match a column against values and ranges: equality, bounds or isin, never a loop."""
    if isinstance(spec, slice):
        spec = range(spec.start or 0, spec.stop, spec.step or 1)
    items = [spec] if isinstance(spec, int | range) else list(spec)
    values = [int(i) for i in items if not isinstance(i, range)]
    ranges = [i for i in items if isinstance(i, range)]

    def match(rows: np.ndarray) -> np.ndarray:
        col = rows[column]
        # Values the column cannot hold match nothing; the rest in the column's own dtype,
        # so u64 columns are never compared through float64.
        info = np.iinfo(col.dtype)
        fitting = np.array([v for v in values if info.min <= v <= info.max], dtype=col.dtype)
        if len(fitting) == 1:
            out = col == fitting[0]
        elif len(fitting):
            out = np.isin(col, fitting)
        else:
            out = np.zeros(len(col), dtype=bool)
        for r in ranges:
            if r.step > 0:
                hit = (col >= r.start) & (col < r.stop)
            else:
                hit = (col <= r.start) & (col > r.stop)
            if abs(r.step) != 1:
                hit &= (col.astype(np.int64) - r.start) % r.step == 0
            out |= hit
        return out

    return match


def predicates(
    *,
    kinds: KindSpec | None = None,
    msr: IntSpec | None = None,
    vcpu: IntSpec | None = None,
    device: DeviceSpec | None = None,
    reason: ReasonSpec | None = None,
    steps: IntSpec | None = None,
    device_ids: Callable[[str], list[int]],
) -> list[Predicate]:
    """One predicate per given key; `device_ids` resolves an address to the ids it had."""
    out: list[Predicate] = []
    if kinds is not None:
        lut = np.zeros(256, dtype=bool)
        for item in [kinds] if isinstance(kinds, int | str) else kinds:
            lut[[int(k) for k in kind_of(item)]] = True
        out.append(lambda rows: lut[rows["kind"]])
    if msr is not None:
        by_index = _int_predicate("msr", msr)
        out.append(lambda rows: _MSR_LUT[rows["kind"]] & by_index(rows))
    if vcpu is not None:
        out.append(_int_predicate("vcpu", vcpu))
    if device is not None:
        ids: list[int] = []
        for item in [device] if isinstance(device, int | str) else device:
            ids.extend(device_ids(item) if isinstance(item, str) else [int(item)])
        out.append(_int_predicate("device", ids))
    if reason is not None:
        bits = reason_bits(reason)
        out.append(lambda rows: (rows["reason"] & bits) != 0)
    if steps is not None:
        out.append(_int_predicate("step", steps))
    return out


def _number(token: str, text: str) -> int:
    try:
        return parse_int(text)
    except ValueError as exc:
        raise FilterError(token, str(exc)) from None


def _numbers(token: str, text: str) -> list[int | range]:
    """"a,b,c-d": values and inclusive ranges; a leading '-' is a sign (vcpu=-1: none)."""
    out: list[int | range] = []
    for item in text.split(","):
        low, dash, high = item.partition("-") if not item.startswith("-") else (item, "", "")
        if dash:
            first, last = _number(token, low), _number(token, high)
            if last < first:
                raise FilterError(token, f"range {item!r} ends before it starts")
            out.append(range(first, last + 1))
        else:
            out.append(_number(token, item))
    return out


def _kinds(token: str, text: str) -> list[str]:
    for name in text.split(","):
        try:
            kind_of(name)
        except ValueError as exc:
            raise FilterError(token, str(exc)) from None
    return text.split(",")


def _reasons(token: str, text: str) -> list[int | str]:
    out: list[int | str] = []
    for item in text.split(","):
        if item.upper() in MsrExitReason.__members__:
            out.append(item.upper())
        else:
            bits = _number(token, item) if item[:1].isdigit() else -1
            if bits < 0:
                raise FilterError(token, f"unknown MSR exit reason {item!r} "
                                         "(INVAL, UNKNOWN, FILTER or bits)")
            out.append(bits)
    return out


def _devices(token: str, text: str) -> list[int | str]:
    out: list[int | str] = []
    for item in text.split(","):
        if is_address(item.lower()):
            out.append(item.lower())
        elif item.isdigit():
            out.append(int(item))
        else:
            raise FilterError(token, f"{item!r} is neither a PCI address "
                                     "(dddd:bb:dd.f) nor a device id")
    return out


_PARSERS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "kind": ("kinds", _kinds),
    "msr": ("msr", _numbers),
    "vcpu": ("vcpu", _numbers),
    "device": ("device", _devices),
    "reason": ("reason", _reasons),
    "step": ("steps", _numbers),
}


def parse_filter(text: str) -> dict[str, Any]:
    """Parse "kind=MSR_EXIT msr=0x35 vcpu=0" into EventLog.mask keywords.

    Keys: kind, msr, vcpu, device, reason, step; each takes comma-separated values, and
    msr/vcpu/step also take inclusive ranges (msr=0x40000000-0x400000ff). Raises
    FilterError naming the first bad token, so the filter box can highlight it.
    """
    out: dict[str, Any] = {}
    for token in text.split():
        key, eq, value = token.partition("=")
        if key.lower() not in _PARSERS:
            known = ", ".join(_PARSERS)
            raise FilterError(token, f"unknown key {key!r} (expected one of: {known})")
        if not eq or not value:
            raise FilterError(token, f"expected {key}=<value>")
        name, parse = _PARSERS[key.lower()]
        if name in out:
            raise FilterError(token, f"{key} is given twice; list values with commas")
        out[name] = parse(token, value)
    return out
