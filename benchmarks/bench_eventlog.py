"""Event log: bytes per event at 10 M events, per-event append rate, mask filters over 10 M rows.

The 10 M rows are bulk-appended a million at a time, as loading a recording does, with a
mix of kinds, MSRs, vCPUs and devices like a long MSR-exit session with vfio traffic.
The per-event rate goes through the adapters the session calls for each event, with
real MsrAccess/VcpuExit/TrapEvent objects built beforehand so only the log is timed.
"""

from __future__ import annotations

import time

import numpy as np

from workbench.kvm import uapi
from workbench.kvm.exits import MsrExit, VcpuExit
from workbench.kvm.msr_exits import MsrAccess
from workbench.session.eventlog import EventKind, EventLog, parse_filter
from workbench.vfio.events import EventKind as VfioKind
from workbench.vfio.events import Site, TrapEvent

TOTAL = 10_000_000
BATCH = 1_000_000
PER_EVENT = 200_000
KINDS = np.array([EventKind.MSR_READ, EventKind.MSR_WRITE, EventKind.MSR_EXIT,
                  EventKind.USER_ANSWER, EventKind.HLT, EventKind.VFIO_CONFIG_READ,
                  EventKind.VFIO_CONFIG_WRITE], dtype=np.uint8)
MSRS = np.array([0x10, 0x1B, 0x35, 0x3A, 0xC0000080, 0x40000000], dtype=np.uint32)


def bulk_log() -> tuple[EventLog, float]:
    """10 M rows in 1 M-row batches; seconds spent in extend_columns."""
    rng = np.random.default_rng(0)
    log = EventLog()
    log.add_device(1, "0000:00:01.0")
    log.add_device(2, "0000:00:02.0")
    spent = 0.0
    for start in range(0, TOTAL, BATCH):
        kind = rng.choice(KINDS, BATCH)
        vfio = kind >= EventKind.VFIO_CONFIG_READ
        cols = dict(
            kind=kind,
            step=np.arange(start, start + BATCH, dtype=np.uint64) // 4,
            vcpu=np.where(vfio, -1, rng.integers(0, 4, BATCH)).astype(np.int16),
            device=np.where(vfio, rng.integers(1, 3, BATCH), -1).astype(np.int16),
            msr=np.where(vfio, 0, rng.choice(MSRS, BATCH)).astype(np.uint32),
            value=rng.integers(0, 1 << 63, BATCH, dtype=np.uint64),
            aux=rng.integers(0x1000, 0x2000, BATCH, dtype=np.uint64),
            reason=np.where(kind == EventKind.MSR_EXIT, rng.choice([1, 2, 4], BATCH), 0)
            .astype(np.uint8),
        )
        began = time.perf_counter()
        log.extend_columns(**cols)
        spent += time.perf_counter() - began
    return log, spent


def per_event_rates() -> dict[str, float]:
    """Microseconds per event through each adapter."""
    accesses = [MsrAccess(i & 3, 0x1000 + i, 0x10, False, i, True, 0, 0, False, False)
                for i in range(PER_EVENT)]
    exits = [VcpuExit(uapi.KVM_EXIT_X86_RDMSR, msr=MsrExit(0x35, 0, 2), rip=0x1000 + i)
             for i in range(PER_EVENT)]
    events = [TrapEvent(i, VfioKind.CONFIG_WRITE, "0000:00:01.0", 1, Site.VFIO_BASIC_CONFIG,
                        4, 2, 6, 6, 6, 0xFFFF) for i in range(PER_EVENT)]
    log = EventLog()
    rates = {}
    began = time.perf_counter()
    for step, a in enumerate(accesses):
        log.append_msr_access(a, step)
    rates["append_msr_access"] = (time.perf_counter() - began) / PER_EVENT * 1e6
    began = time.perf_counter()
    for e in exits:
        log.append_exit(e, 0, PER_EVENT)
    rates["append_exit"] = (time.perf_counter() - began) / PER_EVENT * 1e6
    began = time.perf_counter()
    for ev in events:
        log.append_vfio(ev, PER_EVENT)
    rates["append_vfio"] = (time.perf_counter() - began) / PER_EVENT * 1e6
    began = time.perf_counter()
    for i in range(PER_EVENT):
        log.append(EventKind.STEP, step=PER_EVENT, vcpu=0, aux=i)
    rates["append (keywords)"] = (time.perf_counter() - began) / PER_EVENT * 1e6
    return rates


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    """Best of `repeat` runs, in seconds, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - began)
    return best, result


def main() -> None:
    log, spent = bulk_log()
    print(f"bulk append: {len(log):,} events in {spent:.2f} s "
          f"({len(log) / spent / 1e6:.1f} M events/s)")
    print(f"storage: {log.nbytes / 2**20:.0f} MiB, {log.nbytes / len(log):.1f} bytes/event "
          f"(row {log.rows(0, 1).itemsize} bytes + unused rows of the last chunk)")
    for name, us in per_event_rates().items():
        print(f"per-event {name}: {us:.2f} us/event ({1 / us:.2f} M events/s)")
    filters = [
        "kind=MSR_EXIT",
        "kind=MSR_EXIT msr=0x35 vcpu=0",
        "msr=0xc0000000-0xc0001fff reason=FILTER",
        "device=0000:00:01.0 kind=config_write step=100000-2000000",
    ]
    for text in filters:
        spec = parse_filter(text)
        seconds, mask = timed(lambda spec=spec: log.mask(**spec))
        hits = int(np.count_nonzero(mask))
        print(f"mask {text!r} over {len(log):,} rows: {seconds * 1e3:.0f} ms ({hits:,} hits)")
    seconds, _ = timed(lambda: log.select(kinds="MSR_EXIT", vcpu=1))
    print(f"select kinds=MSR_EXIT vcpu=1: {seconds * 1e3:.0f} ms")
    seconds, _ = timed(log.digest, repeat=1)
    print(f"digest of all rows: {seconds * 1e3:.0f} ms")
    began = time.perf_counter()
    log.truncate(len(log) // 2)
    print(f"truncate to half (counters from the dropped rows): "
          f"{(time.perf_counter() - began) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
