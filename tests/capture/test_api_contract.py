"""api.md "Captures and traces", name by name and shape by shape, on every shipped trace."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import workbench.capture
from workbench.capture import load, whatif
from workbench.cli import main
from workbench.kvm import uapi
from workbench.kvm.filter import MsrFilter

HERE = Path(__file__).parent
SHIPPED = {"fixtures/boot.tracefs.txt.gz": "tracefs", "fixtures/probe.tracefs.txt": "tracefs",
           "fixtures/probe.trace-cmd.txt": "trace-cmd",
           "fixtures/seabios-e1000.qemu.log": "qemu-trace",
           "data/qemu-probe.capture.gz": "capture"}
NOT_TRACES = {"fixtures/probe.S", "fixtures/record.sh"}
CAPTURE = HERE / "data" / "qemu-probe.capture.gz"


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def test_every_shipped_trace_is_listed_here() -> None:
    shipped = {str(p.relative_to(HERE)) for d in ("fixtures", "data") for p in (HERE / d).iterdir()}
    assert shipped == set(SHIPPED) | NOT_TRACES


@pytest.mark.parametrize(("name", "fmt"), SHIPPED.items())
def test_load_gives_the_documented_objects(name: str, fmt: str) -> None:
    cap = workbench.capture.load(HERE / name)
    assert cap.format == fmt and cap.skipped == []
    assert cap.msr_filter is None or isinstance(cap.msr_filter, MsrFilter)
    assert cap.user_space_msr_mask is None or _int(cap.user_space_msr_mask)
    for a in cap.msr_accesses():
        assert _int(a.vcpu) and _int(a.index) and isinstance(a.write, bool)
        assert a.value is None or _int(a.value)
        assert isinstance(a.gp, bool)
        if a.exit is not None:
            assert _int(a.exit.msr_reason) and _int(a.exit.data) and _int(a.exit.error)
    for e in cap.user_exits():
        assert _int(e.vcpu) and _int(e.exit_reason)
    for c in cap.config_accesses():
        assert isinstance(c.device, str) and _int(c.offset) and isinstance(c.write, bool)
        assert (c.size is None or _int(c.size)) and _int(c.value)
    if fmt == "qemu-trace":     # pci_cfg_* name devices, omit sizes
        assert cap.config_accesses() and {c.size for c in cap.config_accesses()} == {None}
        assert cap.config_accesses(device="e1000") == [
            c for c in cap.config_accesses() if c.device == "e1000"] != []
        assert cap.config_accesses(None) == cap.config_accesses()
    else:
        assert cap.msr_accesses() and cap.user_exits() and cap.config_accesses() == []


def test_a_capture_file_knows_the_vmms_filter_mask_and_answers() -> None:
    cap = load(CAPTURE)
    assert isinstance(cap.msr_filter, MsrFilter) and cap.msr_filter.ranges
    assert cap.user_space_msr_mask == uapi.KVM_MSR_EXIT_REASON_FILTER
    answered = [a for a in cap.msr_accesses() if a.exit is not None]
    assert answered and all(a.exit.msr_reason == uapi.KVM_MSR_EXIT_REASON_FILTER
                            for a in answered)
    assert {e.exit_reason for e in cap.user_exits()} >= {uapi.KVM_EXIT_IO,
                                                         uapi.KVM_EXIT_X86_RDMSR}


def test_whatif_signature_is_the_documented_one() -> None:
    params = inspect.signature(whatif).parameters
    assert [(p.name, p.default) for p in params.values()] == [
        ("cap", inspect.Parameter.empty), ("msr_filter", None), ("user_space_msr_mask", None),
        ("engine", "sim"), ("vendor", None), ("profile", None)]
    assert list(inspect.signature(workbench.capture.Capture.config_accesses).parameters) == [
        "self", "device"]


def test_whatif_outcomes_have_the_documented_shape() -> None:
    cap = load(CAPTURE)
    result = whatif(cap, msr_filter=None, user_space_msr_mask=None, engine="sim")
    assert len(result.outcomes) == len(cap.msr_accesses())
    exits = 0
    for outcome in result.outcomes:
        assert set(outcome) == {"exit", "gp", "value"}
        assert isinstance(outcome["gp"], bool)
        assert outcome["value"] is None or _int(outcome["value"])
        if outcome["exit"] is not None:
            exits += 1
            assert set(outcome["exit"]) == {"exit_reason", "msr_reason", "index"}
            assert all(_int(v) for v in outcome["exit"].values())
    assert exits == sum(a.exit is not None for a in cap.msr_accesses())


def test_whatif_command_takes_the_documented_options(capsys, tmp_path: Path) -> None:
    deny = tmp_path / "deny.toml"
    deny.write_text('[filter]\nflags = 0\n[[filter.ranges]]\nflags = 1\nbase = "0x1b"\n'
                    'nmsrs = 1\nbitmap = "00"\n')
    assert main(["whatif", str(CAPTURE), "--filter", str(deny), "--profile", "linux-5.10",
                 "--vendor", "amd", "--engine", "sim"]) == 0
    out = capsys.readouterr().out
    assert "linux-5.10" in out and "amd vendor" in out and "rdmsr 0x1b" in out
    with pytest.raises(SystemExit) as exited:
        main(["whatif", str(CAPTURE), "--engine", "qemu"])
    assert exited.value.code == 2 and "'sim', 'host'" in capsys.readouterr().err


def test_open_routes_a_capture_to_the_capture_reader(capsys, tmp_path: Path) -> None:
    future = tmp_path / "future.capture"
    future.write_text('{"format": "workbench-capture", "version": 99}\n')
    assert main(["open", str(future)]) == 2       # refused before any window opens
    assert "future.capture: line 1: capture version 99" in capsys.readouterr().err
