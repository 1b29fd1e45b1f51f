"""Rows for the event-log tests: sample kvm/vfio events, a random-row strategy and a
builder that logs rows one by one or in bulk (the two must agree)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from workbench.kvm.exits import MsrExit, VcpuExit
from workbench.kvm.sim import MsrAccess
from workbench.session.eventlog import EventKind, EventLog

ADDR = "0000:00:01.0"


def access(**kw) -> MsrAccess:
    fields = dict(vcpu_id=1, rip=0x1000, index=0x10, write=False, value=5, allowed=True,
                  result=0, reason=0, exited=False, gp=False)
    fields.update(kw)
    return MsrAccess(**fields)


def msr_exit(code, index=0x35, data=0, reason=2, rip=0x2000):
    return VcpuExit(code, msr=MsrExit(index=index, data=data, reason=reason), rip=rip)


KINDS = [EventKind.MSR_READ, EventKind.MSR_EXIT, EventKind.USER_ANSWER, EventKind.HLT,
         EventKind.IO_EXIT, EventKind.STEP, EventKind.VFIO_CONFIG_READ, EventKind.VFIO_ACTION]
DEVICES = {1: "0000:00:01.0", 2: "0000:00:02.0", 3: "0000:00:01.0"}

rows_st = st.lists(
    st.fixed_dictionaries({
        "kind": st.sampled_from(KINDS),
        "msr": st.sampled_from([0, 0x10, 0x35, 0x1B, 0xC0000080, 0xFFFFFFFF]),
        "vcpu": st.integers(-1, 3),
        "device": st.sampled_from([-1, 1, 2, 3]),
        "reason": st.sampled_from([0, 1, 2, 4, 6]),
        "dstep": st.integers(0, 2),
        "value": st.integers(0, (1 << 64) - 1),
    }),
    max_size=40,
)


def build(rows: list[dict], bulk: bool, chunk_rows: int = 7) -> EventLog:
    log = EventLog(chunk_rows)
    for dev, addr in DEVICES.items():
        log.add_device(dev, addr)
    steps = np.cumsum([r["dstep"] for r in rows], dtype=np.int64)
    if bulk:
        cols = {k: np.array([r[k] for r in rows], dtype=np.uint64 if k == "value" else np.int64)
                for k in ("kind", "msr", "vcpu", "device", "reason", "value")}
        log.extend_columns(step=steps, **cols)
    else:
        for r, s in zip(rows, steps, strict=True):
            log.append(r["kind"], step=int(s), msr=r["msr"], vcpu=r["vcpu"],
                       device=r["device"], reason=r["reason"], value=r["value"])
    return log


def sample_log(bulk: bool) -> EventLog:
    rows = [{"kind": KINDS[i % len(KINDS)], "msr": i * 3, "vcpu": i % 4, "device": i % 3 + 1,
             "reason": 1 << (i % 3), "dstep": i % 2, "value": i * 0x1111} for i in range(30)]
    return build(rows, bulk, chunk_rows=8)
