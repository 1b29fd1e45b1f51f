"""One line per row: session and KVM rows read in kernel terms."""

from __future__ import annotations

import errno

from eventlog_rows import ADDR

from workbench.kvm import uapi
from workbench.session.eventlog import EventKind, EventLog, LoggedRow
from workbench.vfio.events import EventKind as VfioKind


def test_generic_append_and_session_rows_format():
    log = EventLog()
    log.add_device(7, ADDR)
    log.append(EventKind.CAP_SET, step=0, arg=uapi.KVM_CAP_X86_USER_SPACE_MSR, value=6)
    log.append(EventKind.FILTER_SET, step=1, value=2, arg=1, errno=errno.EINVAL)
    log.append(EventKind.BREAKPOINT, step=2, vcpu=0, value=3, aux=0x1234)
    log.append(EventKind.PAUSE, step=3)
    row = log.append(EventKind.VFIO_MMAP_ZAP, step=3, device=7, bar=2)
    assert log.row(row)["vfio_kind"] is VfioKind.MMAP_ZAP
    assert log.format_row(0).endswith("CAP_SET     cap=188 args[0]=0x6 -> ok")
    assert log.format_row(1).endswith("ranges=2 flags=0x1 -> EINVAL")
    assert log.format_row(2) == "step 2     #2    vcpu0 BREAKPOINT  breakpoint 3 rip=0x1234"
    assert log.format_row(3) == "step 3     #3    - PAUSE"
    assert ADDR in log.format_row(4) and "MMAP_ZAP" in log.format_row(4)


def test_a_decoded_row_has_every_named_field():
    log = EventLog()
    r = log.row(log.append(EventKind.HLT, step=1, vcpu=0, aux=0x99))
    assert list(r) == list(LoggedRow.__annotations__)
    assert (r["row"], r["kind"], r["aux"], r["device"], r["vfio_kind"]) == (
        0, EventKind.HLT, 0x99, None, None)
