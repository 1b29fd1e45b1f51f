"""The row layout: the columns of a log row, their byte encoding, and input checks.

A row is 58 packed little-endian bytes. COLUMNS is the one definition of the layout: the
numpy dtype the columns are read through, the struct format a single row is written with,
and the order of the digest's bytes all follow from it.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from workbench.session.eventlog.kinds import EventKind
from workbench.values import U64_MAX

CHUNK_ROWS = 1 << 16

# (name, dtype, default): the order is the order of a row's bytes and of the digest's.
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
DEFAULTS = {name: default for name, _, default in COLUMNS}

_STRUCT_CODE = {"<u8": "Q", "<u4": "I", "<i4": "i", "<i2": "h", "u1": "B", "i1": "b"}
# One row as struct.pack_into writes it: the same bytes as ROW_DTYPE, written several
# times faster than assigning a tuple to a structured numpy element.
ROW_STRUCT = struct.Struct("<" + "".join(_STRUCT_CODE[fmt] for _, fmt, _ in COLUMNS))
_FIELD_STRUCTS = {name: struct.Struct("<" + _STRUCT_CODE[fmt]) for name, fmt, _ in COLUMNS}

KNOWN_KINDS = frozenset(int(k) for k in EventKind)
_KNOWN_LUT = np.zeros(256, dtype=bool)
_KNOWN_LUT[list(KNOWN_KINDS)] = True


def bad_field(fields: Mapping[str, Any]) -> str:
    """Which field of a rejected row (values by column name) does not fit its column."""
    for name, fmt, _ in COLUMNS:
        value = fields[name]
        try:
            _FIELD_STRUCTS[name].pack(value & U64_MAX if name in ("value", "aux") else value)
        except (struct.error, OverflowError, TypeError):
            return f"{name}={value!r} does not fit the {name} column ({fmt})"
    return "row rejected"


def checked_column(name: str, values: Any, count: int) -> np.ndarray:
    """A column for a bulk append in its dtype, refusing values it cannot hold."""
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


def check_rows(cols: Mapping[str, np.ndarray], last_step: int, devices: Mapping[int, str]) -> None:
    """The checks a single append makes, over a bulk append's columns."""
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
