"""The capture file reader: the shipped QEMU capture, and every way a file can be damaged."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from workbench.capture import capfile
from workbench.kvm import uapi

DATA = Path(__file__).parent / "data"
PROBE = DATA / "qemu-probe.capture.gz"


@pytest.fixture(scope="module")
def probe():
    return capfile.read(PROBE)


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _head() -> str:
    return json.dumps(capfile.header(["qemu-system-x86_64"]))


def test_qemu_capture_has_qemus_filter_and_mask(probe):
    # QEMU 7.2 denies reads of MSR_CORE_THREAD_COUNT and asks for FILTER exits only.
    assert probe.format == "capture"
    assert probe.user_space_msr_mask == uapi.KVM_MSR_EXIT_REASON_FILTER
    (rng,) = probe.msr_filter.ranges
    assert (rng.flags, rng.base, rng.nmsrs) == (uapi.KVM_MSR_FILTER_READ, 0x35, 1)
    assert not rng.bit(0)
    assert probe.skipped == []
    assert probe.meta["end"]["exit_status"] == 33   # the probe's isa-debug-exit


def test_qemu_capture_pairs_the_filter_exit_with_qemus_answer(probe):
    (access,) = [a for a in probe.msr_accesses() if a.index == 0x35]
    assert access.exit is not None and not access.write and not access.gp
    assert access.exit.exit_reason == uapi.KVM_EXIT_X86_RDMSR
    assert access.exit.msr_reason == uapi.KVM_MSR_EXIT_REASON_FILTER
    assert access.value == access.exit.data != 0    # cores/threads, as QEMU answered


def test_qemu_capture_shows_in_kernel_accesses_beside_the_exit(probe):
    accesses = probe.msr_accesses()
    first = next(i for i, a in enumerate(accesses) if a.index == 0x35)
    probe_tail = [(a.index, a.write, a.value, a.gp, a.exit is None)
                  for a in accesses[first + 1:]]
    assert probe_tail[0][0] == 0x1b and probe_tail[0][4]
    assert probe_tail[1:] == [(0x174, True, 0x10, False, True), (0x174, False, 0x10, False, True),
                              (0x0BADC0DE, False, None, True, True)]
    times = [a.time for a in accesses]
    assert times == sorted(times)


def test_qemu_capture_keeps_every_exit_with_its_detail(probe):
    exits = probe.user_exits()
    assert all(e.vcpu == 0 for e in exits)
    last = exits[-1]
    assert (last.exit_reason, last.detail["port"], last.detail["data"]) == (
        uapi.KVM_EXIT_IO, 0xF4, 0x10)
    names = [r.name for r in probe.ioctls()]
    assert names[:3] == ["KVM_CREATE_VM", "KVM_ENABLE_CAP", "KVM_X86_SET_MSR_FILTER"]
    assert "KVM_CREATE_VCPU" in names


def test_sniff_tells_a_capture_from_a_trace():
    assert capfile.sniff(gzip.decompress(PROBE.read_bytes())[:4096])
    assert not capfile.sniff(b"# tracer: nop\n#\n")
    assert not capfile.sniff(b"")


def test_round_trip_of_answers_errors_and_kernel_gp(tmp_path):
    events = [
        {"ev": "create_vcpu", "t": 1.0, "tid": 7, "vcpu": 0, "result": 12},
        {"ev": "exit", "t": 2.0, "tid": 7, "vcpu": 0, "reason": uapi.KVM_EXIT_X86_WRMSR,
         "msr": {"index": 0x10, "reason": 2, "data": 0x1234, "error": 1}},
        {"ev": "msr_done", "t": 2.0, "tid": 7, "vcpu": 0, "index": 0x10, "reason": 2,
         "data": 0x1234, "error": 1},
        {"ev": "trace", "t": 3.0, "tid": 7, "event": "kvm_msr", "text": "msr_write 1b = 0x5"},
        {"ev": "trace", "t": 3.1, "tid": 7, "event": "kvm_inj_exception", "text": "#GP (0x0)"},
        {"ev": "exit", "t": 4.0, "tid": 7, "vcpu": 0, "reason": uapi.KVM_EXIT_IO,
         "io": {"direction": 1, "size": 2, "port": 0x402, "count": 1, "data": "3412"}},
    ]
    path = tmp_path / "c.capture"
    assert capfile.write(path, capfile.header(["vmm"]), events, {"status": "ok"}) == 6
    assert os.listdir(tmp_path) == ["c.capture"]       # the temporary file was renamed
    cap = capfile.read(path)
    wrmsr, kernel = cap.msr_accesses()
    assert (wrmsr.write, wrmsr.value, wrmsr.gp, wrmsr.exit.error) == (True, 0x1234, True, 1)
    assert (kernel.vcpu, kernel.index, kernel.value, kernel.gp, kernel.exit) == (
        0, 0x1b, 5, True, None)   # the thread that created vCPU 0 is vCPU 0
    assert cap.user_exits()[-1].detail["data"] == 0x1234     # the guest's little-endian word
    assert cap.meta["end"]["events"] == 6 and "truncated" not in cap.meta


def test_truncated_capture_keeps_what_came_before(tmp_path):
    text = gzip.decompress(PROBE.read_bytes()).decode()
    lines = text.splitlines()
    cut = tmp_path / "cut.capture"
    cut.write_text("\n".join(lines[:5000]) + "\n" + lines[5000][:20])
    cap = capfile.read(cut)
    assert [s.line for s in cap.skipped] == [5001]
    assert cap.meta["truncated"] is True
    assert cap.msr_filter is not None and len(cap.user_exits()) > 1000


def test_truncated_gzip_is_a_skipped_line_not_an_exception(tmp_path):
    blob = PROBE.read_bytes()
    cut = tmp_path / "cut.capture.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    cap = capfile.read(cut)
    assert cap.skipped and "compressed" in cap.skipped[-1].reason
    assert cap.user_exits()


def test_garbled_lines_are_skipped_with_their_number_and_field(tmp_path):
    path = _write_lines(tmp_path / "g.capture", [
        _head(),
        "{not json",
        "[1, 2]",
        '{"ev": "teleport", "t": 1}',
        '{"ev": "create_vcpu", "t": 1, "tid": 3, "result": 12}',
        '{"ev": "exit", "t": 2, "tid": 3, "vcpu": "zero", "reason": 2}',
        '{"ev": "msr_done", "t": 3, "tid": 3, "vcpu": 0, "data": 1, "error": 0}',
        '{"ev": "trace", "t": 4, "tid": 3, "event": "kvm_msr", "text": "msr_bogus"}',
        '{"ev": "create_vm", "t": 5, "tid": 3, "result": 11}',
    ])
    cap = capfile.read(path)
    reasons = {s.line: s.reason for s in cap.skipped}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8]
    assert "teleport" in reasons[4] and "vcpu" in reasons[5] and "vcpu" in reasons[6]
    assert "kvm_msr" in reasons[8]
    assert [r.name for r in cap.ioctls()] == ["KVM_CREATE_VM"]


@pytest.mark.parametrize(("content", "message"), [
    ("", "is empty"),
    ("# tracer: nop\n", "not a workbench capture"),
    ('{"format": "workbench-capture", "version": 99}\n', "version 99"),
])
def test_not_a_capture_is_an_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "x.capture"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        capfile.read(path)
    assert str(path) in str(info.value)
