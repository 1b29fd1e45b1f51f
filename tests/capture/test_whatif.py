"""whatif(): replaying a real kernel trace of QEMU running probe.S."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.capture import Capture, MsrAccess, MsrExitAnswer, load, whatif
from workbench.kvm import MsrFilter, MsrFilterRange, uapi

FIXTURES = Path(__file__).parent / "fixtures"
FILTER, UNKNOWN = uapi.KVM_MSR_EXIT_REASON_FILTER, uapi.KVM_MSR_EXIT_REASON_UNKNOWN
READ = uapi.KVM_MSR_FILTER_READ
TSC, EFER = 0x10, 0xC0000080


@pytest.fixture(scope="module")
def probe() -> Capture:
    return load(FIXTURES / "probe.tracefs.txt")


def _reproduces(cap: Capture, engine: str) -> None:
    result = whatif(cap, engine=engine)
    assert len(result.outcomes) == len(cap.msr_accesses())
    assert result.differences == []
    for access, outcome in zip(cap.msr_accesses(), result.outcomes, strict=True):
        assert outcome["exit"] is None and outcome["gp"] == access.gp
        if not access.write and not access.gp and access.index not in (TSC, EFER):
            assert outcome["value"] == access.value
    assert {r.access.index for r in result.volatile} == {TSC, EFER}


@pytest.fixture(scope="module")
def boot() -> Capture:
    """The whole run: SeaBIOS's MTRR and kvmclock writes, then the probe."""
    return load(FIXTURES / "boot.tracefs.txt.gz")


def test_own_filter_on_the_sim_reproduces_the_kernel_except_volatile_values(probe) -> None:
    _reproduces(probe, "sim")


@pytest.mark.host
def test_own_filter_on_the_host_reproduces_the_kernel_except_volatile_values(probe) -> None:
    _reproduces(probe, "host")


def test_a_whole_seabios_boot_reproduces_on_the_sim(boot) -> None:
    assert len(boot.msr_accesses()) > 30
    _reproduces(boot, "sim")


@pytest.mark.host
def test_a_whole_seabios_boot_reproduces_on_the_host(boot) -> None:
    _reproduces(boot, "host")


def test_denying_apic_base_reads_turns_an_in_kernel_read_into_a_filter_exit(probe) -> None:
    deny = MsrFilter(0, [MsrFilterRange(READ, 0x1B, 1, b"\x00")])
    result = whatif(probe, msr_filter=deny, user_space_msr_mask=FILTER)
    [report] = result.differences
    assert report.access.index == 0x1B
    assert report.differences == ("stays in kernel -> exits with FILTER",)
    assert report.outcome["exit"] == {"exit_reason": uapi.KVM_EXIT_X86_RDMSR,
                                      "msr_reason": FILTER, "index": 0x1B}
    assert report.answered_by_whatif and report.outcome["value"] == report.access.value
    assert "line 13" in report.describe()


def test_a_trace_with_msr_exits_replays_with_filter_exits_enabled(probe) -> None:
    deny = MsrFilter(0, [MsrFilterRange(READ, 0x1B, 1, b"\x00")])
    result = whatif(probe, msr_filter=deny)
    assert result.vm["mask"] == FILTER and "mask" in result.notes[0]
    assert result.outcomes[0]["exit"]["msr_reason"] == FILTER


def test_without_user_space_exits_a_denied_read_is_a_gp(probe) -> None:
    deny = MsrFilter(0, [MsrFilterRange(READ, 0x1B, 1, b"\x00")])
    result = whatif(probe, msr_filter=deny, user_space_msr_mask=0)
    assert result.differences[0].differences == ("#GP",)


