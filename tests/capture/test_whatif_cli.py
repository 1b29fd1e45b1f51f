"""`workbench whatif`: differences on stdout (exit 0), clean errors (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
PROBE = str(FIXTURES / "probe.tracefs.txt")
DENY_APIC_BASE = ('[filter]\nflags = 0\n[[filter.ranges]]\nflags = 1\nbase = "0x1b"\n'
                  'nmsrs = 1\nbitmap = "00"\n')


def test_own_capture_prints_no_difference_but_the_volatile_reads(capsys) -> None:
    assert main(["whatif", PROBE, "--vendor", "intel"]) == 0
    out = capsys.readouterr().out
    assert "0 difference(s), 2 volatile" in out
    assert "rdmsr 0x10 (line 15): volatile: the TSC" in out


def test_edited_filter_prints_the_access_that_now_exits(capsys, tmp_path: Path) -> None:
    deny = tmp_path / "deny.toml"
    deny.write_text(DENY_APIC_BASE)
    assert main(["whatif", PROBE, "--filter", str(deny), "--profile", "linux-5.10"]) == 0
    out = capsys.readouterr().out
    assert "rdmsr 0x1b (line 13): stays in kernel -> exits with FILTER" in out
    assert "1 difference(s)" in out and "linux-5.10" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["whatif", "/no/such/trace"], "/no/such/trace"),
    (["whatif", str(FIXTURES / "probe.S")], "probe.S: not a workbench capture"),
    (["whatif", PROBE, "--filter", str(FIXTURES / "probe.S")], "not a TOML or JSON filter"),
    (["whatif", PROBE, "--profile", "linux-9.9"], "linux-9.9"),
    (["whatif", str(FIXTURES / "seabios-e1000.qemu.log"), "--device", "nic"], "e1000"),
])
def test_bad_input_is_a_clean_error(capsys, argv: list[str], message: str) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_filter_field_is_named(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"flags": 0, "ranges": [{"flags": 1, "base": "0x1b"}]}')
    assert main(["whatif", PROBE, "--filter", str(bad)]) == 2
    assert "bad.json: filter.ranges[0].nmsrs: missing" in capsys.readouterr().err


def test_device_flag_prints_both_profiles(capsys) -> None:
    log = str(FIXTURES / "seabios-e1000.qemu.log")
    assert main(["whatif", log, "--device", "e1000", "--as", "detached-vf"]) == 0
    out = capsys.readouterr().out.splitlines()
    at_open = out.index(next(line for line in out if line.startswith("memory BARs at open")))
    assert out[at_open + 1].split() == ["BAR", "0", "EIO", "OK"]
