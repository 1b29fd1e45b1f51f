"""The row layout and its chunked storage: packed little-endian rows, chunk boundaries,
column caching, where to truncate, and the bytes-per-event budget."""

from __future__ import annotations

import numpy as np
from eventlog_rows import KINDS

from workbench.kvm import uapi
from workbench.session.eventlog import CHUNK_ROWS, ROW_DTYPE, EventKind, EventLog, MsrExitReason
from workbench.session.eventlog import kinds as kindsmod
from workbench.vfio.events import EventKind as VfioKind

# --- layout and ABI ----------------------------------------------------------------------------

def test_row_layout_is_packed_little_endian_and_under_budget():
    assert ROW_DTYPE.itemsize == 58
    assert ROW_DTYPE.newbyteorder("<") == ROW_DTYPE, "the same bytes on any host"
    assert CHUNK_ROWS == 1 << 16


def test_msr_exit_reasons_are_the_kernels():
    assert {r.value: r.name for r in MsrExitReason} == uapi.MSR_EXIT_REASON_NAMES


def test_every_vfio_kind_has_a_log_kind():
    for vk in VfioKind:
        kind = EventKind.from_vfio(vk)
        assert kind.is_vfio and kind.name == "VFIO_" + vk.name.removeprefix("VFIO_")


# --- chunks, columns, truncation -------------------------------------------------------------
CHUNK_BYTES = CHUNK_ROWS * ROW_DTYPE.itemsize


def test_appends_across_a_real_chunk_boundary():
    log = EventLog()
    n = CHUNK_ROWS + 5
    for i in range(n):
        log.append(EventKind.STEP, step=i, vcpu=i % 3, aux=i)
    assert len(log) == n and log.nbytes == 2 * CHUNK_BYTES
    assert np.array_equal(log.column("aux"), np.arange(n))
    assert log.row(CHUNK_ROWS - 1)["aux"] == CHUNK_ROWS - 1
    assert log.row(CHUNK_ROWS)["aux"] == CHUNK_ROWS
    log.truncate(CHUNK_ROWS)
    assert log.nbytes == CHUNK_BYTES and log.counters()["kinds"] == {"STEP": CHUNK_ROWS}
    log.append(EventKind.HLT, step=CHUNK_ROWS, vcpu=1)
    assert log.row(CHUNK_ROWS)["kind"] is EventKind.HLT and log.nbytes == 2 * CHUNK_BYTES


def test_column_cache_follows_appends_and_truncation():
    log = EventLog()
    log.extend_columns(kind=EventKind.STEP, step=np.arange(10))
    first = log.column("step")
    assert log.column("step") is first and not first.flags.writeable
    log.truncate(4)
    log.append(EventKind.STEP, step=100)
    assert list(log.column("step")) == [0, 1, 2, 3, 100]


def test_row_of_step_finds_where_to_truncate():
    log = EventLog(chunk_rows=4)
    log.extend_columns(kind=EventKind.STEP, step=[0, 0, 1, 1, 1, 3, 3, 3, 3, 7])
    assert [log.row_of_step(s) for s in (0, 1, 2, 3, 4, 7, 8)] == [0, 2, 5, 5, 9, 9, 10]


# --- size --------------------------------------------------------------------------------------

def test_a_million_rows_take_at_most_64_bytes_each():
    log = EventLog()
    n = 1_000_000
    rng = np.random.default_rng(1)
    log.extend_columns(kind=rng.choice(KINDS, n).astype(np.uint8), step=np.arange(n),
                       msr=rng.integers(0, 1 << 32, n, dtype=np.uint64), vcpu=rng.integers(0, 4, n),
                       value=rng.integers(0, 1 << 63, n), reason=rng.choice([0, 1, 2, 4], n))
    assert len(log) == n
    assert log.nbytes / n <= 64
    assert log.counters()["events"] == n
    assert log.counters()["exits"] == int(np.isin(log.column("kind"),
                                                  list(kindsmod.EXIT_KINDS)).sum())
