"""Sim vs host comparison: the alignment logic on synthetic streams, the reduction of a
session to what both engines report, and (where /dev/kvm opens) diverge.toml."""

from pathlib import Path

import pytest

from tests import guests
from workbench.session import compare as cmp
from workbench.session.runner import drive
from workbench.session.scenario import load, loads
from workbench.session.session import Session

DIVERGE = Path(__file__).parents[2] / "resources" / "scenarios" / "diverge.toml"
def stream(*keys: str) -> list[cmp.Entry]:
    return [cmp.Entry((k,), k) for k in keys]


@pytest.mark.parametrize(("sim", "host", "index"), [
    ("abc", "abc", None),
    ("abc", "abX", 2),
    ("Xbc", "abc", 0),
    ("ab", "abc", 2),
    ("abcd", "ab", 2),
    ("", "", None),
    ("", "a", 0),
])
def test_first_divergence(sim, host, index):
    assert cmp.first_divergence(sim, host) == index
    result = cmp.comparison(stream(*sim), stream(*host))
    assert result.first_divergence == index and result.compared
    assert result.sim_lines == list(sim) and result.host_lines == list(host)


def test_aligned_pads_the_shorter_stream():
    result = cmp.comparison(stream("a", "b", "c"), stream("a"))
    assert list(cmp.aligned(result)) == [(0, "a", "a"), (1, "b", ""), (2, "c", "")]


def test_keys_leave_out_rip_and_in_kernel_rows():
    text = '''
version = 1
[caps]
user_space_msr = ["UNKNOWN"]
[[vcpus]]
source = """
    mov ecx, 0x10
    rdmsr
    mov ecx, 0x35
    rdmsr
    out 0x80, al
    hlt
"""
'''
    s = Session(loads(text))
    list(drive(s))
    kinds = [e.key[0] for e in cmp.entries(s)]
    assert "MSR_READ" not in kinds, "the host has no in-kernel access rows"
    assert kinds[:5] == ["MSR_EXIT", "USER_ANSWER", "IO_EXIT", "HLT", "reg"]
    assert [e.key[2] for e in cmp.entries(s) if e.key[0] == "reg"] == list(cmp.FINAL_REGS)
    exit_row = s.log.row(int(s.log.select(kinds="MSR_EXIT")[0]))
    moved = {**exit_row, "aux": exit_row["aux"] + 2}
    assert cmp.row_entry(moved) == cmp.row_entry(exit_row)
    assert cmp.row_entry(exit_row).text == "vcpu0 MSR_EXIT rdmsr 0x35 reason=UNKNOWN"


def test_compare_says_why_when_the_host_is_unavailable(monkeypatch):
    monkeypatch.setattr(cmp, "host_unavailable_reason", lambda: "/dev/kvm: Permission denied")
    result = cmp.compare(load(DIVERGE))
    assert not result.compared and "Permission denied" in result.reason
    assert result.first_divergence is None and result.sim_lines == []


def test_mimic_host_keeps_a_scenario_cpuid():
    scenario = loads('version = 1\n[vm]\ncpuid = [[0, 0, 1, 2, 3, 4]]\n')
    assert cmp.mimic_host(scenario) is scenario


@pytest.mark.host
def test_diverge_toml_parts_at_the_invalid_pat_write():
    result = cmp.compare(load(DIVERGE))
    assert result.compared, result.reason
    assert result.first_divergence == 1
    assert result.sim_lines[0] == result.host_lines[0]
    assert result.sim_lines[1].startswith("vcpu0 MSR_EXIT wrmsr 0x277 reason=INVAL")
    assert result.host_lines[1] == "vcpu0 IO_EXIT out port=0x80 size=1 data=0xff"


def test_what_differs_from_the_twin_run_is_volatile_and_its_reads_are_listed():
    sim = stream("exit", "rdx=0")
    twin = stream("exit", "rdx=7")
    host = stream("exit", "rdx=9")
    read = [(1, cmp.Entry(("MSR_READ", 0, 0x10, 5), "rdmsr 0x10 -> 0x5"))]
    twin_read = [(1, cmp.Entry(("MSR_READ", 0, 0x10, 6), "rdmsr 0x10 -> 0x6"))]
    result = cmp.with_volatile(sim, twin, read, twin_read, host)
    assert result.first_divergence is None
    assert result.volatile == frozenset({1, 2})
    assert result.sim_lines[1].startswith("rdmsr 0x10") and "volatile" in result.sim_lines[1]
    assert "not reported" in result.host_lines[1]
    assert result.host_lines[2] == "rdx=9  ~ volatile"
    steady = cmp.with_volatile(sim, sim, read, read, host)
    assert steady.first_divergence == 1 and steady.volatile == frozenset()


SPIN = guests.SPIN


def test_a_guest_that_never_halts_is_paused_at_the_deadline(monkeypatch):
    """A guest without exits once kept "Compare sim vs host" (on the GUI thread) running
    for ever; each run of the comparison is now paused at its deadline."""
    monkeypatch.setattr(cmp, "COMPARE_SECONDS", 0.5)
    session = Session(loads(SPIN), engine="sim")
    with pytest.raises(cmp.Unfinished, match="sim"):
        cmp.play_by(session, cmp.MAX_EXITS, cmp.time.monotonic() + cmp.COMPARE_SECONDS, "sim")
    assert session.last_exit(0) is not None   # paused (KVM_EXIT_INTR), usable again


@pytest.mark.host
def test_comparing_a_guest_that_never_halts_says_why_not(monkeypatch):
    monkeypatch.setattr(cmp, "COMPARE_SECONDS", 0.5)
    result = cmp.compare(loads(SPIN))
    assert not result.compared
    assert "did not halt within 0.5 s on the host engine" in result.reason
