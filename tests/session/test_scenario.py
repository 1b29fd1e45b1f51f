"""Scenario files: validation messages name the field and line; demos run headless."""

import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import DEMO_SCENARIO, main
from workbench.session.runner import run_scenario
from workbench.session.scenario import ScenarioError, load, loads

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


def test_minimal_scenario_runs_and_answers_from_the_handler():
    lines = list(run_scenario(loads(MINIMAL)))
    assert lines[0].startswith("vcpu0 exit RDMSR 0x35 (MSR_CORE_THREAD_COUNT) reason=UNKNOWN")
    assert lines[0].endswith("answers 0x40008 (constant)")
    assert lines[1] == "vcpu0 exit HLT"
    assert "rax=0x40008" in lines[2] and "#GP=0" in lines[2]


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
    lines = list(run_scenario(load(DEMO_SCENARIO)))
    exits = [line for line in lines if " exit " in line]
    assert "RDMSR 0x35" in exits[0] and "answers 0x40008" in exits[0]
    assert "RDMSR 0xc0010015" in exits[1] and "reason=FILTER" in exits[1] and "#GP" in exits[1]
    assert "WRMSR 0xc0011029" in exits[2] and "reason=FILTER" in exits[2]
    assert "IO OUT port=0x80 size=1 data=0x8" in exits[3]
    assert exits[4] == "vcpu0 exit HLT"
    assert any("kvm: rdmsr 0x10 (IA32_TSC)" in line for line in lines)
    assert "#GP=2" in lines[-1]


def test_headless_cli_prints_one_line_per_event(capsys):
    assert main(["run", str(DEMO_SCENARIO), "--headless"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("vcpu0 exit RDMSR 0x35")


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
    lines = list(run_scenario(loads(text), max_exits=3))
    assert lines[-2] == "vcpu0 stopped after 3 exits (the step limit)"
    assert sum(" exit IO OUT" in line for line in lines) == 3


def test_pci_story_runs_headless():
    lines = list(run_scenario(load(SCENARIOS / "s390-detached-vf.toml")))
    assert lines and all(isinstance(line, str) for line in lines)
    assert any("EIO" in line or "restore" in line.lower() for line in lines)


