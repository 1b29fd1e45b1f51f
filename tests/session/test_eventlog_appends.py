"""The event log's appends: each adapter round-trips its kvm/vfio object, real sim and PCI
sessions log one row per event, and bad rows are refused with the field named."""

from __future__ import annotations

import numpy as np
import pytest
from eventlog_rows import ADDR, access, msr_exit

from workbench.kvm import MsrFilter, MsrFilterRange, uapi
from workbench.kvm.exits import IoExit, VcpuExit
from workbench.kvm.guest import assemble
from workbench.session.eventlog import EventKind, EventLog, Flag
from workbench.vfio import PciSystem
from workbench.vfio.events import EventKind as VfioKind
from workbench.vfio.events import EventRecorder, Site, TrapEvent

# --- adapters ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("acc", "kind", "flags"),
    [
        (access(), EventKind.MSR_READ, Flag.ALLOWED),
        (access(write=True, value=1 << 63), EventKind.MSR_WRITE, Flag.ALLOWED | Flag.WRITE),
        (access(allowed=False, reason=4, gp=True, value=0), EventKind.MSR_GP, Flag.GP),
        (access(result=2, reason=2, gp=True), EventKind.MSR_GP, Flag.ALLOWED | Flag.GP),
    ],
)
def test_msr_access_round_trip(acc, kind, flags):
    log = EventLog()
    row = log.append_msr_access(acc, step=3)
    r = log.row(row)
    assert (r["kind"], r["flags"], r["step"], r["vcpu"]) == (kind, flags, 3, acc.vcpu_id)
    assert (r["msr"], r["value"], r["aux"]) == (acc.index, acc.value, acc.rip)
    assert (r["reason"], r["result"], r["device"]) == (acc.reason, acc.result, None)


def test_exiting_access_is_left_to_its_exit_record():
    log = EventLog()
    assert log.append_msr_access(access(exited=True, reason=2, result=2), step=0) is None
    assert len(log) == 0


@pytest.mark.parametrize(
    ("exit_", "expect"),
    [
        (msr_exit(uapi.KVM_EXIT_X86_RDMSR, data=9),
         dict(kind=EventKind.MSR_EXIT, msr=0x35, value=0, reason=2, result=2,
              flags=Flag.EXITED | Flag.ALLOWED, arg=uapi.KVM_EXIT_X86_RDMSR)),
        (msr_exit(uapi.KVM_EXIT_X86_WRMSR, data=0xAB, reason=4),
         dict(kind=EventKind.MSR_EXIT, value=0xAB, reason=4, result=0,
              flags=Flag.EXITED | Flag.WRITE)),
        (msr_exit(uapi.KVM_EXIT_X86_WRMSR, data=1, reason=1),
         dict(reason=1, result=1, flags=Flag.EXITED | Flag.WRITE | Flag.ALLOWED)),
        (VcpuExit(uapi.KVM_EXIT_IO, io=IoExit(uapi.KVM_EXIT_IO_OUT, 1, 0x3F8, 1, 0x41), rip=7),
         dict(kind=EventKind.IO_EXIT, offset=0x3F8, size=1, value=0x41, arg=1,
              flags=Flag.WRITE)),
        (VcpuExit(uapi.KVM_EXIT_IO, io=IoExit(uapi.KVM_EXIT_IO_IN, 2, 0x60, 1, 0x99), rip=7),
         dict(kind=EventKind.IO_EXIT, offset=0x60, size=2, value=0, flags=0)),
        (VcpuExit(uapi.KVM_EXIT_HLT, rip=0x99), dict(kind=EventKind.HLT, aux=0x99)),
        (VcpuExit(uapi.KVM_EXIT_SHUTDOWN), dict(kind=EventKind.SHUTDOWN)),
        (VcpuExit(uapi.KVM_EXIT_INTR), dict(kind=EventKind.INTR)),
        (VcpuExit(uapi.KVM_EXIT_MMIO), dict(kind=EventKind.OTHER_EXIT, arg=uapi.KVM_EXIT_MMIO)),
    ],
)
def test_exit_round_trip(exit_, expect):
    log = EventLog()
    r = log.row(log.append_exit(exit_, vcpu=2, step=5))
    assert (r["vcpu"], r["step"], r["aux"]) == (2, 5, exit_.rip)
    assert {k: r[k] for k in expect} == expect
    assert log.counters()["vcpu_exits"] == {2: 1}


