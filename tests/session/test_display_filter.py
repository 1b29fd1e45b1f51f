"""The display-filter language: old filters mean what they meant, the new operators match
a brute-force reading of the rows, and no text makes it raise."""

from __future__ import annotations

import pytest
from eventlog_rows import build, rows_st, sample_log
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.session.eventlog import EventKind, parse_filter
from workbench.session.eventlog.display_filter import DisplayFilter, compile_filter, step_rows
from workbench.session.eventlog.filter_lang import FilterSyntaxError
from workbench.session.eventlog.kinds import MSR_KINDS


def _mask(text: str, log) -> list[bool]:
    compiled = compile_filter(text)
    assert isinstance(compiled, DisplayFilter), compiled
    return compiled.mask(log).tolist()


@pytest.mark.parametrize("text", [
    "", "kind=MSR_EXIT,msr_read msr=0-0x40 vcpu=1,3 reason=inval,unknown step=0-10",
    "msr=0x40000000-0x400000ff,0x10 step=3-5 vcpu=-1 device=2,3", "kind=config_write reason=6",
    "device=0000:00:01.0", "kind=exit", "kind=vfio vcpu=2",
])
def test_old_filters_select_the_same_rows(text):
    log = sample_log(False)
    assert _mask(text, log) == log.mask(**parse_filter(text)).tolist()


_CASES = [
    ("value>0xffff", lambda r: r["value"] > 0xFFFF),
    ("value<=0x2222 or vcpu==3", lambda r: r["value"] <= 0x2222 or r["vcpu"] == 3),
    ("not vcpu=0 and step>=4", lambda r: r["vcpu"] != 0 and r["step"] >= 4),
    ("!(kind=MSR_EXIT || kind=HLT) && vcpu!=1",
     lambda r: r["kind"] not in (EventKind.MSR_EXIT, EventKind.HLT) and r["vcpu"] != 1),
    ("msr!=0x0 and msr<0x30", lambda r: r["kind"] in MSR_KINDS and 0 < r["msr"] < 0x30),
    ("row>=5 row<9", lambda r: 5 <= r["row"] < 9),
    ("value>-1 and value<0x10000000000000000", lambda r: True),
    ("vcpu<-5 or value<0", lambda r: False),
    ("((reason=FILTER))", lambda r: bool(r["reason"] & 4)),
]


@pytest.mark.parametrize(("text", "expected"), _CASES, ids=[c[0] for c in _CASES])
@pytest.mark.parametrize("bulk", [False, True])
def test_new_operators_match_brute_force(text, expected, bulk):
    log = sample_log(bulk)
    assert _mask(text, log) == [bool(expected(log.row(i))) for i in range(len(log))]


def test_msr_names_resolve_through_the_catalogue():
    log = build([{"kind": EventKind.MSR_READ, "msr": m, "vcpu": 0, "device": -1, "reason": 0,
                  "dstep": 1, "value": 0} for m in (0x277, 0x10, 0x277)], bulk=False)
    assert _mask("msr=IA32_PAT", log) == [True, False, True]
    assert _mask("msr=ia32_tsc,ia32_pat", log) == [True, True, True]
    error = compile_filter("msr=NOT_AN_MSR")
    assert isinstance(error, FilterSyntaxError) and error.position == 4
    assert "unknown MSR" in error.message


@pytest.mark.parametrize(("text", "position", "words"), [
    ("kind=MSR_EXIT colour=red", 14, "unknown field 'colour'"),
    ("(vcpu=0 or vcpu=1", 17, "expected ')'"),
    ("vcpu=0)", 6, "')' without its '('"),
    ("value>1,2", 6, "takes one number"),
    ("kind<HLT", 5, "takes = or !="),
    ("vcpu=0 and", 10, "expected a term"),
    ("msr=0x40-0x10", 4, "ends before it starts"),
    ("vcpu 0", 5, "expected a comparison"),
    ("step=1 & step=2", 7, "unexpected character '&'"),
])
def test_syntax_errors_say_where(text, position, words):
    error = compile_filter(text)
    assert isinstance(error, FilterSyntaxError)
    assert error.position == position and words in error.message
    assert error.caret().splitlines()[1].index("^") == position


_PIECES = st.sampled_from(["kind", "msr", "vcpu", "value", "reason", "device", "step", "row",
                           "=", "==", "!=", "<", ">=", "(", ")", "and", "or", "not", "!",
                           "&&", "||", "0x", "-", ",", "FILTER", "IA32_PAT", "0000:00:01.0",
                           "99999999999999999999999", "-1", "hlt", " ", "&", "é", "\t"])
_TEXT = st.one_of(st.text(max_size=30),
                  st.lists(_PIECES, max_size=14).map("".join),
                  st.lists(_PIECES, max_size=14).map(" ".join))


@settings(max_examples=300, deadline=None)
@given(text=_TEXT)
def test_no_text_raises(text):
    log = sample_log(True)
    compiled = compile_filter(text)
    if isinstance(compiled, FilterSyntaxError):
        assert 0 <= compiled.position <= len(text) and compiled.message
    else:
        assert len(compiled.mask(log)) == len(log)


def test_deep_nesting_is_an_error_not_a_recursion_error():
    error = compile_filter("(" * 5000 + "vcpu=0" + ")" * 5000)
    assert isinstance(error, FilterSyntaxError) and "nested deeper" in error.message


@settings(max_examples=40, deadline=None)
@given(rows=rows_st, first=st.integers(0, 30), span=st.integers(-2, 30))
def test_step_rows_are_the_rows_of_those_steps(rows, first, span):
    log = build(rows, bulk=True)
    picked = step_rows(log, first, first + span)
    assert list(picked) == [i for i in range(len(log))
                            if first <= log.row(i)["step"] <= first + span]
