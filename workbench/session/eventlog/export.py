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

from workbench.session.eventlog.filter_fields import FIELDS
from workbench.session.eventlog.kinds import EventKind, Flag, MsrExitReason
from workbench.session.eventlog.log import EventLog
from workbench.session.eventlog.stats import Statistics
from workbench.session.journal import write_atomic
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


def _batches(log: EventLog, rows: np.ndarray | range) -> Iterator[list[list[Any]]]:
    """The rows a batch at a time, as one list per field (FIELDS order), converted."""
    rows = np.asarray(rows, dtype=np.int64)
    devices = log.devices
    for start in range(0, len(rows), _BATCH):
        numbers = rows[start:start + _BATCH]
        block = log.take(numbers)
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


def _json_values(values: list[Any]) -> list[str]:
    """A column's values as JSON text: ints and None directly, strings through json."""
    return [("null" if v is None else str(v)) if not isinstance(v, str) else json.dumps(v)
            for v in values]


def _jsonl_chunks(batches: Iterable[list[list[Any]]]) -> Iterator[bytes]:
    # Each line is assembled from pre-rendered fields: the same text json.dumps(dict)
    # writes with compact separators, several times faster than a dict per row.
    template = "{{" + ",".join(f'"{name}":{{}}' for name in FIELDS) + "}}\n"
    for cols in batches:
        rendered = [_json_values(col) for col in cols]
        yield "".join(template.format(*values)
                      for values in zip(*rendered, strict=True)).encode()


def write_events(log: EventLog, rows: np.ndarray | range, path: Path, fmt: str) -> int:
    """Write the rows as `fmt` ("csv" or "jsonl") to `path` atomically; the row count."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (csv or jsonl)")
    chunks = _csv_chunks if fmt == "csv" else _jsonl_chunks
    write_atomic(Path(path), chunks(_batches(log, rows)))
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