def test_answers_round_trip():
    log = EventLog()
    rd = msr_exit(uapi.KVM_EXIT_X86_RDMSR)
    rd.msr.data = 0x1122334455667788
    r = log.row(log.append_answer(rd, vcpu=0, step=1))
    assert (r["kind"], r["msr"], r["value"], r["errno"], r["flags"]) == (
        EventKind.USER_ANSWER, 0x35, 0x1122334455667788, 0, Flag(0))
    wr = msr_exit(uapi.KVM_EXIT_X86_WRMSR, data=5)
    wr.msr.error = 1
    r = log.row(log.append_answer(wr, vcpu=0, step=1))
    assert (r["errno"], r["flags"]) == (1, Flag.WRITE | Flag.ERROR)
    io_in = VcpuExit(uapi.KVM_EXIT_IO, io=IoExit(uapi.KVM_EXIT_IO_IN, 1, 0x60, 1, 0x5A))
    r = log.row(log.append_answer(io_in, vcpu=0, step=1))
    assert (r["kind"], r["offset"], r["value"], r["size"]) == (EventKind.IO_ANSWER, 0x60, 0x5A, 1)
    with pytest.raises(ValueError, match="no answer"):
        log.append_answer(VcpuExit(uapi.KVM_EXIT_HLT), vcpu=0, step=1)


def vfio_events() -> list[TrapEvent]:
    ev = [TrapEvent(seq=i, kind=k, device=ADDR, dev_id=3, site=Site.VFIO_BASIC_CONFIG,
                    offset=0x4 + i, size=2, value=0x100 + i, phys=0x200 + i, virt=0x300 + i,
                    mask=0xFFFF, bar=i % 6, errno=i, arg=1)
          for i, k in enumerate(VfioKind)]
    ev.append(TrapEvent(seq=99, kind=VfioKind.FLAG_CHANGE, device=ADDR, dev_id=3, arg=2,
                        value=-1))
    ev.append(TrapEvent(seq=98, kind=VfioKind.ACTION, device=ADDR, dev_id=3, arg=7, bar=0,
                        errno=-7))
    return ev


def test_vfio_round_trip_and_line_match_vfio_format():
    log = EventLog()
    for event in vfio_events():
        row = log.append_vfio(event, step=4)
        r = log.row(row)
        assert r["kind"] is EventKind.from_vfio(event.kind)
        assert (r["vfio_kind"], r["vkind"], r["device"], r["device_id"]) == (
            event.kind, event.kind, ADDR, 3)
        assert (r["offset"], r["size"], r["aux"], r["virt"], r["mask"]) == (
            event.offset, event.size, event.phys, event.virt, event.mask)
        assert (r["bar"], r["errno"], r["arg"], r["site"]) == (
            event.bar, event.errno, event.arg, event.site)
        assert r["value"] == event.value & (1 << 64) - 1
        expected = event.__class__(**{**_fields(event), "seq": row}).format()
        assert log.format_row(row) == "step 4     " + expected
    assert log.devices == {3: ADDR}


def _fields(event: TrapEvent) -> dict:
    return {name: getattr(event, name) for name in TrapEvent.__slots__}


def test_real_sim_session_logs_one_row_per_exit():
    """A sim VM's accesses and exits as the session would log them, kvm_stat counters."""
    import workbench.kvm

    log = EventLog()
    step = 0
    with workbench.kvm.open("sim") as kvm, kvm.create_vm() as vm:
        vm.observer = lambda acc: log.append_msr_access(acc, step)
        vm.enable_cap(uapi.KVM_CAP_X86_USER_SPACE_MSR, uapi.KVM_MSR_EXIT_REASON_UNKNOWN
                      | uapi.KVM_MSR_EXIT_REASON_FILTER)
        vm.set_msr_filter(MsrFilter(0, [MsrFilterRange(uapi.KVM_MSR_FILTER_READ, 0x10, 1,
                                                       b"\x00")]))
        log.append(EventKind.FILTER_SET, step=step, value=1)
        vcpu = vm.create_vcpu(assemble(
            "mov ecx, 0x1b\nrdmsr\nmov ecx, 0x10\nrdmsr\nmov ecx, 0x35\nrdmsr\nhlt"))
        for step in range(1, 10):
            exit_ = vcpu.run()
            log.append_exit(exit_, 0, step)
            if exit_.exit_reason == uapi.KVM_EXIT_HLT:
                break
            exit_.msr.data = step
            log.append_answer(exit_, 0, step)
    kinds = [EventKind(k).name for k in log.column("kind")]
    assert kinds == ["FILTER_SET", "MSR_READ", "MSR_EXIT", "USER_ANSWER", "MSR_EXIT",
                     "USER_ANSWER", "HLT"]
    c = log.counters()
    assert c["msr_exit_reasons"] == {"INVAL": 0, "UNKNOWN": 1, "FILTER": 1}
    assert c["vcpu_exits"] == {0: 3} and c["exits"] == 3
    assert list(log.select(kinds="MSR_EXIT", reason="FILTER")) == [2]
    assert "(IA32_TSC) reason=FILTER" in log.format_row(2)


