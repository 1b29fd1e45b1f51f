"""load(): real kernel and QEMU traces recorded on a host (tests/capture/fixtures/record.sh)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.capture import Capture, CaptureError, load
from workbench.kvm import uapi

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_HEALTH = HealthCheck.function_scoped_fixture   # tmp_path is reused: each example overwrites
KERNEL_TRACES = ["probe.tracefs.txt", "probe.trace-cmd.txt"]

# What probe.S does after SeaBIOS hands over, as the kernel traced it.
PROBE_MSRS = [(0x1B, False, False), (0x10, False, False), (0xC0000080, False, False),
              (0x277, False, False), (0x277, True, False), (0x12345678, False, True),
              (0x35, True, True)]


@pytest.mark.parametrize("name", KERNEL_TRACES)
def test_kernel_trace_gives_in_kernel_accesses_and_user_exits(name: str) -> None:
    cap = load(FIXTURES / name)
    assert cap.format == name.split(".")[1]
    assert [(a.index, a.write, a.gp) for a in cap.msr_accesses()] == PROBE_MSRS
    assert all(a.exit is None for a in cap.msr_accesses())
    apic_base = cap.msr_accesses()[0].value
    assert apic_base is not None and apic_base & 0xFFFFF000 == 0xFEE00000
    assert cap.msr_accesses()[5].value is None       # a faulting read returns nothing
    # QEMU's own filter sends the read of 0x35 to user space; the trace names no index for it.
    assert [e.exit_reason for e in cap.user_exits()] == [uapi.KVM_EXIT_X86_RDMSR,
                                                         uapi.KVM_EXIT_IO]
    assert cap.user_exits()[1].detail["port"] == 0xF4
    threads = {a.vcpu for a in cap.msr_accesses()}
    assert len(threads) == 1 and threads == {e.vcpu for e in cap.user_exits()}
    assert cap.msr_filter is None and cap.skipped == []


def test_both_kernel_readers_agree() -> None:
    tracefs, tracecmd = (load(FIXTURES / n) for n in KERNEL_TRACES)
    strip = [(a.vcpu, a.index, a.write, a.value, a.gp) for a in tracefs.msr_accesses()]
    assert strip == [(a.vcpu, a.index, a.write, a.value, a.gp) for a in tracecmd.msr_accesses()]


def test_qemu_config_trace_names_devices_and_values() -> None:
    cap = load(FIXTURES / "seabios-e1000.qemu.log")
    assert cap.format == "qemu-trace"
    e1000 = cap.config_accesses("e1000")
    assert e1000 and {a.device for a in cap.config_accesses()} >= {"e1000", "i440FX"}
    sizing = [(a.offset, a.write, a.value) for a in e1000 if a.offset == 0x10][:4]
    assert sizing == [(0x10, False, 0), (0x10, True, 0xFFFFFFFF), (0x10, False, 0xFFFE0000),
                      (0x10, True, 0)]
    assert all(a.size is None for a in e1000)
    assert cap.skipped == []


def test_vfio_config_lines_carry_their_size(tmp_path: Path) -> None:
    log = tmp_path / "vfio.log"
    log.write_text("vfio_pci_read_config  (0000:01:00.0, @0x4, len=0x2) 0x7\n"
                   "123@1700000000.000001:vfio_pci_write_config  (0000:01:00.0, @0x4, 0x6, "
                   "len=0x2)\n"
                   "vfio_pci_write_config (0000:01:00.0, @0x10, 0xffffffff, 0x4B)\n")
    cap = load(log)
    assert [(a.device, a.offset, a.size, a.write, a.value) for a in cap.config_accesses()] == [
        ("0000:01:00.0", 4, 2, False, 7), ("0000:01:00.0", 4, 2, True, 6),
        ("0000:01:00.0", 0x10, 4, True, 0xFFFFFFFF)]
    assert cap.config_accesses()[1].time == pytest.approx(1700000000.000001)


def test_gzip_is_read_by_its_magic_not_its_name(tmp_path: Path) -> None:
    packed = tmp_path / "trace.txt"          # no .gz suffix on purpose
    packed.write_bytes(gzip.compress((FIXTURES / "probe.tracefs.txt").read_bytes()))
    assert len(load(packed).msr_accesses()) == len(PROBE_MSRS)


def test_truncated_gzip_keeps_what_it_held(tmp_path: Path) -> None:
    whole = gzip.compress((FIXTURES / "seabios-e1000.qemu.log").read_bytes())
    cut = tmp_path / "cut.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    cap = load(cut)
    assert 0 < len(cap.config_accesses()) < 271
    assert any("gzip" in s.reason for s in cap.skipped)


def test_truncated_and_garbled_lines_are_skipped_with_their_numbers(tmp_path: Path) -> None:
    lines = (FIXTURES / "probe.tracefs.txt").read_text().splitlines()
    lines[14] = lines[14][:60]                              # cut mid-event
    lines[16] = lines[16].replace("msr_read", "msr_rxad")  # garbled text
    lines.insert(18, "\x00\x07 garbage")
    broken = tmp_path / "broken.txt"
    broken.write_text("\n".join(lines)[:-10])               # and the last line cut short
    cap = load(broken)
    assert [s.line for s in cap.skipped] == [15, 17, 19, 25]
    assert "kvm_msr" in cap.skipped[1].reason
    assert len(cap.msr_accesses()) == len(PROBE_MSRS) - 2


@pytest.mark.parametrize("content", [b"", b"\n  \n", b"hello world\n", b"\x7fELF\x02\x01\x00\x00"])
def test_empty_or_unknown_file_is_a_clear_error_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "mystery.bin"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match="mystery.bin"):
        load(path)


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothere.txt"):
        load(tmp_path / "nothere.txt")


@settings(max_examples=60, deadline=None, suppress_health_check=[FIXTURE_HEALTH])
@given(blob=st.binary(max_size=600), gz=st.booleans())
def test_random_bytes_load_or_raise_the_clear_error(tmp_path: Path, blob: bytes, gz: bool) -> None:
    path = tmp_path / "random"
    path.write_bytes(gzip.compress(blob) if gz else blob)
    try:
        load(path)
    except CaptureError as error:
        assert "random" in str(error)


@settings(max_examples=40, deadline=None, suppress_health_check=[FIXTURE_HEALTH])
@given(cut=st.integers(min_value=1, max_value=1595), flip=st.integers(min_value=0, max_value=1595))
def test_cut_or_flipped_kernel_traces_never_crash(tmp_path: Path, cut: int, flip: int) -> None:
    data = bytearray((FIXTURES / "probe.tracefs.txt").read_bytes()[:cut])
    if flip < len(data):
        data[flip] ^= 0x55
    path = tmp_path / "mangled"
    path.write_bytes(bytes(data))
    try:
        cap = load(path)
    except CaptureError:
        return
    assert all(a.index <= 0xFFFFFFFF for a in cap.msr_accesses())


def test_capture_files_go_to_the_capture_reader(tmp_path: Path, monkeypatch) -> None:
    """load() hands a file the capture-file module recognises to its reader, gzipped or not,
    and turns the reader's ValueError into the CaptureError callers catch."""
    import sys
    import types

    import workbench.capture

    fake = types.ModuleType("workbench.capture.capfile")
    fake.sniff = lambda head: head.startswith(b'{"format": "workbench-capture"')

    def read(path):
        if "bad" in Path(path).name:
            raise ValueError(f"{path}: line 1: capture version 9 is not supported")
        return Capture(source=Path(path), format="capture")

    fake.read = read
    monkeypatch.setitem(sys.modules, "workbench.capture.capfile", fake)
    monkeypatch.setattr(workbench.capture, "capfile", fake, raising=False)
    good = tmp_path / "vmm.capture"
    good.write_bytes(gzip.compress(b'{"format": "workbench-capture", "version": 1}\n'))
    assert load(good).format == "capture"
    bad = tmp_path / "bad.capture"
    bad.write_bytes(b'{"format": "workbench-capture", "version": 9}\n')
    with pytest.raises(CaptureError, match="bad.capture: line 1"):
        load(bad)
