"""Filters: masks against a brute-force matcher, and the filter box's syntax."""

from __future__ import annotations

import pytest
from eventlog_rows import DEVICES, KINDS, build, rows_st, sample_log
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.session.eventlog import EventKind, FilterError, MsrExitReason, parse_filter
from workbench.session.eventlog import kinds as kindsmod

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
