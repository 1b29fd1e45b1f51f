"""Colouring rules: the first matching rule wins, for any set of rows, and rules that
cannot apply colour nothing."""

from __future__ import annotations

import numpy as np
from eventlog_rows import sample_log

from workbench.session.eventlog.colouring import ColourRule, colour_rows, decode, encode

RULES = [ColourRule("vcpu 1", "vcpu=1", "#D55E00"),
         ColourRule("broken", "vcpu=(", "#E69F00"),
         ColourRule("bad colour", "vcpu=2", "red"),
         ColourRule("early rows", "row<6 or vcpu=1", "#0072B2")]


def test_first_matching_rule_wins_for_ranges_and_row_arrays():
    log = sample_log(True)
    expected = [0 if log.row(i)["vcpu"] == 1 else 3 if i < 6 else -1 for i in range(len(log))]
    assert colour_rows(RULES, log, range(len(log))).tolist() == expected
    picked = np.array([17, 3, 1, 25, 4])  # any order, across chunks
    assert colour_rows(RULES, log, picked).tolist() == [expected[i] for i in picked]
    assert colour_rows([], log, range(5)).tolist() == [-1] * 5


def test_rules_survive_their_settings_encoding():
    rule = ColourRule("a, b; c", 'kind=HLT\tor "x"', "#56B4E9")
    assert decode(encode(rule)) == ColourRule("a, b; c", 'kind=HLT or "x"', "#56B4E9")
