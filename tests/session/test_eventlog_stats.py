"""Statistics: the demo scenarios' counts equal counts read independently from their
recording files (plain json and the event lines), and the scopes narrow what is counted."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from eventlog_rows import build, rows_st
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import cli
from workbench.session.eventlog import EventKind, EventLog
from workbench.session.eventlog.display_filter import DisplayFilter, compile_filter, step_rows
from workbench.session.eventlog.stats import RateMeter, compute
from workbench.session.recording import open_recording

SCENARIOS = Path(cli.DEMO_SCENARIO).parent
_LINE = re.compile(r"^step (\d+)\s+#\d+\s+(\S+)\s+(\S+)\s*(.*)$")


def _recorded(scenario: str, tmp_path: Path) -> tuple[list[tuple[int, str, str, str]], EventLog]:
    """(step, who, kind, rest) of every recorded event line, and the replayed log."""
    path = tmp_path / f"{scenario}.rec.jsonl"
    assert cli.main(["record", str(SCENARIOS / f"{scenario}.toml"), "-o", str(path)]) == 0
    events = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["kind"] == "command":
            assert len(record["events"]) == record["rows"]  # none cut off
            for text in record["events"]:
                step, who, kind, rest = _LINE.match(text).groups()
                events.append((int(step), who, kind, rest))
    replay = open_recording(path)
    for _ in replay.play():
        pass
    return events, replay.session.log


def _table(stats, title: str) -> dict[str, dict[str, int]]:
    table = stats.table(title)
    return {row.label.split()[0]: dict(zip(table.columns, row.counts, strict=True))
            for row in table.rows}


def test_msr_and_reason_statistics_equal_the_recording(tmp_path):
    events, log = _recorded("demo", tmp_path)
    expected: dict[str, Counter] = {}
    reasons: Counter = Counter()
    for _, _, kind, rest in events:
        access = re.search(r"(rdmsr|wrmsr) (0x[0-9a-f]+)", rest)
        if kind in ("MSR_EXIT", "MSR_GP") or kind.startswith("MSR_"):
            c = expected.setdefault(access.group(2), Counter())
            user_gp = "user space error" in rest
            if kind in ("MSR_READ", "MSR_WRITE", "MSR_EXIT") or (kind == "MSR_GP"
                                                                   and not user_gp):
                c["Reads" if access.group(1) == "rdmsr" else "Writes"] += 1
            passthrough = "passthrough" in rest
            c["Passthrough"] += passthrough
            c["In kernel"] += (kind in ("MSR_READ", "MSR_WRITE") and not passthrough) or (
                kind == "MSR_GP" and not user_gp)
            c["#GP"] += kind == "MSR_GP"
            if kind == "MSR_EXIT":
                reason = re.search(r"reason=(\w+)", rest).group(1)
                c[f"Exit {reason}"] += 1
                reasons[f"MSR exit {reason}"] += 1
        elif kind in ("IO_EXIT", "HLT"):
            reasons[{"IO_EXIT": "IO_EXIT exit", "HLT": "HLT"}[kind]] += 1
    stats = compute(log)
    got = _table(stats, "MSRs")
    assert set(got) == set(expected)
    for msr, counts in expected.items():
        assert {k: v for k, v in got[msr].items() if v} == {k: v for k, v in counts.items()
                                                            if v}, msr
    exits = {row.label: row.counts[0] for row in stats.table("Exit reasons").rows}
    assert {k: v for k, v in exits.items() if v} == dict(reasons)
    vcpus = _table(stats, "vCPUs")
    assert vcpus["0"]["Events"] == sum(who == "vcpu0" for _, who, _, _ in events)


def test_device_statistics_equal_the_recording_over_the_recorded_steps(tmp_path):
    events, log = _recorded("x86-sriov-vf", tmp_path)
    names = {"CONFIG_READ": "Config reads", "CONFIG_WRITE": "Config writes",
             "REGION_READ": "BAR reads", "REGION_WRITE": "BAR writes",
             "REGION_BLOCKED": "Blocked MMIO", "MMAP_ZAP": "Zaps",
             "MMAP_FAULT": "SIGBUS faults"}
    expected: dict[str, Counter] = {}
    for _, device, kind, _ in events:
        c = expected.setdefault(device, Counter())
        c["Events"] += 1
        if kind in names:
            c[names[kind]] += 1
    last = max(step for step, *_ in events)
    # The scenario's setup (step 0) is not in the recording: count the recorded steps.
    got = _table(compute(log, step_rows(log, 1, last)), "PCI devices")
    assert {d: {k: v for k, v in c.items() if v} for d, c in got.items()} == {
        d: dict(c) for d, c in expected.items()}
    whole = _table(compute(log), "PCI devices")
    assert sum(c["Events"] for c in whole.values()) > len(events)  # setup rows too


def _log() -> EventLog:
    log = EventLog(chunk_rows=4)
    for step, (kind, vcpu, msr, reason) in enumerate([
            (EventKind.MSR_EXIT, 0, 0x35, 4), (EventKind.MSR_EXIT, 1, 0x35, 2),
            (EventKind.MSR_READ, 1, 0x10, 0), (EventKind.HLT, 0, 0, 0),
            (EventKind.MSR_EXIT, 1, 0xC0010015, 4), (EventKind.MSR_WRITE, 2, 0x10, 0)]):
        log.append(kind, step=step, vcpu=vcpu, msr=msr, reason=reason,
                   flags=1 if kind == EventKind.MSR_WRITE else 0)
    return log


@pytest.mark.parametrize(("filter_text", "msrs"), [
    ("", {"0x10": (1, 1), "0x35": (2, 0), "0xc0010015": (1, 0)}),
    ("vcpu=1", {"0x10": (1, 0), "0x35": (1, 0), "0xc0010015": (1, 0)}),
    ("reason=FILTER", {"0x35": (1, 0), "0xc0010015": (1, 0)}),
])
def test_a_display_filter_scopes_the_statistics(filter_text, msrs):
    log = _log()
    compiled = compile_filter(filter_text)
    assert isinstance(compiled, DisplayFilter)
    stats = compute(log, mask=compiled.mask(log))
    assert {k: (v["Reads"], v["Writes"]) for k, v in _table(stats, "MSRs").items()} == msrs


def test_live_rates_count_the_rows_added_between_samples():
    log = _log()
    meter = RateMeter()
    assert meter.sample(log, 10.0) is None
    log.append(EventKind.HLT, step=9, vcpu=0)
    log.append(EventKind.MSR_EXIT, step=9, vcpu=0, msr=0x35, reason=4)
    rates = meter.sample(log, 12.0)
    assert rates["HLT"] == 0.5 and rates["MSR exit FILTER"] == 0.5
    assert rates["MSR exit UNKNOWN"] == 0
    log.truncate(2)
    assert meter.sample(log, 13.0) is None  # the log went back in time: start over


@settings(max_examples=60, deadline=None)
@given(rows=rows_st, bulk=st.booleans())
def test_vcpu_and_device_tables_match_a_brute_force_count(rows, bulk):
    log = build(rows, bulk)
    stats = compute(log)
    decoded = [log.row(i) for i in range(len(log))]
    for title, key, name in (("vCPUs", "vcpu", str), ("PCI devices", "device", str)):
        expected = Counter(name(r[key]) for r in decoded
                           if (r[key] is not None and r[key] != -1))
        got: Counter = Counter()  # two device ids may share an address: one row each
        for row in stats.table(title).rows:
            got[row.label] += row.counts[0]  # Events
        assert got == expected, title
    exits = Counter(r["kind"] for r in decoded)
    reasons = {row.label: row.counts[0] for row in stats.table("Exit reasons").rows}
    assert reasons["HLT"] == exits[EventKind.HLT]
    assert reasons["IO_EXIT exit"] == exits[EventKind.IO_EXIT]
    msr_exits = [r for r in decoded if r["kind"] == EventKind.MSR_EXIT]
    assert reasons["MSR exit FILTER"] == sum(bool(r["reason"] & 4) for r in msr_exits)


def _same(a, b) -> bool:
    return a.events == b.events and all(
        [(r.label, r.counts) for r in x.rows] == [(r.label, r.counts) for r in y.rows]
        for x, y in zip(a.tables, b.tables, strict=True))


def test_counts_kept_for_whole_chunks_follow_appends_new_devices_and_cuts():
    log = EventLog(chunk_rows=4)
    rows = [(EventKind.MSR_EXIT, 0, 0x35, 4, -1), (EventKind.HLT, 1, 0, 0, -1)] * 5

    def add(log, items, step=0):
        for kind, vcpu, msr, reason, device in items:
            log.append(kind, step=step, vcpu=vcpu, msr=msr, reason=reason, device=device)

    add(log, rows)
    compute(log)  # counts the two whole chunks and keeps them
    log.add_device(3, "0000:00:03.0")
    more = [(EventKind.VFIO_MMAP_ZAP, -1, 0, 0, 3), (EventKind.MSR_READ, 2, 0x10, 0, -1)] * 3
    add(log, more, step=1)
    fresh = EventLog(chunk_rows=4)
    fresh.add_device(3, "0000:00:03.0")
    add(fresh, rows)
    add(fresh, more, step=1)
    assert _same(compute(log), compute(fresh))
    assert _same(compute(log, range(4, 12)), compute(fresh, range(4, 12)))
    log.truncate(6)
    add(log, [(EventKind.MSR_EXIT, 7, 0xC0010015, 2, -1)] * 5, step=2)
    cut = EventLog(chunk_rows=4)
    cut.add_device(3, "0000:00:03.0")
    add(cut, rows[:6])
    add(cut, [(EventKind.MSR_EXIT, 7, 0xC0010015, 2, -1)] * 5, step=2)
    assert _same(compute(log), compute(cut))
    assert compute(log).table("vCPUs").rows[-1].label == "7"
