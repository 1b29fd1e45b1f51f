"""The digest: stable, independent of how rows arrived, and sensitive to every field."""

from __future__ import annotations

import pytest
from eventlog_rows import DEVICES, sample_log

from workbench.session.eventlog import FIELDS, EventKind, EventLog


def test_digest_is_stable_and_independent_of_how_rows_arrived():
    per_event, bulk = sample_log(False), sample_log(True)
    assert per_event.digest() == bulk.digest() == "a55ba88bc327d93a16b892c88da9b693"
    assert per_event.digest(5, 20) == bulk.digest(5, 20) != bulk.digest(5, 21)
    assert EventLog().digest() == bulk.digest(3, 3)
    with pytest.raises(IndexError):
        bulk.digest(0, 31)


@pytest.mark.parametrize("field", FIELDS)
def test_digest_sees_any_field_change(field):
    log = sample_log(True)
    cols = {name: log.column(name).copy() for name in FIELDS if name != "vkind"}
    if field == "vkind":
        cols["kind"][12] = EventKind.VFIO_ACTION if cols["kind"][12] != EventKind.VFIO_ACTION \
            else EventKind.VFIO_CONFIG_READ
    elif field == "step":
        cols["step"][12:] += 1
    elif field == "kind":
        cols["kind"][12] = EventKind.MSR_EXIT if cols["kind"][12] != EventKind.MSR_EXIT \
            else EventKind.HLT
    elif field == "device":
        cols["device"][12] = cols["device"][12] % 3 + 1
    else:
        cols[field][12] ^= 1
    changed = EventLog(chunk_rows=5)
    for dev, addr in DEVICES.items():
        changed.add_device(dev, addr)
    changed.extend_columns(**cols)
    assert changed.digest(0, 12) == log.digest(0, 12)
    assert changed.digest() != log.digest()
    assert changed.digest(12, 13) != log.digest(12, 13)
