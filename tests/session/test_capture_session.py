"""A capture opened as a read-only session: its events in the log, its filter in the VM."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

import workbench.capture
from workbench.capture import Capture, MsrAccess, MsrExitAnswer
from workbench.kvm import MsrFilter, MsrFilterRange, uapi
from workbench.session import commands as c
from workbench.session.capture_session import (
    check_capture_openable,
    is_capture,
    open_capture,
)
from workbench.session.errors import SessionError
from workbench.session.eventlog import EventKind
from workbench.session.session import Session

FIXTURES = Path(__file__).parent.parent / "capture" / "fixtures"
DEMO = Path(__file__).parent.parent.parent / "resources" / "scenarios" / "demo.toml"


def kinds(session: Session) -> list[EventKind]:
    return [session.log.row(i)["kind"] for i in range(len(session.log))]


def test_kernel_trace_rows_are_the_probe_in_order() -> None:
    session = open_capture(FIXTURES / "probe.tracefs.txt")
    assert session.read_only and session.vcpu_count == 1
    assert kinds(session) == [EventKind.MSR_READ, EventKind.OTHER_EXIT, EventKind.MSR_READ,
                              EventKind.MSR_READ, EventKind.MSR_READ, EventKind.MSR_WRITE,
                              EventKind.MSR_GP, EventKind.MSR_GP, EventKind.IO_EXIT]
    first = session.log.row(0)
    assert (first["msr"], first["vcpu"]) == (0x1B, 0)
    assert session.visible_rows == len(session.log) == 9
    assert session.msr_filter() == MsrFilter()      # a trace cannot know the VMM's filter


def test_commands_are_refused_and_change_nothing() -> None:
    session = open_capture(FIXTURES / "probe.tracefs.txt")
    with pytest.raises(SessionError, match="read-only"):
        session.apply(c.Run(0))
    assert len(session.log) == 9


def test_its_scenario_is_a_runnable_replay() -> None:
    session = open_capture(FIXTURES / "probe.tracefs.txt")
    runnable = Session(session.scenario)
    runnable.apply(c.Run(0))
    assert [runnable.log.row(i)["kind"] for i in range(2)] == [
        EventKind.MSR_READ, EventKind.IO_EXIT]
    assert runnable.log.row(0)["msr"] == 0x1B


def test_config_trace_lists_its_devices() -> None:
    session = open_capture(FIXTURES / "seabios-e1000.qemu.log")
    assert session.vcpu_count == 0
    assert set(kinds(session)) == {EventKind.VFIO_CONFIG_READ, EventKind.VFIO_CONFIG_WRITE}
    assert "0000:00:02.0" in session.log.devices.values()
    lines = session.captured_config_lines()
    assert lines[0] == "line 1: i440FX @0x000/? -> 0x8086"
    assert any(line.endswith(": e1000 @0x010/? <- 0xffffffff") for line in lines)


def test_a_capture_file_shows_the_vmms_filter_and_answers(tmp_path: Path, monkeypatch) -> None:
    deny_35 = MsrFilter(0, [MsrFilterRange(uapi.KVM_MSR_FILTER_READ, 0x35, 1, b"\x00")])
    answer = MsrExitAnswer(uapi.KVM_EXIT_X86_RDMSR, uapi.KVM_MSR_EXIT_REASON_FILTER, 0x10001, 0)
    fake = types.ModuleType("workbench.capture.capfile")
    fake.sniff = lambda head: head.startswith(b"CAPTURE")
    fake.read = lambda path: Capture(
        Path(path), "capture", [MsrAccess(0, 0x35, False, 0x10001, False, answer)],
        msr_filter=deny_35, user_space_msr_mask=uapi.KVM_MSR_EXIT_REASON_FILTER,
        meta={"host": {"kvm_vendor": "amd"}})
    monkeypatch.setitem(sys.modules, "workbench.capture.capfile", fake)
    monkeypatch.setattr(workbench.capture, "capfile", fake, raising=False)
    path = tmp_path / "qemu.capture"
    path.write_bytes(b"CAPTURE\n")
    session = open_capture(path)
    assert session.msr_filter() == deny_35 and session.vendor == "amd"
    assert kinds(session) == [EventKind.MSR_EXIT, EventKind.USER_ANSWER]
    assert session.log.row(1)["value"] == 0x10001
    # Use in a scenario: the VMM's answer becomes a handler, so the replay gets the same value.
    runnable = Session(session.scenario)
    runnable.apply(c.Run(0))
    assert runnable.log.row(1)["value"] == 0x10001


def test_scenarios_and_recordings_are_not_captures(tmp_path: Path) -> None:
    assert not is_capture(DEMO)
    bare = tmp_path / "bare.toml"          # trace-cmd reports may start "version = N" too
    bare.write_text("version = 1\n[[vcpus]]\nsource = 'hlt'\n")
    assert not is_capture(bare)
    assert not is_capture(tmp_path / "missing")
    assert is_capture(FIXTURES / "boot.tracefs.txt.gz")
    assert check_capture_openable(DEMO) == 0


def test_an_unusable_capture_is_refused_before_the_gui(tmp_path: Path, monkeypatch, capsys):
    fake = types.ModuleType("workbench.capture.capfile")
    fake.sniff = lambda head: head.startswith(b"CAPTURE")

    def read(path):
        raise ValueError(f"{path}: line 1: capture version 9 is not supported")

    fake.read = read
    monkeypatch.setitem(sys.modules, "workbench.capture.capfile", fake)
    monkeypatch.setattr(workbench.capture, "capfile", fake, raising=False)
    path = tmp_path / "future.capture"
    path.write_bytes(b"CAPTURE\n")
    assert check_capture_openable(path) == 2
    assert "future.capture: line 1" in capsys.readouterr().err


def test_a_real_capture_shows_qemus_filter_and_its_answer() -> None:
    pytest.importorskip("workbench.capture.capfile", reason="no capture-file reader yet")
    path = FIXTURES.parent / "data" / "qemu-probe.capture.gz"
    if not path.exists():
        pytest.skip(f"{path.name} is not in this tree")
    session = open_capture(path)
    assert session.msr_filter().ranges[0].base == 0x35          # QEMU's own filter
    exits = [i for i in range(len(session.log))
             if session.log.row(i)["kind"] == EventKind.MSR_EXIT]
    assert exits and session.log.row(exits[0])["msr"] == 0x35
    assert session.log.row(exits[0] + 1)["kind"] == EventKind.USER_ANSWER


def steps(session: Session) -> list[int]:
    return [session.log.row(i)["step"] for i in range(len(session.log))]


def test_each_return_to_the_vmm_is_a_step_and_kernel_accesses_share_the_next() -> None:
    session = open_capture(FIXTURES / "probe.tracefs.txt")
    # The in-kernel read of APIC_BASE, then the RDMSR exit QEMU's filter causes: step 1;
    # the later in-kernel accesses and the #GPs, then the I/O exit to port 0xf4: step 2.
    assert steps(session) == [1, 1, 2, 2, 2, 2, 2, 2, 2]
    assert session.history == [c.RunToExit(vcpu=0), c.RunToExit(vcpu=0)]
    assert session.step == 2 and session.visible_rows == 9
    with pytest.raises(SessionError, match="nothing to re-run"):
        session.register_change_step(0, "rax")      # no step is ever run again


@pytest.mark.parametrize("name", ["../data/qemu-probe.capture.gz", "boot.tracefs.txt.gz",
                                  "seabios-e1000.qemu.log"])
def test_a_real_capture_spans_many_steps_and_seeks_without_running(name: str) -> None:
    session = open_capture(FIXTURES / name)
    last = len(session.history)
    assert last > 100 and session.step == last and session.visible_rows == len(session.log)
    assert steps(session) == sorted(steps(session)) and steps(session)[-1] == last
    session.seek(10)
    assert session.step == 10
    assert session.visible_rows == session.log.row_of_step(11) < len(session.log)
    assert {session.log.row(i)["step"] for i in range(session.visible_rows)} == set(range(1, 11))
    session.step_back()
    assert session.step == 9 and session.visible_rows == session.log.row_of_step(10)
    session.seek(0)
    assert session.visible_rows == 0
    with pytest.raises(SessionError, match="outside"):
        session.seek(last + 1)
    session.seek(last)
    assert session.visible_rows == len(session.log)


def test_a_config_trace_step_is_its_access() -> None:
    session = open_capture(FIXTURES / "seabios-e1000.qemu.log")
    assert len(session.history) == len(session.log) == len(session.capture.config_accesses())
    sixth = session.history[5].action          # line 6: pci_cfg_write i440FX @0x58 <- 0x33333000
    assert (sixth.device, sixth.offset, sixth.value) == ("i440FX", 0x58, 0x33333000)
    session.seek(6)
    row = session.log.row(session.visible_rows - 1)
    assert (row["kind"], row["offset"], row["value"]) == (EventKind.VFIO_CONFIG_WRITE, 0x58,
                                                          0x33333000)
