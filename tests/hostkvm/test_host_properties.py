"""Property-based differential tests: random filters and random MSR access sequences must
give the same results on the real kernel and on the sim (given this host's CPUID).

Programs are hand-encoded (host_differential.read_msr & co.), so an example costs two VMs
and its exits, never an assembler run. Hypothesis is derandomized with no database, so
every run (and CI) checks the same examples.
"""

from __future__ import annotations

import pytest
from host_differential import (
    DIVERGENT_MSRS,
    FILTER_PORT,
    HLT,
    MASK_PORT,
    MAX_EXITS,
    Answer,
    Engines,
    Scenario,
    assert_same,
    mov_eax,
    mov_edx,
    out_al,
    read_msr,
    write_msr,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.kvm import MsrFilter, MsrFilterRange, uapi
from workbench.kvm.filter import bitmap_copy_size
from workbench.kvm.guest.layout import GUEST_MEM_SIZE
from workbench.values import U32_MAX

pytestmark = [pytest.mark.host, pytest.mark.differential]

FILTER = uapi.KVM_MSR_EXIT_REASON_FILTER

# MSRs whose value follows the host's clock: a read is still compared (exit, #GP), but its
# value is discarded, since two engines can never read the same time. TSC_ADJUST moves by
# (written - current TSC) whenever the TSC is written, so it inherits the clock.
TIME_DEPENDENT = frozenset({0x10, 0x3B, 0xE7, 0xE8})
# KVM paravirtual MSRs whose enable bit makes the kernel write into guest RAM at the GPA
# in the value (kvmclock, wall clock, steal time, async PF, PV EOI: arch/x86/kvm/x86.c
# kvm_set_msr_common). The sim keeps no such structures, so values written to them are
# steered outside guest RAM, where the kernel's writes land nowhere.
PV_GUEST_MEMORY = frozenset({0x11, 0x12, *range(0x4B564D00, 0x4B564D05)})

# The spec's in-kernel catalogue (§8), a few neighbours KVM also handles, and the MSRs
# kvm_pvm handles its own way (catalogue.PVM_ROWS).
CATALOGUE = tuple(i for i in (
    0x0, 0x1, 0x10, 0x11, 0x12, 0x17, 0x1B, 0x2A, 0x34, 0x35, 0x3A, 0x3B, 0x48, 0x49, 0x79,
    0x8B, 0xC1, 0xC2, 0xCE, 0xFE, 0x10A, 0x10B, 0x140, 0x174, 0x175, 0x176, 0x179, 0x17A,
    0x17B, 0x186, 0x187, 0x1A0, 0x1D9, *range(0x200, 0x210), 0x250, 0x258, 0x259,
    *range(0x268, 0x270), 0x277, 0x2FF, 0x400, 0x401, 0x402, 0x403, 0x47C, 0x47F, 0x480,
    0x6E0, 0x802, 0x808, 0x80B, 0x830, 0x8FF, 0xDA0, *range(0xC0000080, 0xC0000085),
    *range(0xC0000100, 0xC0000104), *range(0xC0010000, 0xC0010008), 0xC0010010, 0xC0010015,
    0xC0010114, 0xC0010117, 0xC0011029, *range(0x4B564D00, 0x4B564D08),
    0x122, 0x345, 0xC0000104, 0xC0010020, 0xC001011F, 0xC0010140, 0xC0010141,
    *range(0x4B564D10, 0x4B564D14), 0x4B564DFF,
) if i not in DIVERGENT_MSRS)

SETTINGS = settings(
    derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module")
def engines():
    engines = Engines()
    yield engines
    engines.close()


# --- strategies ------------------------------------------------------------------------------
_BASES = (0, 0x10, 0x1B, 0x800, 0x8FF, 0x1000, 0xC0000000, 0xC0000100, 0xC0010000,
          0x4B564D00, 0xFFFFFF00, 0xFFFFFFFF)
_NMSRS = (0, 1, 2, 7, 8, 63, 64, 65, 0x100, 0x2000, 12287, 12288, 12289, 12295, 12296,
          0x8000_0000, U32_MAX)


@st.composite
def filter_ranges(draw, valid: bool = False) -> MsrFilterRange:
    if valid:
        flags = draw(st.sampled_from([1, 2, 3]))
        nmsrs = draw(st.one_of(st.sampled_from([1, 2, 8, 64, 65, 0x100, 12288]),
                               st.integers(1, 12288)))
    else:
        flags = draw(st.one_of(st.sampled_from([1, 2, 3, 3, 0, 4, 7]), st.integers(0, U32_MAX)))
        nmsrs = draw(st.one_of(st.sampled_from(_NMSRS), st.integers(0, 13000)))
    base = draw(st.one_of(st.sampled_from(_BASES), st.integers(0, U32_MAX)))
    size = bitmap_copy_size(nmsrs)
    fits = size <= uapi.KVM_MSR_FILTER_MAX_BITMAP_SIZE
    kinds = ["full", "short", "ones"] if valid else ["full", "short", "ones", "null", "empty"]
    kind = draw(st.sampled_from(kinds))
    if kind == "null":
        bitmap = None
    elif kind == "empty":
        bitmap = b""
    elif kind == "ones":
        bitmap = b"\xff" * (size if fits else 8)
    elif kind == "short" or not fits:
        bitmap = draw(st.binary(max_size=min(size, 64)))
    else:
        bitmap = draw(st.binary(min_size=size, max_size=size))
    return MsrFilterRange(flags, base, nmsrs, bitmap)


@st.composite
def msr_filters(draw, valid: bool = False) -> MsrFilter:
    if valid:
        flags = draw(st.sampled_from([0, 1]))
        ranges = draw(st.lists(filter_ranges(valid=True), min_size=1, max_size=4))
    else:
        flags = draw(st.one_of(st.sampled_from([0, 0, 1, 1, 2, 3]), st.integers(0, U32_MAX)))
        ranges = draw(st.lists(filter_ranges(), max_size=17))
    return MsrFilter(flags, tuple(ranges))


def _edges(msr_filter: MsrFilter | None, limit: int = 5) -> list[int]:
    """Indices just inside and outside each range (u32 arithmetic, as the kernel does)."""
    found: list[int] = []
    for rng in (msr_filter.ranges if msr_filter else ())[:limit]:
        end = rng.base + rng.nmsrs
        found += [(rng.base - 1) & U32_MAX, rng.base, (end - 1) & U32_MAX, end & U32_MAX]
    return found


def _read(index: int) -> bytes:
    if index in TIME_DEPENDENT:
        # rdmsr, then xor eax, eax; xor edx, edx: the value never reaches the trace
        return read_msr(index)[:7] + bytes.fromhex("31c031d2")
    return read_msr(index)


def _write(index: int, value: int) -> bytes:
    if index in PV_GUEST_MEMORY:
        value = GUEST_MEM_SIZE << 8 | value & 0xFFF
    return write_msr(index, value)


def _probe(msr_filter: MsrFilter | None, baseline: MsrFilter) -> bytes:
    """Read, then write 0, at the edges of both filters and a few fixed indices."""
    indices = dict.fromkeys(
        _edges(msr_filter) + _edges(baseline) + [0x10, 0x1B, 0x35, 0x808, 0xC0000100])
    return b"".join(_read(i) + _write(i, 0) for i in indices if i not in DIVERGENT_MSRS) + HLT


# --- properties ------------------------------------------------------------------------------
BASELINE = MsrFilter(0, (MsrFilterRange(3, 0x1B, 1, b"\x00"),
                         MsrFilterRange(1, 0xC0000100, 2, b"\x01")))


@settings(SETTINGS, max_examples=1000)
@given(msr_filter=msr_filters(), initial=st.one_of(st.none(), msr_filters(valid=True)))
def test_random_filters_agree(engines, msr_filter, initial):
    """Same errno (or success) on both engines, and afterwards the same filter in force."""
    baseline = initial or BASELINE
    scenario = Scenario(
        "random filter", out_al(FILTER_PORT, 1) + _probe(msr_filter, baseline),
        mask=FILTER, filter=baseline, filters_on_out={1: msr_filter},
    )
    host, sim = engines.both(scenario)
    assert host.errors[:2] == [None, None] and len(host.errors) == 3
    assert_same(host, sim)


_DATA = st.one_of(
    st.sampled_from([0, 1, 6, 0x80, 0xFEE00900, 0xFEE00D00, 0x0007_0406_0007_0406,
                     0x0000_7FFF_FFFF_F000, 0xFFFF_8000_0000_0000, 0x8000_0000_0000_0000,
                     0xFFFF_FFFF_FFFF_FFFF, 0xD01, 0x500, 0xC00]),
    st.integers(0, 2**64 - 1),
)


@st.composite
def access_programs(draw) -> tuple[bytes, MsrFilter | None, int, list[Answer]]:
    msr_filter = draw(st.one_of(st.none(), msr_filters(valid=True)))
    edges = _edges(msr_filter) or [0x10]
    index = st.one_of(st.sampled_from(CATALOGUE), st.sampled_from(edges),
                      st.integers(0x800, 0x8FF), st.integers(0, U32_MAX),
                      ).filter(lambda i: i not in DIVERGENT_MSRS)
    op = st.one_of(
        st.tuples(st.just("rd"), index),
        st.tuples(st.just("wr"), index, _DATA),
        st.tuples(st.just("mask"), st.integers(0, 7)),
    )
    ops = draw(st.lists(op, min_size=1, max_size=16))
    code = b""
    for kind, *args in ops:
        if kind == "rd":
            code += _read(args[0])
        elif kind == "wr":
            code += _write(*args)
        else:
            code += out_al(MASK_PORT, args[0])
    code += mov_eax(0) + mov_edx(0) + HLT
    answers = draw(st.lists(
        st.builds(Answer, _DATA, st.sampled_from([0, 0, 0, 1, 0x80])), max_size=16))
    return code, msr_filter, draw(st.integers(0, 7)), answers


@settings(SETTINGS, max_examples=1500)
@given(case=access_programs())
def test_random_accesses_agree(engines, case):
    """Same exits, #GPs, reported values and final registers on both engines."""
    code, msr_filter, mask, answers = case
    scenario = Scenario("random accesses", code, mask=mask, filter=msr_filter, answers=answers)
    host, sim = engines.both(scenario)
    assert len(host.exits) < MAX_EXITS
    assert_same(host, sim)
