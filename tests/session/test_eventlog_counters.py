"""kvm_stat-style counters against a brute-force count, through appends and truncation."""

from __future__ import annotations

import numpy as np
from eventlog_rows import build, rows_st
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.session.eventlog import FIELDS, EventKind, EventLog, MsrExitReason
from workbench.session.eventlog import kinds as kindsmod


def brute_counters(log: EventLog) -> dict:
    kinds, reasons, vcpus = {}, {r.name: 0 for r in MsrExitReason}, {}
    for i in range(len(log)):
        r = log.row(i)
        kinds[r["kind"].name] = kinds.get(r["kind"].name, 0) + 1
        if r["kind"] in kindsmod.EXIT_KINDS:
            vcpus[r["vcpu"]] = vcpus.get(r["vcpu"], 0) + 1
        if r["kind"] is EventKind.MSR_EXIT:
            for bit in MsrExitReason:
                reasons[bit.name] += bool(r["reason"] & bit)
    kinds = {EventKind[k].name: kinds[k] for k in sorted(kinds, key=lambda k: EventKind[k])}
    return {"events": len(log), "exits": sum(vcpus.values()), "kinds": kinds,
            "msr_exit_reasons": reasons, "vcpu_exits": dict(sorted(vcpus.items()))}


@settings(max_examples=40, deadline=None)
@given(rows=rows_st, more=rows_st, cut=st.floats(0, 1), bulk=st.booleans())
def test_counters_follow_appends_and_truncation(rows, more, cut, bulk):
    log = build(rows, bulk, chunk_rows=6)
    assert log.counters() == brute_counters(log)
    n = int(len(log) * cut)
    before = log.rows(0, n)
    log.truncate(n)
    assert len(log) == n and np.array_equal(log.rows(), before)
    assert log.counters() == brute_counters(log)
    tail = build(more, bulk)
    last_step = int(log.column("step")[-1]) if len(log) else 0
    log.extend_columns(**{name: tail.column(name) + (last_step if name == "step" else 0)
                          for name in FIELDS if name != "vkind"})
    assert log.counters() == brute_counters(log)
    exits = brute_counters(log)["vcpu_exits"]
    assert all(log.exits_of(vcpu) == exits.get(vcpu, 0) for vcpu in range(-1, 8))
