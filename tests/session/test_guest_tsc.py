"""The guest TSC the session reads after each step: the timeline's second axis."""

from __future__ import annotations

from workbench.cli import DEMO_SCENARIO
from workbench.session import commands as c
from workbench.session.scenario import load
from workbench.session.session import Session

S390 = DEMO_SCENARIO.parent / "s390-detached-vf.toml"


def stepped(count: int) -> Session:
    session = Session(load(DEMO_SCENARIO))
    for _ in range(count):
        session.apply(c.StepVcpu(0))
    return session


def test_each_step_has_the_tsc_vcpu0_reads_then_and_the_same_commands_give_the_same():
    one, two = stepped(5), stepped(5)
    tscs = [one.guest_tsc(step) for step in range(6)]
    assert one.has_guest_tsc() and None not in tscs and tscs == sorted(tscs)
    assert tscs == [two.guest_tsc(step) for step in range(6)]
    assert one.digests == two.digests
    assert one.guest_tsc(6) is None and one.guest_tsc(-1) is None


def test_a_new_branch_after_travelling_back_replaces_the_later_tscs():
    session = stepped(5)
    session.seek(2)
    assert session.guest_tsc(5) is not None      # history ahead is kept until replaced
    session.apply(c.StepVcpu(0))
    assert session.guest_tsc(3) is not None and session.guest_tsc(4) is None
    assert session.has_guest_tsc()


def test_a_scenario_without_vcpus_has_no_tsc_axis():
    session = Session(load(S390))
    assert not session.has_guest_tsc() and session.guest_tsc(0) is None
