"""What each display-filter field means: the names its values take and the numpy test.

FIELDS are the JSON Lines export's field names (export.py writes them in this order), so
a user reads a field off an exported event and filters on it. `compile_value` turns a
term's value text into a Test (raising ValueError with a message for the filter box);
`evaluate` applies a Test to a block of rows.
"""

from __future__ import annotations

import errno as errno_mod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np

from workbench.kvm.msrs.catalogue import CATALOGUE, KNOWN_NAMES, PVM_ROWS
from workbench.session.eventlog.kinds import MSR_KINDS, Flag, MsrExitReason
from workbench.session.eventlog.query import is_address, kind_of
from workbench.values import parse_int
from workbench.vfio.events import Site

FIELDS = ("row", "step", "kind", "vcpu", "device", "msr", "value", "aux", "virt", "mask",
          "offset", "arg", "errno", "site", "size", "reason", "result", "flags", "bar")
# Fields whose values are bits: `=` matches a row with any of the named bits set.
_BIT_FIELDS = {"reason": MsrExitReason, "flags": Flag}
_EQUALITY_ONLY = frozenset({"kind", "device"})
_MSR_LUT = np.zeros(256, dtype=bool)
_MSR_LUT[[int(k) for k in MSR_KINDS]] = True


@dataclass(frozen=True)
class Test:
    """A compiled comparison: `op` with values/ranges (=, !=), a bound (< <= > >=), bits
    (any set) or device names/ids (resolved against the log's device table)."""

    op: str
    values: tuple[int, ...] = ()
    ranges: tuple[tuple[int, int], ...] = ()  # inclusive
    bits: int = 0
    devices: tuple[int | str, ...] = ()


@cache
def msr_names() -> dict[str, int]:
    """Upper-case MSR name -> index, from the catalogue (single-index rows) and known names."""
    names = {name.upper(): index for index, name in KNOWN_NAMES.items()}
    for row in (*PVM_ROWS, *CATALOGUE):
        if row.count == 1:
            names.setdefault(row.name.upper(), row.index)
    return names


def _number(text: str) -> int:
    try:
        return parse_int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number (decimal, or hex with 0x)") from None


def _named(field: str, item: str) -> int:
    """One value of `field`: a number, or a name the field knows."""
    upper = item.upper()
    if field == "msr" and upper in msr_names():
        return msr_names()[upper]
    if field == "errno" and hasattr(errno_mod, upper) and upper.startswith("E"):
        return int(getattr(errno_mod, upper))
    if field == "site" and upper in Site.__members__:
        return int(Site[upper])
    if item[:1].isdigit() or item[:1] == "-":
        return _number(item)
    if field == "msr":
        raise ValueError(f"unknown MSR {item!r} (a number, or a name such as IA32_PAT)")
    raise ValueError(f"{item!r} is not a number or a name {field} knows")


def _set_test(field: str, op: str, text: str) -> Test:
    values: list[int] = []
    ranges: list[tuple[int, int]] = []
    for item in text.split(","):
        if not item:
            raise ValueError("empty value in a comma-separated list")
        low, dash, high = item[1:].partition("-") if item[:1] == "-" else item.partition("-")
        if item[:1] == "-":
            low = "-" + low
        if dash:
            first, last = _named(field, low), _named(field, high)
            if last < first:
                raise ValueError(f"range {item!r} ends before it starts")
            ranges.append((first, last))
        else:
            values.append(_named(field, item))
    return Test(op, tuple(values), tuple(ranges))


def compile_value(field: str, op: str, text: str) -> Test:
    """The Test for `field op text` (op is = != < <= > >=); ValueError says what is wrong."""
    ordered = op not in ("=", "!=")
    if ordered and (field in _EQUALITY_ONLY or "," in text):
        raise ValueError(f"{field}{op} takes one number" if field not in _EQUALITY_ONLY
                         else f"{field} takes = or !=, not {op}")
    if field == "kind":
        kinds: set[int] = set()
        for name in text.split(","):
            kinds.update(int(k) for k in kind_of(_number(name) if name[:1].isdigit()
                                                 else name))
        return Test(op, tuple(sorted(kinds)))
    if field == "device":
        devices: list[int | str] = []
        for item in text.split(","):
            if is_address(item.lower()):
                devices.append(item.lower())
            elif item.isdigit():
                devices.append(int(item))
            else:
                raise ValueError(f"{item!r} is neither a PCI address (dddd:bb:dd.f) "
                                 "nor a device id")
        return Test(op, devices=tuple(devices))
    if field in _BIT_FIELDS and not ordered:
        enum = _BIT_FIELDS[field]
        bits = 0
        for item in text.split(","):
            if item.upper() in enum.__members__:
                bits |= int(enum[item.upper()])
            elif item[:1].isdigit():
                bits |= _number(item)
            else:
                raise ValueError(f"unknown {field} {item!r} ({', '.join(enum.__members__)})")
        return Test(op, bits=bits) if bits else Test(op, values=(0,))
    if ordered:
        return Test(op, values=(_named(field, text),))
    return _set_test(field, op, text)


def _compare(col: np.ndarray, op: str, bound: int) -> np.ndarray:
    """`col op bound` for a bound the column's dtype may not hold (never through float)."""
    info = np.iinfo(col.dtype)
    if bound < info.min or bound > info.max:
        below = bound < info.min  # every value is above the bound, or every one below it
        return np.full(len(col), below == (op in (">", ">=")), dtype=bool)
    b = col.dtype.type(bound)
    return {"<": col < b, "<=": col <= b, ">": col > b, ">=": col >= b}[op]


def _in_set(col: np.ndarray, test: Test) -> np.ndarray:
    info = np.iinfo(col.dtype)
    fit = [v for v in test.values if info.min <= v <= info.max]
    out = (col == col.dtype.type(fit[0]) if len(fit) == 1
           else np.isin(col, np.array(fit, dtype=col.dtype)) if fit
           else np.zeros(len(col), dtype=bool))
    for low, high in test.ranges:
        out |= _compare(col, ">=", low) & _compare(col, "<=", high)
    return out


Columns = Callable[[str], np.ndarray]


def evaluate(field: str, test: Test, cols: Columns, devices: Mapping[int, str]) -> np.ndarray:
    """The rows of a block (its columns by name; `row` is the row numbers) passing the test."""
    if field == "kind":
        lut = np.zeros(256, dtype=bool)
        lut[list(test.values)] = True
        hit = lut[cols("kind")]
    elif field == "device":
        ids = [d for d in test.devices if isinstance(d, int)]
        ids += [i for i, a in devices.items() if a in test.devices]
        hit = _in_set(cols("device"), Test("=", tuple(ids)))
    elif test.bits:
        hit = (cols(field) & test.bits) != 0
    elif test.op in ("=", "!="):
        hit = _in_set(cols(field), test)
    else:
        hit = _compare(cols(field), test.op, test.values[0])
    if test.op == "!=":
        hit = ~hit
    if field == "msr":  # only MSR rows have an MSR: msr!=X keeps MSR rows about others
        hit &= _MSR_LUT[cols("kind")]
    return hit
