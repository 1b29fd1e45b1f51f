"""Export: log rows as CSV or JSON Lines, statistics as CSV; every file written atomically.

An exported event has the display filter's field names (filter_fields.FIELDS) with the
values the filter takes, so `kind=MSR_EXIT and reason=FILTER` reads straight off a line:
kind and site by name, device by PCI address, reason and flags as comma-separated bit
names, the rest as integers. Rows are converted a chunk at a time, so exporting millions
of rows streams instead of building every line in memory first.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from workbench.atomic import write_atomic
from workbench.session.eventlog.filter_fields import FIELDS
from workbench.session.eventlog.kinds import EventKind, Flag, MsrExitReason
from workbench.session.eventlog.log import EventLog
from workbench.session.eventlog.stats import Statistics
from workbench.vfio.events import Site

FORMATS = ("csv", "jsonl")
_BATCH = 1 << 15
_KIND_NAMES = [EventKind(k).name if k in EventKind._value2member_map_ else str(k)
               for k in range(256)]
_SITE_NAMES = {int(s): s.name for s in Site}


def _names(enum: type[Flag] | type[MsrExitReason]) -> np.ndarray:
    """Each byte value's bit names, comma-separated (what `reason=`/`flags=` take)."""
    return np.array([",".join(m.name for m in enum if v & m and m.name) for v in range(256)],
                    dtype=object)


_KINDS = np.array(_KIND_NAMES, dtype=object)
_REASONS, _FLAGS = _names(MsrExitReason), _names(Flag)


