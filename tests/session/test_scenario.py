"""Scenario files: validation messages name the field and line; demos run headless."""

import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import DEMO_SCENARIO, main
from workbench.session.runner import run_scenario as run_session
from workbench.session.scenario import ScenarioError, load, loads
from workbench.session.session import Session

SCENARIOS = Path(__file__).resolve().parents[2] / "resources" / "scenarios"

MINIMAL = """\
version = 1
[caps]
user_space_msr = ["UNKNOWN"]
[[vcpus]]
source = "mov ecx, 0x35\\nrdmsr\\nhlt"
[[handlers]]
msr = "0x35"
value = "0x40008"
"""


def run_scenario(scenario, max_exits=10_000):
    return list(run_session(Session(scenario), max_exits))


def test_minimal_scenario_runs_and_answers_from_the_handler():
    lines = run_scenario(loads(MINIMAL))
    assert "MSR_EXIT" in lines[0]
    assert "rdmsr 0x35 (MSR_CORE_THREAD_COUNT) reason=UNKNOWN" in lines[0]
    assert "USER_ANSWER" in lines[1] and "data=0x40008" in lines[1]
    assert "HLT" in lines[2]
    assert lines[3].startswith("vcpu0 halted:") and "rax=0x40008" in lines[3]
    assert "#GP=0" in lines[3]


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        (MINIMAL.replace('version = 1', 'version = 7'), "$.version", 1),
        (MINIMAL.replace('["UNKNOWN"]', '["SOMETIMES"]'), "$.caps.user_space_msr[0]", 3),
        (MINIMAL.replace('value = "0x40008"', 'value = "lots"'), "$.handlers[0].value", 8),
        (MINIMAL + "colour = 1\n", "$.handlers[0]", 6),
        (MINIMAL.replace("rdmsr", "rdmsrx"), "$.vcpus[0].source", 5),
        (MINIMAL + "[filter]\ndefault = 'deny'\n[[filter.ranges]]\nbase = 1\nnmsrs = 1\n"
         "flags = 'x'\n", "$.filter.ranges[0].flags", 14),
    ],
)
def test_errors_name_field_and_line(text, field, line):
    with pytest.raises(ScenarioError) as info:
        loads(text, "s.toml")
    assert info.value.field == field
    assert info.value.line == line
    assert str(info.value).startswith(f"s.toml:{line}: {field}: ")


def test_toml_syntax_error_names_the_line():
    with pytest.raises(ScenarioError, match=r"^s.toml:2: not valid TOML"):
        loads("version = 1\n[vm\n", "s.toml")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read the file"):
        load(tmp_path / "nope.toml")


def test_demo_scenario_tells_the_seed_story():
    lines = run_scenario(load(DEMO_SCENARIO))
    kinds = [line.split()[4] for line in lines[:-1]]
    assert kinds == ["MSR_EXIT", "USER_ANSWER", "MSR_EXIT", "USER_ANSWER", "MSR_GP",
                     "MSR_EXIT", "USER_ANSWER", "MSR_GP", "MSR_READ", "IO_EXIT", "HLT"]
    assert "rdmsr 0x35" in lines[0] and "data=0x40008" in lines[1]
    assert "rdmsr 0xc0010015 (HWCR) reason=FILTER" in lines[2] and "#GP" in lines[3]
    assert "HWCR" in lines[4] and "-> #GP (user space error=1)" in lines[4]
    assert "wrmsr 0xc0011029 (DE_CFG) reason=FILTER" in lines[5]
    assert "rdmsr 0x10 (IA32_TSC)" in lines[8]
    assert "out port=0x80 size=1 data=0x8" in lines[9]
    assert "#GP=2" in lines[-1]


def test_headless_cli_prints_one_line_per_event(capsys):
    assert main(["run", str(DEMO_SCENARIO), "--headless"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "MSR_EXIT" in out[0] and "rdmsr 0x35" in out[0]
    assert out[-1].startswith("vcpu0 halted:")


def test_headless_cli_reports_bad_files_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\n[vm]\nvendor = 'via'\n")
    result = subprocess.run([sys.executable, "-m", "workbench.cli", "run", str(bad), "--headless"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "bad.toml:3: $.vm.vendor" in result.stderr


def test_step_limit_stops_a_vcpu():
    text = "version = 1\n[[vcpus]]\nsource = \"l: out 0x80, al\\njmp l\"\n"
    lines = run_scenario(loads(text), max_exits=3)
    assert lines[-1].startswith("vcpu0 stopped after 3 exits")
    assert sum("IO_EXIT" in line for line in lines) == 3


def test_pci_story_runs_headless():
    lines = run_scenario(load(SCENARIOS / "s390-detached-vf.toml"))
    assert any("REGION_BLOCKED" in line and "EIO" in line for line in lines)
    assert sum("BAR_RESTORE" in line for line in lines) >= 2




def test_passthrough_guard_demo_intercepts_only_the_denied_direction():
    from workbench.kvm.intercepts import is_intercepted
    session = Session(load(SCENARIOS / "passthrough-guard.toml"))
    bitmap = session.msr_bitmap(0)
    assert is_intercepted(bitmap, "intel", 0xC0000100, True)
    assert not is_intercepted(bitmap, "intel", 0xC0000100, False)
    lines = list(run_session(session))
    assert "wrmsr 0xc0000100 (FS_BASE) reason=FILTER data=0x7000" in lines[0]
    assert "rdmsr 0xc0000100 (FS_BASE) -> 0x0 (passthrough: no VM exit)" in lines[2]
