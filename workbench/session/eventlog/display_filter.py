"""A parsed display filter, applied to the columnar log as numpy masks.

`compile_filter(text)` is the one entry point the views use (trap log, statistics,
colouring rules, export, the timeline): it returns a DisplayFilter, or a
FilterSyntaxError value with the position, never raises. A DisplayFilter masks a whole
log chunk by chunk (no copy of the 58-byte rows) or one block of rows the caller holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from workbench.session.eventlog import filter_fields as ff
from workbench.session.eventlog.filter_lang import (
    BoolOp,
    Everything,
    FilterSyntaxError,
    Node,
    Not,
    Term,
    parse,
)
from workbench.session.eventlog.log import EventLog


def _eval(node: Node, cols: ff.Columns, n: int, devices: Mapping[int, str]) -> np.ndarray:
    if isinstance(node, Term):
        return ff.evaluate(node.field, node.test, cols, devices)
    if isinstance(node, Not):
        return ~_eval(node.inner, cols, n, devices)
    if isinstance(node, BoolOp):
        out = _eval(node.parts[0], cols, n, devices)
        for part in node.parts[1:]:
            if node.op == "and":
                out &= _eval(part, cols, n, devices)
            else:
                out |= _eval(part, cols, n, devices)
        return out
    return np.ones(n, dtype=bool)


@dataclass(frozen=True)
class DisplayFilter:
    """A filter that parsed; `text` is what the user typed."""

    text: str
    node: Node

    @property
    def everything(self) -> bool:
        """True for the blank filter, which keeps every row (callers can skip the work)."""
        return isinstance(self.node, Everything)

    def match_block(self, block: np.ndarray, rows: int | np.ndarray,
                    devices: Mapping[int, str]) -> np.ndarray:
        """Which rows of `block` (structured rows) pass; `rows` is their log row numbers,
        or the first one's when the block is a contiguous run of rows."""
        n = len(block)

        def cols(name: str) -> np.ndarray:
            if name != "row":
                return block[name]
            if isinstance(rows, np.ndarray):
                return rows.astype(np.int64, copy=False)
            return np.arange(rows, rows + n, dtype=np.int64)

        return _eval(self.node, cols, n, devices)

    def mask(self, log: EventLog, first: int = 0, last: int | None = None) -> np.ndarray:
        """Boolean mask over log rows [first, last) (all rows by default)."""
        last = len(log) if last is None else last
        out = np.ones(last - first, dtype=bool)
        if self.everything:
            return out
        devices = log.devices
        for row, block in log.blocks(first, last):
            out[row - first:row - first + len(block)] = self.match_block(block, row, devices)
        return out

    def select(self, log: EventLog, first: int = 0, last: int | None = None) -> np.ndarray:
        """The matching log row numbers (int64, ascending) within [first, last)."""
        return first + np.flatnonzero(self.mask(log, first, last)).astype(np.int64)


def compile_filter(text: str) -> DisplayFilter | FilterSyntaxError:
    """The filter `text` ready to apply, or a FilterSyntaxError (position, message)."""
    node = parse(text)
    return node if isinstance(node, FilterSyntaxError) else DisplayFilter(text, node)


def step_rows(log: EventLog, first_step: int, last_step: int) -> range:
    """Log rows of steps first_step..last_step (inclusive): steps never decrease, so this
    is a contiguous range found by two binary searches, whatever the log's size."""
    if last_step < first_step:
        return range(0)
    return range(log.row_of_step(first_step), log.row_of_step(last_step + 1))
