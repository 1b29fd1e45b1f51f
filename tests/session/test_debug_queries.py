"""The debugger's session queries: machine state and memory at a step, what the last
step changed, and reverse navigation (previous write, next access, previous exit or
breakpoint, when a register got its value)."""

import pytest

from workbench.kvm.guest import GUEST_STACK_TOP
from workbench.session import commands as c
from workbench.session.errors import SessionError
from workbench.session.machine import resolve_address
from workbench.session.scenario import loads
from workbench.session.session import Session

PAT, EFER, THREADS = 0x277, 0xC0000080, 0x35
PROGRAM = """
    mov ecx, 0x277
    mov eax, 0x00000001
    mov edx, 0x00000007
    wrmsr
    mov ecx, 0x277
    rdmsr
    mov rbx, 0x1122334455667788
    push rbx
    mov ecx, 0x35
    rdmsr
    mov ecx, 0x277
    wrmsr
    hlt
"""
WRITE_PAT, READ_PAT, SET_RBX, PUSH, EXIT_35 = 4, 6, 7, 8, 10
WRITE_PAT_AGAIN, HLT = 13, 14  # step 11 only hands the exit's answer over (KVM_RUN)
SCENARIO = loads(f"""
version = 1
[caps]
user_space_msr = ["UNKNOWN"]
[[vcpus]]
source = '''{PROGRAM}'''
[[handlers]]
msr = "0x35"
value = "0x40008"
""")


def stepped(steps: int, tracking: bool = True, checkpoint_every: int = 1000) -> Session:
    session = Session(SCENARIO, checkpoint_every=checkpoint_every)
    session.track_changes(tracking)
    for _ in range(steps):
        session.apply(c.StepVcpu(vcpu=0))
    return session


def test_stepping_over_wrmsr_shows_the_new_pat_changed_decoded_and_when():
    session = stepped(WRITE_PAT)
    state = session.machine_state(0)
    pat = state.row(PAT)
    assert (pat.value, pat.changed, pat.last_write) == (0x7_0000_0001, True, WRITE_PAT)
    assert pat.decoded.startswith("PA0=WC PA1=UC PA2=UC PA3=UC PA4=UC- PA5=UC")
    assert not state.row(EFER).changed and "LMA" in state.row(EFER).decoded
    assert state.row("cs").decoded.startswith("type=0xb code DPL=0 P L")
    assert state.note == ""
    session.apply(c.StepVcpu(vcpu=0))
    assert not session.machine_state(0).row(PAT).changed


def test_after_seek_the_changes_are_those_of_the_step_landed_on():
    session = stepped(HLT, checkpoint_every=3)
    session.seek(WRITE_PAT)
    assert session.machine_state(0).row(PAT).changed
    session.seek(PUSH)
    assert not session.machine_state(0).row(PAT).changed
    rsp = session.regs(0).rsp
    assert rsp == GUEST_STACK_TOP - 8
    assert session.read_memory(0, rsp, 8) == (0x1122334455667788).to_bytes(8, "little")
    assert session.memory_before(0, rsp, 8) == bytes(8)


def test_nobody_watching_means_no_snapshot_and_the_same_events():
    watched, unwatched = stepped(HLT), stepped(HLT, tracking=False)
    assert watched.digests == unwatched.digests
    assert unwatched.memory_before(0, 0, 8) is None
    assert not unwatched.machine_state(0).row(PAT).changed


def test_msr_navigation_finds_the_writes_and_accesses():
    session = stepped(HLT)
    assert session.previous_msr_write_step(PAT) == WRITE_PAT_AGAIN
    assert session.previous_msr_write_step(PAT, before=WRITE_PAT_AGAIN) == WRITE_PAT
    assert session.previous_msr_write_step(PAT, before=WRITE_PAT) is None
    assert session.previous_msr_write_step(THREADS) is None  # only read
    session.seek(1)
    assert session.next_msr_access_step(PAT) == WRITE_PAT
    assert session.next_msr_access_step(PAT, after=WRITE_PAT) == READ_PAT
    assert session.next_msr_access_step(THREADS) == EXIT_35
    assert session.next_msr_access_step(PAT, after=WRITE_PAT_AGAIN) is None


def test_reverse_continue_finds_the_previous_exit_and_breakpoint():
    session = stepped(HLT)
    assert session.previous_exit_step() == EXIT_35
    assert session.previous_exit_step(before=EXIT_35) is None
    assert session.previous_breakpoint_step() is None
    session.apply(c.SetBreakpoint(vcpu=0, kind="address", value=session.regs(0).rip))
    session.seek(0)
    session.apply(c.SetBreakpoint(vcpu=0, kind="msr", value=PAT))
    session.apply(c.RunToExit(vcpu=0))
    hit = session.step
    session.apply(c.StepVcpu(vcpu=0))
    assert session.previous_breakpoint_step() == hit


def test_when_did_a_register_get_its_value():
    session = stepped(HLT, checkpoint_every=3)
    assert session.register_change_step(0, "rbx") == SET_RBX
    assert session.step == HLT
    assert session.register_change_step(0, "rsp") == PUSH
    assert session.register_change_step(0, "r12") is None
    assert session.register_change_step(0, "efer") is None
    with pytest.raises(SessionError, match="register: 'xyz'"):
        session.register_change_step(0, "xyz")


def test_addresses_are_registers_and_numbers():
    regs = {"rip": 0x100000, "rsp": 0x2FFFF8} | {n: 0 for n in ("rax", "rbx")}
    assert resolve_address("rip", regs) == 0x100000
    assert resolve_address("rsp+0x10", regs) == 0x300008
    assert resolve_address(" RSP - 8 ", regs) == 0x2FFFF0
    assert resolve_address("0x1000", regs) == 0x1000
    for bad, message in (("", "empty"), ("rsq", "'rsq' is neither"), ("rsp 8", "cannot read"),
                         ("rsp+*2", "cannot read")):
        with pytest.raises(ValueError, match=f"address: .*{message}"):
            resolve_address(bad, regs)


def test_an_exit_failed_with_a_gp_is_one_access_for_next_and_previous():
    """The #GP a failed answer brings is that exit's outcome, not another access: "Next
    access" from the exit once landed on it, one step later."""
    session = Session(loads("""
version = 1
[caps]
user_space_msr = ["UNKNOWN"]
[[vcpus]]
source = '''
    mov ecx, 0x35
    rdmsr
    hlt
'''
"""))
    session.apply(c.RunToExit(vcpu=0))
    exit_step = session.step
    session.apply(c.Answer(vcpu=0, error=1))
    session.apply(c.RunToExit(vcpu=0))
    assert session.halted(0)
    assert session.next_msr_access_step(THREADS, after=exit_step) is None
    assert session.next_msr_access_step(THREADS, after=0) == exit_step