def _taken(log: EventLog, rows: np.ndarray | range) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(row numbers, rows) a batch at a time."""
    rows = np.asarray(rows, dtype=np.int64)
    for start in range(0, len(rows), _BATCH):
        numbers = rows[start:start + _BATCH]
        first, last = int(numbers[0]), int(numbers[-1]) + 1
        consecutive = last - first == len(numbers) and bool(np.all(numbers[1:] > numbers[:-1]))
        yield numbers, log.rows(first, last) if consecutive else log.take(numbers)


def _batches(log: EventLog, rows: np.ndarray | range) -> Iterator[list[list[Any]]]:
    """The rows a batch at a time, as one list per field (FIELDS order), converted."""
    devices = log.devices
    for numbers, block in _taken(log, rows):
        vfio = (block["kind"] >= 64).tolist()
        cols = {name: block[name].tolist() for name in FIELDS if name != "row"}
        cols["row"] = numbers.tolist()
        cols["kind"] = _KINDS[block["kind"]].tolist()
        cols["device"] = [devices.get(d) for d in cols["device"]]
        cols["site"] = [_SITE_NAMES.get(s) if v else None
                        for s, v in zip(cols["site"], vfio, strict=True)]
        cols["reason"] = _REASONS[block["reason"]].tolist()
        cols["flags"] = _FLAGS[block["flags"]].tolist()
        yield [cols[name] for name in FIELDS]


def events(log: EventLog, rows: np.ndarray | range) -> Iterator[dict[str, Any]]:
    """One dict per row, FIELDS in order, values as the display filter spells them."""
    for cols in _batches(log, rows):
        for values in zip(*cols, strict=True):
            yield dict(zip(FIELDS, values, strict=True))


def _csv_chunks(batches: Iterable[list[list[Any]]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIELDS)
    for cols in batches:
        writer.writerows(zip(*cols, strict=True))  # None is written as an empty field
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue().encode()


# JSON Lines are made as bytes a batch at a time: each field a (rows x width) byte matrix,
# its text right-aligned and padded with NUL bytes (which JSON text never holds), the
# fields and their keys side by side, and the NULs dropped in one pass. The text is the
# same json.dumps(dict) writes with compact separators, without a str per value.
def _table(texts: Iterable[str | None]) -> np.ndarray:
    """Texts (None as null) as a fixed-width bytes array, NUL-padded on the left."""
    encoded = [("null" if t is None else json.dumps(t) if isinstance(t, str) else str(t))
               .encode() for t in texts]
    width = max(map(len, encoded))
    return np.array([b"\0" * (width - len(e)) + e for e in encoded], dtype=f"S{width}")


_JSON_KINDS, _JSON_REASONS, _JSON_FLAGS = (_table(names) for names in
                                           (_KIND_NAMES, _REASONS, _FLAGS))
# A site by name on vfio rows only: indexed by site + 256 * (kind is vfio).
_JSON_SITES = _table([None] * 256 + [_SITE_NAMES.get(s) for s in range(256)])


def _bytes(strings: np.ndarray) -> np.ndarray:
    return strings.view(np.uint8).reshape(len(strings), strings.dtype.itemsize)


_QUADS = np.array([f"{i:04d}".encode() for i in range(10_000)]).view(np.uint32)
_POW10 = np.array([10**k for k in range(20)], dtype=np.uint64)


def _digits(col: np.ndarray) -> np.ndarray:
    """Decimal text of integers, NUL-padded, as wide as the batch's widest: four digits a
    division and a table lookup."""
    signed = col.dtype.kind == "i"
    value = (np.abs(col.astype(np.int64)) if signed else col).astype(np.uint64)
    width = -(-len(str(int(value.max(initial=0)))) // 4) * 4
    quads = np.empty((len(col), width // 4), np.uint32)
    x = value
    for k in range(width // 4 - 1, -1, -1):
        x, low = np.divmod(x, np.uint64(10_000))
        quads[:, k] = _QUADS[low]
    out = quads.view(np.uint8)
    # a digit is a leading zero where the value is below 10 ** (digits after it + 1)
    out[:, :-1][value[:, None] < _POW10[width - 1:0:-1]] = 0
    if not signed:
        return out
    return np.concatenate([np.where(col < 0, ord("-"), 0).astype(np.uint8)[:, None], out],
                          axis=1)


def _json_field(name: str, block: np.ndarray, numbers: np.ndarray,
                devices: np.ndarray) -> np.ndarray:
    """One field of a batch as a byte matrix of JSON text: names through tables of their
    JSON text, integers in decimal."""
    if name == "row":
        return _digits(numbers.astype(np.uint64))
    col = block[name]
    if name in ("kind", "reason", "flags", "site", "device"):
        table, index = {"kind": (_JSON_KINDS, col), "reason": (_JSON_REASONS, col),
                        "flags": (_JSON_FLAGS, col), "device": (devices, col + 1),
                        "site": (_JSON_SITES, col + (block["kind"] >= 64) * 256)}[name]
        return _bytes(table[index])
    return _digits(col)


def _jsonl_chunks(log: EventLog, rows: np.ndarray | range) -> Iterator[bytes]:
    keys = [np.frombuffer((("{" if i == 0 else ",") + f'"{name}":').encode(), np.uint8)
            for i, name in enumerate(FIELDS)]
    end = np.frombuffer(b"}\n", np.uint8)
    names = log.devices
    devices = _table([names.get(d) for d in range(-1, max(names, default=-1) + 1)])
    for numbers, block in _taken(log, rows):
        n = len(numbers)
        parts = []
        for key, name in zip(keys, FIELDS, strict=True):
            parts += [np.broadcast_to(key, (n, len(key))),
                      _json_field(name, block, numbers, devices)]
        text = np.concatenate([*parts, np.broadcast_to(end, (n, len(end)))], axis=1)
        yield text.tobytes().translate(None, b"\0")


def write_events(log: EventLog, rows: np.ndarray | range, path: Path, fmt: str) -> int:
    """Write the rows as `fmt` ("csv" or "jsonl") to `path` atomically; the row count."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (csv or jsonl)")
    chunks = _csv_chunks(_batches(log, rows)) if fmt == "csv" else _jsonl_chunks(log, rows)
    write_atomic(Path(path), chunks)
    return len(rows)


def write_statistics(stats: Statistics, path: Path) -> None:
    """Every statistics table as CSV: the table's title as the first column of its rows,
    so one file holds them all and a spreadsheet filter separates them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for table in stats.tables:
        writer.writerow(["table", table.key, *table.columns])
        for row in table.rows:
            writer.writerow([table.title, row.label, *row.counts])
        writer.writerow([])
    write_atomic(Path(path), [buffer.getvalue().encode()])
