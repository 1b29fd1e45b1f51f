"""Statistics from kept chunk counts equal a naive per-event count over random logs: rows
appended one by one or in bulk across many chunk boundaries, rows cut off and appended
again, and the whole-log, step-range and display-filter scopes."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.session.eventlog import EventKind, EventLog, Flag
from workbench.session.eventlog.display_filter import compile_filter, step_rows
from workbench.session.eventlog.kinds import EXIT_KINDS
from workbench.session.eventlog.stats import compute

DEVICES = {1: "0000:00:01.0", 2: "0000:00:02.0", 3: "0000:00:01.0"}
MSR_KINDS = (EventKind.MSR_READ, EventKind.MSR_WRITE, EventKind.MSR_EXIT)
VFIO_COLUMNS = {"CONFIG_READ": "Config reads", "CONFIG_WRITE": "Config writes",
                "REGION_READ": "BAR reads", "REGION_WRITE": "BAR writes",
                "REGION_BLOCKED": "Blocked MMIO", "MMAP_ZAP": "Zaps",
                "MMAP_FAULT": "SIGBUS faults"}
EXIT_LABELS = {EventKind.IO_EXIT: "IO_EXIT exit", EventKind.HLT: "HLT",
               EventKind.SHUTDOWN: "SHUTDOWN exit", EventKind.INTR: "INTR exit",
               EventKind.OTHER_EXIT: "OTHER_EXIT exit"}

row_st = st.fixed_dictionaries({
    "kind": st.sampled_from(list(EventKind)),
    # MSRs anywhere and vCPU 32767 take the counting's sorting paths for wide keys
    "msr": st.one_of(st.sampled_from([0, 0x10, 0x35, 0x4000_0001, 0xC000_0080, 0xFFFF_FFFF]),
                     st.integers(0, (1 << 32) - 1)),
    "vcpu": st.sampled_from([-1, 0, 1, 3, 300, 32767]),
    "device": st.sampled_from([-1, 1, 2, 3]),
    "reason": st.integers(0, 7),
    "flags": st.integers(0, 63),
    "dstep": st.integers(0, 2),
})


def _append(log: EventLog, rows: list[dict], bulk: bool) -> None:
    steps = (int(log.column("step")[-1]) if len(log) else 0) + np.cumsum(
        [r["dstep"] for r in rows], dtype=np.int64)
    if bulk and rows:
        log.extend_columns(step=steps, **{k: np.array([r[k] for r in rows]) for k in
                                          ("kind", "msr", "vcpu", "device", "reason",
                                           "flags")})
    elif not bulk:
        for r, s in zip(rows, steps.tolist(), strict=True):
            log.append(r["kind"], step=s, msr=r["msr"], vcpu=r["vcpu"], device=r["device"],
                       reason=r["reason"], flags=r["flags"])


def _naive(log: EventLog, rows: list[int]) -> dict[str, dict]:
    """Each statistics table as {label: counts by column}, one event at a time."""
    tables: dict[str, dict] = {"MSRs": {}, "vCPUs": {}, "PCI devices": {},
                               "Exit reasons": Counter()}
    for i in rows:
        r = log.row(i)
        kind, flags, reason = r["kind"], int(r["flags"]), int(r["reason"])
        access = kind in MSR_KINDS or (kind == EventKind.MSR_GP and not flags & Flag.EXITED)
        in_kernel = (access and kind != EventKind.MSR_EXIT
                     and not flags & (Flag.EXITED | Flag.PASSTHROUGH))
        exits = {bit: kind == EventKind.MSR_EXIT and bool(reason & bit) for bit in (1, 2, 4)}
        msr = Counter({"Reads": access and not flags & Flag.WRITE,
                       "Writes": access and bool(flags & Flag.WRITE), "In kernel": in_kernel,
                       "Exit INVAL": exits[1], "Exit UNKNOWN": exits[2],
                       "Exit FILTER": exits[4], "#GP": kind == EventKind.MSR_GP,
                       "Passthrough": access and bool(flags & Flag.PASSTHROUGH)})
        if any(msr.values()):
            tables["MSRs"].setdefault(f"msr={r['msr']:#x}", Counter()).update(msr)
        if r["vcpu"] != -1:
            tables["vCPUs"].setdefault(r["vcpu"], Counter()).update({
                "Events": 1, "Exits": kind in EXIT_KINDS,
                "MSR exits": kind == EventKind.MSR_EXIT, "In kernel": in_kernel,
                "#GP": kind == EventKind.MSR_GP, "IO exits": kind == EventKind.IO_EXIT,
                "HLT": kind == EventKind.HLT})
        if r["device_id"] != -1:
            name = kind.name.removeprefix("VFIO_")
            device = tables["PCI devices"].setdefault(r["device_id"], Counter())
            device["Events"] += 1
            if name in VFIO_COLUMNS:
                device[VFIO_COLUMNS[name]] += 1
        for bit, label in ((1, "INVAL"), (2, "UNKNOWN"), (4, "FILTER")):
            tables["Exit reasons"][f"MSR exit {label}"] += exits[bit]
        tables["Exit reasons"][EXIT_LABELS.get(kind)] += 1
    return tables


def _table(stats, title: str, key) -> dict:
    """{key(row): counts by column, zeros left out} of one statistics table."""
    table = stats.table(title)
    return {key(row): +Counter(dict(zip(table.columns, row.counts, strict=True)))
            for row in table.rows}


@settings(max_examples=80, deadline=None)
@given(first=st.lists(row_st, max_size=30), again=st.lists(row_st, max_size=12),
       chunk_rows=st.integers(1, 6), bulk=st.booleans(), cut=st.floats(0, 1),
       scope=st.sampled_from(["all", "steps", "filter", "mask"]), data=st.data())
def test_statistics_equal_a_naive_count_of_every_event(first, again, chunk_rows, bulk, cut,
                                                       scope, data):
    log = EventLog(chunk_rows)
    for dev, address in DEVICES.items():
        log.add_device(dev, address)
    _append(log, first, bulk)
    compute(log)  # a count before the cut must not leak into the counts after it
    log.truncate(int(len(log) * cut))
    _append(log, again, not bulk)
    rows, mask = range(len(log)), None
    if scope == "steps" and len(log):
        last = int(log.column("step")[-1])
        a = data.draw(st.integers(0, last))
        rows = step_rows(log, a, data.draw(st.integers(a, last)))
    elif scope == "filter":
        mask = compile_filter(data.draw(st.sampled_from(
            ["vcpu=1", "not kind=MSR_EXIT", "flags=PASSTHROUGH or device=2"]))).mask(log)
    elif scope == "mask":
        mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(log),
                                           max_size=len(log))), dtype=bool)
    counted = [i for i in rows if mask is None or mask[i - rows.start]]
    naive = _naive(log, counted)
    stats = compute(log, rows, mask)
    assert stats.events == len(counted)
    assert _table(stats, "MSRs", lambda row: row.filter) == {
        k: +c for k, c in naive["MSRs"].items()}
    assert _table(stats, "vCPUs", lambda row: int(row.label)) == {
        k: +c for k, c in naive["vCPUs"].items()}
    devices = sorted(naive["PCI devices"])  # in id order; ids 1 and 3 share an address
    columns = stats.table("PCI devices").columns
    assert [(row.label, +Counter(dict(zip(columns, row.counts, strict=True))))
            for row in stats.table("PCI devices").rows] == [
        (DEVICES[d], +naive["PCI devices"][d]) for d in devices]
    del naive["Exit reasons"][None]  # rows of no exit reason
    reasons = stats.table("Exit reasons").rows  # every reason, counted or not
    assert {row.label: row.counts[0] for row in reasons} == {
        row.label: naive["Exit reasons"][row.label] for row in reasons}
    assert set(naive["Exit reasons"]) <= {row.label for row in reasons}
