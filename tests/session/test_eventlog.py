"""The session event log: adapters round-trip, chunks, filters vs brute force, counters,
truncation, digest, the filter-box syntax, observers and the bytes-per-event budget."""

from __future__ import annotations

import errno
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.kvm import MsrFilter, MsrFilterRange, uapi
from workbench.kvm.exits import IoExit, MsrExit, VcpuExit
from workbench.kvm.guest import assemble
from workbench.kvm.sim import MsrAccess
from workbench.session.eventlog import (
    CHUNK_ROWS,
    FIELDS,
    ROW_DTYPE,
    EventKind,
    EventLog,
    FilterError,
    Flag,
    MsrExitReason,
    parse_filter,
)
from workbench.session.eventlog import kinds as kindsmod
from workbench.vfio import PciSystem
from workbench.vfio.events import EventKind as VfioKind
from workbench.vfio.events import EventRecorder, Site, TrapEvent

ADDR = "0000:00:01.0"


def access(**kw) -> MsrAccess:
    fields = dict(vcpu_id=1, rip=0x1000, index=0x10, write=False, value=5, allowed=True,
                  result=0, reason=0, exited=False, gp=False)
    fields.update(kw)
    return MsrAccess(**fields)


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


def msr_exit(code, index=0x35, data=0, reason=2, rip=0x2000):
    return VcpuExit(code, msr=MsrExit(index=index, data=data, reason=reason), rip=rip)


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


# --- chunks, columns, truncation -------------------------------------------------------------

def test_appends_across_a_real_chunk_boundary():
    log = EventLog()
    n = CHUNK_ROWS + 5
    for i in range(n):
        log.append(EventKind.STEP, step=i, vcpu=i % 3, aux=i)
    assert len(log) == n and len(log._chunks) == 2
    assert np.array_equal(log.column("aux"), np.arange(n))
    assert log.row(CHUNK_ROWS - 1)["aux"] == CHUNK_ROWS - 1
    assert log.row(CHUNK_ROWS)["aux"] == CHUNK_ROWS
    log.truncate(CHUNK_ROWS)
    assert len(log._chunks) == 1 and log.counters()["kinds"] == {"STEP": CHUNK_ROWS}
    log.append(EventKind.HLT, step=CHUNK_ROWS, vcpu=1)
    assert log.row(CHUNK_ROWS)["kind"] is EventKind.HLT and len(log._chunks) == 2


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


# --- brute-force model -------------------------------------------------------------------------

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


def brute_counters(log: EventLog) -> dict:
    kinds, reasons, vcpus = {}, {r.name: 0 for r in MsrExitReason}, {}
    for i in range(len(log)):
        r = log.row(i)
        kinds[r["kind"].name] = kinds.get(r["kind"].name, 0) + 1
        if r["kind"] in kindsmod.EXIT_KINDS:
            vcpus[r["vcpu"]] = vcpus.get(r["vcpu"], 0) + 1
        if r["kind"] is EventKind.MSR_EXIT:
            for bit in MsrExitReason:
                reasons[bit.name] += bool(r["reason"] & bit)
    kinds = {EventKind[k].name: kinds[k] for k in sorted(kinds, key=lambda k: EventKind[k])}
    return {"events": len(log), "exits": sum(vcpus.values()), "kinds": kinds,
            "msr_exit_reasons": reasons, "vcpu_exits": dict(sorted(vcpus.items()))}


filters_st = st.fixed_dictionaries({}, optional={
    "kinds": st.one_of(st.sampled_from(KINDS), st.lists(st.sampled_from(KINDS), max_size=3),
                       st.sampled_from(["exit", "msr", "vfio", "config_read"])),
    "msr": st.one_of(st.sampled_from([0, 0x35, 0xFFFFFFFF, -1, 1 << 40]),
                     st.just(range(0x10, 0x36)), st.just(slice(0, 0x20)),
                     st.just([0x10, range(0xC0000000, 0xC0002000)]), st.just(range(0x35, 0, -2))),
    "vcpu": st.one_of(st.integers(-1, 3), st.lists(st.integers(-1, 3), max_size=3)),
    "device": st.sampled_from([1, 2, -1, "0000:00:01.0", "0000:00:09.0", [2, "0000:00:01.0"]]),
    "reason": st.sampled_from([1, 2, 4, 6, "filter", ["INVAL", 4]]),
    "steps": st.one_of(st.integers(0, 20), st.builds(range, st.integers(0, 20),
                                                      st.integers(0, 40))),
})


def _in(value: int, spec) -> bool:
    if isinstance(spec, slice):
        spec = range(spec.start or 0, spec.stop, spec.step or 1)
    if isinstance(spec, int | range):
        spec = [spec]
    return any(value in s if isinstance(s, range) else value == s for s in spec)


