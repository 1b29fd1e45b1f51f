"""The session's queries answer with values or copies: what a caller does with an answer
never changes the session, and an answer never changes under the caller."""

import pytest
from test_pci_view import X86
from test_pci_view import session as pci_session
from test_session import session

from workbench.session import commands as c
from workbench.session.errors import SessionError
from workbench.vfio import story as st


def test_a_pending_exit_is_a_copy_answered_only_by_a_command():
    s = session()
    s.apply(c.Run())
    exit_ = s.pending_exit(0)
    exit_.msr.data = 0x5555  # writing the copy answers nothing
    assert s.needs_answer(0) and s.pending_exit(0).msr.data == 0
    s.apply(c.Answer(data=0x1234))
    s.apply(c.Run())
    assert s.halted(0) and s.regs(0).rax == 0x1234


def test_handler_rules_are_a_snapshot_of_values():
    s = session()
    rules = s.handler_rules()
    assert (rules[0x35].kind, rules[0x35].value) == ("constant", 0x40008)
    rules.clear()
    s.apply(c.SetHandler(msr=0x36, kind="fail"))
    assert sorted(rules) == [] and sorted(s.handler_rules()) == [0x35, 0x36]


def test_vcpu_queries_name_a_missing_vcpu():
    s = session()
    assert s.vcpu_count == 1 and not s.halted(0)
    with pytest.raises(SessionError, match="vcpu 1 does not exist"):
        s.halted(1)


def test_pci_queries_follow_the_story_and_say_when_there_is_none():
    s = pci_session("x86", "linux-5.10", X86)
    summary = s.pci_summary()
    assert (summary.platform, summary.profile) == ("x86", "linux-5.10")
    assert s.has_pci and not s.pci_is_open("vf0") and s.pci_word("vf0", 0x04).user is None
    result = s.apply(c.Pci(action=st.ConfigReadStep(device="vf0", offset=0x04, size=2)))
    assert s.pci_is_open("vf0") and s.pci_word("vf0", 0x04).user is not None
    assert s.pci_trap_bits("vf0", result.first_row, result.last_row) == {0x04: 0xFFFF}
    assert s.pci_trap_bits("nonesuch", result.first_row, result.last_row) == {}
    plain = session()
    assert not plain.has_pci
    with pytest.raises(SessionError, match="no PCI system"):
        plain.pci_summary()
