"""Colouring rules (Wireshark's): an ordered list of display filter -> colour; a row takes
the colour of the first rule it matches.

Qt-free, so the trap log, the timeline and exports share one evaluation: `colour_rows`
gives each requested row the index of its rule (-1: none) with one numpy mask per rule.
Rules are plain data (name, filter text, "#rrggbb"); the GUI keeps them in its settings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from workbench.session.eventlog.display_filter import DisplayFilter, compile_filter
from workbench.session.eventlog.filter_lang import FilterSyntaxError
from workbench.session.eventlog.log import EventLog

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_RULES = 64  # far more than anyone reads; bounds a settings file's cost


@dataclass(frozen=True)
class ColourRule:
    name: str
    filter: str
    colour: str  # "#rrggbb"

    def compiled(self) -> DisplayFilter | FilterSyntaxError:
        return compile_filter(self.filter)


def check_rule(rule: ColourRule) -> str | None:
    """Why the rule cannot colour anything (None: it can)."""
    if not COLOUR.match(rule.colour):
        return f"colour {rule.colour!r} is not #rrggbb"
    compiled = rule.compiled()
    if isinstance(compiled, FilterSyntaxError):
        return f"filter {rule.filter!r}: {compiled}"
    if compiled.everything:
        return "an empty filter would colour every row"
    return None


def colour_rows(rules: Sequence[ColourRule], log: EventLog,
                rows: np.ndarray | range) -> np.ndarray:
    """For each of `rows` (log row numbers), the index in `rules` of the first rule it
    matches, or -1. Rules that cannot apply (check_rule) match nothing."""
    if isinstance(rows, range) and rows.step == 1:
        block = log.rows(rows.start, rows.stop)
        numbers: int | np.ndarray = rows.start
    else:
        numbers = np.asarray(rows, dtype=np.int64)
        block = log.take(numbers)
    return match_rules(rules, block, numbers, log.devices)


def match_rules(rules: Sequence[ColourRule], block: np.ndarray, numbers: int | np.ndarray,
                devices: dict) -> np.ndarray:
    """For each row of a structured `block` (log rows `numbers`, or from `numbers` on),
    the index of the first rule it matches, or -1."""
    out = np.full(len(block), -1, dtype=np.int16)
    for i, rule in enumerate(rules[:MAX_RULES]):
        if check_rule(rule) is not None:
            continue
        compiled = rule.compiled()
        assert isinstance(compiled, DisplayFilter)
        out[(out < 0) & compiled.match_block(block, numbers, devices)] = i
    return out


def encode(rule: ColourRule) -> str:
    """One settings string: colour, name and filter separated by tabs (names and filters
    have their tabs turned into spaces, so the split is unambiguous)."""
    return "\t".join((rule.colour, rule.name.replace("\t", " "), rule.filter.replace("\t", " ")))


def decode(text: str) -> ColourRule:
    """The rule `encode` wrote; ValueError naming what is wrong."""
    parts = text.split("\t", 2)
    if len(parts) != 3:
        raise ValueError("expected colour<TAB>name<TAB>filter")
    colour, name, filt = parts
    if not COLOUR.match(colour):
        raise ValueError(f"colour {colour!r} is not #rrggbb")
    return ColourRule(name, filt, colour)
