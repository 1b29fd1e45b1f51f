"""A whole kernel trace text read fast: its canonical `kvm_msr` lines in bulk.

A trace has millions of lines, nearly all `kvm_msr` ones printed one way. One regular
expression over the whole text (`split`, so no Python runs per line in the scan) splits
every line into a `kvm_msr` line's fields or the line itself; the part before the timestamp
(thread, CPU, flags) repeats, so it is checked once per distinct text against the form
`kernel_events.split_line` reads the same way; the accesses are then built column by column
with `map`. Every other line goes to `KernelEvents.feed_lines`, in order, so the result is
exactly `feed_lines(text.splitlines(), header)` (tests/capture/test_fast_import.py).
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import repeat

from workbench.capture.kernel_events import KernelEvents
from workbench.capture.model import MsrAccess

# Characters str.splitlines() breaks lines at besides "\n": a text holding any of them is
# read line by line, so that line numbers stay those of splitlines().
_OTHER_LINE_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
# Per line: (head, seconds, "write" | None, index, value, " (#GP)" | None, any other line).
_LINE = re.compile(r"(?:([^\n:]*) ([0-9]+\.[0-9]+): kvm_msr: msr_(?:read|(write)) "
                   r"([0-9a-f]{1,8}) = 0x([0-9a-f]{1,16})( \(#GP\))?|([^\n]*))\n")
# The head (+ " "), where split_line and this reader agree on its thread id and name: no ':'
# '[' ']' '(' ')' in the name, one flags word without '[' ']' ':'.
_HEAD = (r"(?!{header}) *([^\n\[\]():]*)-([0-9]+) +(?:\( *[0-9-]+\) +)?\[[0-9]+\] +"
         r"(?:[^\n \[\]:]+ +)?")
_GROUPS = _LINE.groups
_heads: dict[str, re.Pattern[str]] = {}


def _threads(heads: set[str], header: re.Pattern[str]) -> tuple[dict[str, int], dict[str, str]]:
    """Each canonical head's thread id, and its thread name; a head in neither must be
    read line by line."""
    pattern = _heads.get(header.pattern)
    if pattern is None:
        pattern = _heads[header.pattern] = re.compile(_HEAD.format(header=header.pattern))
    tids: dict[str, int] = {}
    names: dict[str, str] = {}
    for head in heads:
        m = pattern.fullmatch(head + " ")
        if m is not None:
            tids[head], names[head] = int(m[2]), m[1].strip()
    return tids, names


@contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic collector off while millions of acyclic objects are made: it would walk
    them all again and again, for nothing (about a third of the time)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def feed_text(reader: KernelEvents, text: str, header: re.Pattern[str]) -> None:
    """`reader.feed_lines(text.splitlines(), header)`, faster: in bulk where at least a
    quarter of the lines are kvm_msr ones. The bulk pass costs every other line about a
    third of what it saves a kvm_msr line (a boot trace, nearly all kvm_pio and
    kvm_userspace_exit, reads 15% slower in bulk)."""
    if text.count(": kvm_msr: ") * 4 >= text.count("\n"):
        feed_bulk(reader, text, header)
    else:
        reader.feed_lines(text.splitlines(), header)


def feed_bulk(reader: KernelEvents, text: str, header: re.Pattern[str]) -> None:
    """`reader.feed_lines(text.splitlines(), header)`, with kvm_msr lines read in bulk."""
    if any(c in text for c in _OTHER_LINE_BREAKS):
        reader.feed_lines(text.splitlines(), header)
        return
    with _no_gc():
        # One match a line, back to back: split() gives the groups flat, "" between matches.
        flat = _LINE.split(text if text.endswith("\n") else text + "\n")
        _feed_columns(reader, [flat[i::_GROUPS + 1] for i in range(1, _GROUPS + 1)], text,
                      header)


def _feed_columns(reader: KernelEvents, columns: list[list[str | None]], text: str,
                  header: re.Pattern[str]) -> None:
    heads, *fields, others = columns
    tid_of, name_of = _threads(set(heads) - {None}, header)   # head is None on other lines
    tids = list(map(tid_of.get, heads))                       # None: read line by line
    whole: list[str] = []       # the text's lines, split only for a kvm_msr line read so
    start, total = 0, len(heads)
    while start < total:
        try:
            end = tids.index(None, start)
        except ValueError:
            end = total
        if end > start:
            _accesses(reader, tid_of, name_of, heads[start:end],
                      [column[start:end] for column in fields], start)
        if end < total:
            line = others[end]
            if line is None:    # a kvm_msr line whose head is not canonical
                whole = whole or text.splitlines()
                line = whole[end]
            reader.feed_lines([line], header, end + 1)
        start = end + 1


def _accesses(reader: KernelEvents, tid_of: dict[str, int], name_of: dict[str, str],
              heads: list[str], fields: list[list[str]], start: int) -> None:
    """Lines start+1.., all canonical kvm_msr lines, as accesses."""
    stamps, writes, indexes, values, gps = fields
    for head in dict.fromkeys(heads):       # a thread is named by its first line
        reader.threads.setdefault(tid_of[head], name_of[head])
    got: list[int | None] = list(map(int, values, repeat(16)))
    if any(gps):    # a faulting read returns nothing to the guest
        for i, (gp, write) in enumerate(zip(gps, writes, strict=True)):
            if gp and not write:
                got[i] = None
    reader.events.extend(map(MsrAccess, map(tid_of.__getitem__, heads),
                             map(int, indexes, repeat(16)), map(bool, writes), got,
                             map(bool, gps), repeat(None), map(float, stamps),
                             range(start + 1, start + 1 + len(heads))))