def test_recorded_vmm_answers_complete_user_space_exits() -> None:
    answer = MsrExitAnswer(uapi.KVM_EXIT_X86_RDMSR, FILTER, data=0x00010001, error=0)
    refused = MsrExitAnswer(uapi.KVM_EXIT_X86_RDMSR, FILTER, data=0, error=1)
    cap = Capture(Path("qemu.capture"), "capture", [
        MsrAccess(0, 0x35, False, 0x00010001, False, answer),
        MsrAccess(0, 0x35, False, None, True, refused)],
        msr_filter=MsrFilter(0, [MsrFilterRange(READ, 0x35, 1, b"\x00")]),
        user_space_msr_mask=FILTER)
    result = whatif(cap)
    assert result.differences == []
    assert [(o["value"], o["gp"]) for o in result.outcomes] == [(0x00010001, False), (None, True)]
    assert not any(r.answered_by_whatif for r in result.reports)
    # Without the filter the read stays in the kernel, which has no such MSR here: #GP.
    allow = MsrFilter(uapi.KVM_MSR_FILTER_DEFAULT_ALLOW, [])
    first = whatif(cap, msr_filter=allow).reports[0]
    assert first.differences[0] == "exits with FILTER -> stays in kernel"


def test_another_vendor_changes_what_the_kernel_does() -> None:
    cap = Capture(Path("intel.trace"), "tracefs",
                  [MsrAccess(7, 0x3A, False, 0, False, None)])   # FEATURE_CONTROL on Intel
    assert whatif(cap, vendor="intel").differences == []
    [amd] = whatif(cap, vendor="amd", profile="linux-5.10").differences
    assert amd.differences == ("#GP",)


def test_several_vcpus_replay_on_their_own_vcpus(probe) -> None:
    moved = [MsrAccess(9999, a.index, a.write, a.value, a.gp, a.exit) for a in
             probe.msr_accesses()[:1]]
    cap = Capture(Path("two.trace"), "tracefs", probe.msr_accesses()[:1] + moved)
    result = whatif(cap, vendor="intel")
    bsp, ap = (o["value"] for o in result.outcomes)
    assert bsp & 0x100 and not ap & 0x100        # APIC base: only the first vCPU is the BSP
    assert [r.differences for r in result.reports] == [(), ("value 0xfee00900 -> 0xfee00800",)]


def test_a_filter_may_be_given_as_a_dict(probe) -> None:
    deny = {"flags": 0, "ranges": [{"flags": "1", "base": "0x1b", "nmsrs": 1, "bitmap": "00"}]}
    result = whatif(probe, msr_filter=deny, user_space_msr_mask=FILTER)
    assert result.outcomes[0]["exit"]["msr_reason"] == FILTER


def test_a_capture_from_another_vendors_host_replays_as_that_vendor() -> None:
    cap = Capture(Path("amd.capture"), "capture", [MsrAccess(0, 0x3A, False, None, True, None)],
                  meta={"host": {"kvm_vendor": "amd"}})
    result = whatif(cap)
    assert result.vm["vendor"] == "amd" and result.differences == []


REAL_CAPTURE = Path(__file__).parent / "data" / "qemu-probe.capture.gz"


def _real_capture() -> Capture:
    """The `workbench capture` of QEMU that the capture-file work ships (once merged)."""
    pytest.importorskip("workbench.capture.capfile", reason="no capture-file reader yet")
    if not REAL_CAPTURE.exists():
        pytest.skip(f"{REAL_CAPTURE.name} is not in this tree")
    return load(REAL_CAPTURE)


@pytest.mark.parametrize("engine", ["sim", pytest.param("host", marks=pytest.mark.host)])
def test_a_real_capture_replays_under_its_own_filter_as_the_kernel_ran_it(engine: str) -> None:
    cap = _real_capture()
    exited = [a for a in cap.msr_accesses() if a.exit is not None]
    assert cap.msr_filter is not None and exited      # QEMU's filter sends 0x35 reads out
    result = whatif(cap, engine=engine)
    assert result.differences == []
    for access, outcome in zip(cap.msr_accesses(), result.outcomes, strict=True):
        assert (outcome["exit"] is None) == (access.exit is None)
        if access.exit is not None:
            assert outcome["exit"]["msr_reason"] == access.exit.msr_reason
            assert outcome["value"] == access.value
