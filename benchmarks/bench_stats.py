"""Trace-viewer views over 10 M events: statistics, display filters, colouring rules, export.

The log is bench_eventlog's 10 M-row mix. Statistics are timed for the whole session, a
step range and a display filter's rows, the first two side by side with counting every
chunk afresh (what a first count cost before the log kept each chunk's counts on append);
display filters of the new language for the trap log; colouring rules for one screen of
rows (what the trap log paints) and for every row (the timeline's worst case); JSON
Lines export per 100,000 rows. Each figure is the best of a few runs.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_eventlog import bulk_log, timed
from workbench.session.eventlog.colouring import ColourRule, colour_rows
from workbench.session.eventlog.display_filter import DisplayFilter, compile_filter, step_rows
from workbench.session.eventlog.export import write_events
from workbench.session.eventlog.stats import compute

FILTERS = (
    "kind=MSR_EXIT and reason=FILTER",
    "value>0xffff and not (vcpu=0 or msr=IA32_TSC)",
    "(kind=CONFIG_WRITE and device=0000:00:01.0) or step<100000",
)
RULES = [ColourRule("#GP", "kind=MSR_GP", "#D55E00"),
         ColourRule("denied", "kind=MSR_EXIT and reason=FILTER", "#E69F00"),
         ColourRule("blocked", "kind=REGION_BLOCKED or kind=MMAP_FAULT", "#CC79A7"),
         ColourRule("failed ioctl", "(kind=FILTER_SET or kind=CAP_SET) and errno!=0",
                    "#F0E442"),
         ColourRule("passthrough", "flags=PASSTHROUGH", "#56B4E9")]


def _compiled(text: str) -> DisplayFilter:
    compiled = compile_filter(text)
    assert isinstance(compiled, DisplayFilter), compiled
    return compiled


def _side_by_side(what: str, new, old, repeat: int = 3) -> None:
    """Best wall and CPU times of `new` and `old`, run alternately in one process."""
    best = {"new": [float("inf")] * 2, "old": [float("inf")] * 2}
    for _ in range(repeat):
        for name, fn in (("new", new), ("old", old)):
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            times = (time.perf_counter() - wall, time.process_time() - cpu)
            best[name] = [min(a, b) for a, b in zip(best[name], times, strict=True)]
    print(f"{what}: {best['new'][0] * 1e3:.1f} ms wall, {best['new'][1] * 1e3:.1f} ms CPU; "
          f"counting every chunk afresh (old): {best['old'][0] * 1e3:.0f} ms wall, "
          f"{best['old'][1] * 1e3:.0f} ms CPU")


def main() -> None:
    log, spent = bulk_log()
    n = len(log)
    print(f"bulk append of {n:,} events, each full chunk counted as it fills: {spent:.2f} s")

    def kept() -> object:  # every full chunk was counted as it filled
        return compute(log)

    def afresh() -> object:  # the old first count: every chunk counted now
        log.forget_chunk_counts()
        return compute(log)

    _side_by_side(f"statistics, whole session, {n:,} events, first count", kept, afresh)
    stats = compute(log)
    entries = sum(log.chunk_counts(i).size for i in range(n // log.chunk_rows))
    print(f"  ({len(stats.table('MSRs').rows)} MSRs, {len(stats.table('vCPUs').rows)} vCPUs; "
          f"counts kept: {entries * 16 / n:.3f} bytes/event)")
    last = int(log.column("step")[-1])
    rows = step_rows(log, last // 4, last // 2)
    _side_by_side(f"statistics, a step range of {len(rows):,} events, first count",
                  lambda: compute(log, rows),
                  lambda: (log.forget_chunk_counts(), compute(log, rows)))
    mask = _compiled(FILTERS[1]).mask(log)
    seconds, _ = timed(lambda: compute(log, mask=mask))
    print(f"statistics, a display filter's {int(mask.sum()):,} events: {seconds * 1e3:.0f} ms")
    for text in FILTERS:
        compiled = _compiled(text)
        seconds, hits = timed(lambda c=compiled: c.mask(log))
        print(f"display filter {text!r} over {n:,} rows: {seconds * 1e3:.0f} ms "
              f"({int(hits.sum()):,} hits)")
    screen = np.arange(n // 2, n // 2 + 256)
    seconds, _ = timed(lambda: colour_rows(RULES, log, screen))
    print(f"colouring rules ({len(RULES)}), one screen of 256 rows: {seconds * 1e3:.1f} ms")
    seconds, _ = timed(lambda: colour_rows(RULES, log, range(0, 1_000_000)), repeat=1)
    print(f"colouring rules ({len(RULES)}), 1,000,000 rows: {seconds * 1e3:.0f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.jsonl"
        seconds, _ = timed(lambda: write_events(log, range(100_000), out, "jsonl"), repeat=1)
    print(f"export JSON Lines: {seconds:.2f} s per 100,000 events")


if __name__ == "__main__":
    main()