def test_real_pci_system_events():
    rec = EventRecorder()
    pci = PciSystem(observer=rec)
    pf = pci.add_sriov_pf()
    dev = pci.vfio_open(pf)
    dev.config_write(0x04, 2, 0x2)
    dev.config_read(0x04, 2)
    log = EventLog()
    for event in rec:
        log.append_vfio(event, step=0)
    assert len(log) == len(rec) > 2
    assert list(log.select(device=str(pf.address))) == list(range(len(rec)))
    last = list(rec)[-1]
    assert log.format_row(-1).endswith(last.format().split(maxsplit=1)[1])


# --- rejected input ----------------------------------------------------------------------------

def test_bad_rows_are_rejected_with_the_field_named():
    log = EventLog()
    log.append(EventKind.STEP, step=5)
    with pytest.raises(ValueError, match="step 4 is before"):
        log.append(EventKind.STEP, step=4)
    with pytest.raises(ValueError, match="unknown event kind 200"):
        log.append(200, step=5)
    with pytest.raises(ValueError, match="msr="):
        log.append(EventKind.MSR_READ, step=5, msr=1 << 32)
    with pytest.raises(ValueError, match="not registered"):
        log.append(EventKind.VFIO_ACTION, step=5, device=3)
    with pytest.raises(ValueError, match="cannot also be"):
        log.add_device(1, ADDR)
        log.add_device(1, "0000:00:02.0")
    with pytest.raises(ValueError, match="beyond"):
        log.extend_columns(kind=np.full(3, 1), step=5, vcpu=[0, 1, 40000])
    with pytest.raises(ValueError, match="vkind"):
        log.extend_columns(kind=[1], step=5, vkind=[1])
    with pytest.raises(ValueError, match="must not decrease"):
        log.extend_columns(kind=[1, 1], step=[6, 5])
    with pytest.raises(ValueError, match="unknown event kind"):
        log.extend_columns(kind=[1, 99], step=5)
    with pytest.raises(ValueError, match="not registered"):
        log.extend_columns(kind=[1], step=5, device=[9])
    assert len(log) == 1 and log.counters()["events"] == 1
    with pytest.raises(ValueError, match="unknown event kind 'nope'"):
        log.mask(kinds="nope")
    with pytest.raises(ValueError, match="unknown MSR exit reason"):
        log.mask(reason="sometimes")
    log.add_device(2, "0000:00:0a.0")
    log.append(EventKind.VFIO_MMAP_ZAP, step=5, device=2, bar=0)
    assert log.select(device="0000:00:0A.0").tolist() == [1], "addresses compare lower-case"


@pytest.mark.parametrize(
    ("kind", "fields", "words"),
    [
        (EventKind.STEP, dict(step=7.5), "step=7.5 does not fit"),
        (EventKind.MSR_READ, dict(step=7, value=1.5), "value=1.5 does not fit"),
        (EventKind.STEP, dict(step=7, vcpu=None), "vcpu=None does not fit"),
        (300, dict(step=7), "unknown event kind 300"),
        (-1, dict(step=7), "unknown event kind -1"),
    ],
)
def test_a_refused_row_leaves_no_trace(kind, fields, words):
    log = EventLog()
    log.append(EventKind.STEP, step=5)
    with pytest.raises(ValueError, match=words):
        log.append(kind, **fields)
    log.append(EventKind.STEP, step=5)
    assert len(log) == 2 and log.counters()["kinds"] == {"STEP": 2}
    assert log.column("step").tolist() == [5, 5]
