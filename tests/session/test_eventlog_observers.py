"""Observers get batches of new and truncated rows, only when flushed."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from workbench.session.eventlog import EventKind, EventLog


def test_observers_get_batches_only_on_flush():
    log = EventLog()
    log.append(EventKind.STEP, step=0)
    seen: list[tuple[int, int]] = []
    unsubscribe = log.subscribe(lambda first, last: seen.append((first, last)))
    for i in range(1000):
        log.append(EventKind.STEP, step=i)
    assert seen == []
    log.flush_observers()
    log.flush_observers()
    assert seen == [(1, 1001)]
    log.truncate(500)
    log.flush_observers()
    assert seen[-1] == (500, 500), "rows from 500 on are gone"
    log.extend_columns(kind=EventKind.STEP, step=np.full(10, 999))
    log.truncate(505)
    log.flush_observers()
    assert seen[-1] == (500, 505), "first below the last batch's end: drop, then re-read"
    unsubscribe()
    log.append(EventKind.STEP, step=999)
    log.flush_observers()
    assert len(seen) == 3
    with pytest.raises(TypeError):
        log.subscribe(SimpleNamespace())