def brute_match(r: dict, f: dict) -> bool:
    if "kinds" in f:
        spec = f["kinds"] if isinstance(f["kinds"], list) else [f["kinds"]]
        groups = {"exit": kindsmod.EXIT_KINDS, "msr": kindsmod.MSR_KINDS,
                  "vfio": {k for k in EventKind if k.is_vfio},
                  "config_read": {EventKind.VFIO_CONFIG_READ}}
        allowed = set().union(*(groups[s] if isinstance(s, str) else {s} for s in spec))
        if r["kind"] not in allowed:
            return False
    if "msr" in f and not (r["kind"] in kindsmod.MSR_KINDS and _in(r["msr"], f["msr"])):
        return False
    if "vcpu" in f and not _in(r["vcpu"], f["vcpu"]):
        return False
    if "device" in f:
        spec = f["device"] if isinstance(f["device"], list) else [f["device"]]
        ids = {d for s in spec for d in
               ([i for i, a in DEVICES.items() if a == s] if isinstance(s, str) else [s])}
        if r["device_id"] not in ids:
            return False
    if "reason" in f:
        spec = f["reason"] if isinstance(f["reason"], list) else [f["reason"]]
        bits = 0
        for s in spec:
            bits |= MsrExitReason[s.upper()] if isinstance(s, str) else s
        if not r["reason"] & bits:
            return False
    return "steps" not in f or _in(r["step"], f["steps"])


@settings(max_examples=60, deadline=None)
@given(rows=rows_st, filters=st.lists(filters_st, min_size=1, max_size=4), bulk=st.booleans())
def test_masks_match_brute_force(rows, filters, bulk):
    log = build(rows, bulk)
    decoded = [log.row(i) for i in range(len(log))]
    for f in filters:
        expected = [brute_match(r, f) for r in decoded]
        assert log.mask(**f).tolist() == expected, f
        assert log.select(**f).tolist() == [i for i, e in enumerate(expected) if e]


@settings(max_examples=40, deadline=None)
@given(rows=rows_st, more=rows_st, cut=st.floats(0, 1), bulk=st.booleans())
def test_counters_follow_appends_and_truncation(rows, more, cut, bulk):
    log = build(rows, bulk, chunk_rows=6)
    assert log.counters() == brute_counters(log)
    n = int(len(log) * cut)
    before = log.rows(0, n)
    log.truncate(n)
    assert len(log) == n and np.array_equal(log.rows(), before)
    assert log.counters() == brute_counters(log)
    tail = build(more, bulk)
    log.extend_columns(**{name: tail.column(name) + (log._last_step if name == "step" else 0)
                          for name in FIELDS if name != "vkind"})
    assert log.counters() == brute_counters(log)


# --- digest ------------------------------------------------------------------------------------

def sample_log(bulk: bool) -> EventLog:
    rows = [{"kind": KINDS[i % len(KINDS)], "msr": i * 3, "vcpu": i % 4, "device": i % 3 + 1,
             "reason": 1 << (i % 3), "dstep": i % 2, "value": i * 0x1111} for i in range(30)]
    return build(rows, bulk, chunk_rows=8)


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


# --- filter box --------------------------------------------------------------------------------

def test_parse_filter_good_input():
    f = parse_filter("kind=MSR_EXIT,hlt msr=0x35 vcpu=0 reason=FILTER device=0000:00:01.0")
    assert f == {"kinds": ["MSR_EXIT", "hlt"], "msr": [0x35], "vcpu": [0],
                 "reason": ["FILTER"], "device": ["0000:00:01.0"]}
    assert parse_filter("") == {}
    assert parse_filter("msr=0x40000000-0x400000ff,0x10 step=3-5 vcpu=-1 device=2,3") == {
        "msr": [range(0x40000000, 0x40000100), 0x10], "steps": [range(3, 6)],
        "vcpu": [-1], "device": [2, 3]}
    assert parse_filter("kind=config_write reason=6") == {"kinds": ["config_write"],
                                                          "reason": [6]}


def test_parsed_filter_drives_mask():
    log = sample_log(False)
    text = "kind=MSR_EXIT,msr_read msr=0-0x40 vcpu=1,3 reason=inval,unknown step=0-10"
    assert log.mask(**parse_filter(text)).tolist() == [
        brute_match(log.row(i), {"kinds": [EventKind.MSR_EXIT, EventKind.MSR_READ],
                                 "msr": range(0, 0x41), "vcpu": [1, 3], "reason": 3,
                                 "steps": range(0, 11)})
        for i in range(len(log))]


@pytest.mark.parametrize(
    ("text", "token", "words"),
    [
        ("kind=MSR_EXIT colour=red", "colour=red", "unknown key"),
        ("msr=0x3g", "msr=0x3g", "not a number"),
        ("kind=MSR_EXIT,NOPE", "kind=MSR_EXIT,NOPE", "unknown event kind 'NOPE'"),
        ("reason=SOMETIMES", "reason=SOMETIMES", "unknown MSR exit reason"),
        ("device=00:01.0", "device=00:01.0", "neither a PCI address"),
        ("vcpu=0 vcpu=1", "vcpu=1", "given twice"),
        ("msr", "msr", "expected msr=<value>"),
        ("step=", "step=", "expected step=<value>"),
        ("msr=0x40-0x10", "msr=0x40-0x10", "ends before it starts"),
    ],
)
def test_parse_filter_errors_name_the_token(text, token, words):
    with pytest.raises(FilterError, match=words) as info:
        parse_filter(text)
    assert info.value.token == token and repr(token) in str(info.value)


# --- observers ---------------------------------------------------------------------------------

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
