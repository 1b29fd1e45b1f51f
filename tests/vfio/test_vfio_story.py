"""The seed's story end to end: the API, the scenario runner, and the example TOML file."""

import dataclasses
import errno
import tomllib
from pathlib import Path

import msgspec
import pytest

from workbench.vfio import ActionKind, EventKind, EventRecorder, PciSystem
from workbench.vfio.story import (
    OUTCOME_SIGBUS,
    PciScenario,
    load_pci_scenario,
    run_pci_scenario,
)

SCENARIO_FILE = Path(__file__).parents[2] / "resources" / "scenarios" / "s390-detached-vf.toml"
COMMAND, MSE, MASTER = 0x04, 0x2, 0x4


def guest_sequence(dev):
    """What a guest driver does: enable memory, read back, bus master, MMIO, retry MSE."""
    seen = {}
    cmd = dev.config_read(COMMAND, 2)
    dev.config_write(COMMAND, 2, cmd | MSE)
    seen["mse_read"] = dev.config_read(COMMAND, 2) & MSE
    dev.config_write(COMMAND, 2, dev.config_read(COMMAND, 2) | MASTER)
    try:
        seen["mmio"] = dev.region_read(0, 0, 4)
    except OSError as exc:
        seen["mmio"] = errno.errorcode[exc.errno]
    for _ in range(3):
        dev.config_write(COMMAND, 2, MSE | MASTER)
    return seen


@pytest.mark.parametrize("profile", ["linux-5.9", "linux-5.10"])
def test_seed_story_through_the_api(profile):
    rec = EventRecorder()
    pci = PciSystem(platform="s390", profile=profile, observer=rec)
    vf = pci.add_detached_vf()
    assert not vf.is_virtfn and vf.physfn is None
    seen = guest_sequence(pci.vfio_open(vf))
    restores = rec.of_kind(EventKind.BAR_RESTORE)
    if profile == "linux-5.9":
        assert seen["mse_read"] == 0, "the guest's MSE never reads back"
        assert seen["mmio"] == "EIO", "the Bus Master RMW wrote MSE=0 back"
        assert len(restores) == 2, "every repeated MSE=1 write restores the BARs"
        assert len(rec.of_kind(EventKind.REGION_BLOCKED)) == 1
    else:
        assert vf.no_command_memory
        assert seen["mse_read"] == MSE
        assert seen["mmio"] == vf.bars[0].registers.ident
        assert restores == []


def _actions(events):
    return [e for e in events if e.kind == EventKind.ACTION]


def test_example_toml_fails_under_5_9_and_works_under_5_10():
    data = tomllib.loads(SCENARIO_FILE.read_text())
    assert set(data) == {"version", "name", "pci"}
    base = load_pci_scenario(data["pci"])
    outcomes = {}
    for profile in ("linux-5.9", "linux-5.10"):
        rec = EventRecorder()
        run_pci_scenario(msgspec.structs.replace(base, profile=profile), rec)
        outcomes[profile] = rec
    old, new = outcomes["linux-5.9"], outcomes["linux-5.10"]
    old_reads = [a for a in _actions(old) if a.arg == ActionKind.CONFIG_READ]
    new_reads = [a for a in _actions(new) if a.arg == ActionKind.CONFIG_READ]
    assert [a.value & MSE for a in old_reads] == [0]
    assert [a.value & MSE for a in new_reads] == [MSE]
    old_mmio = [
        a for a in _actions(old) if a.arg in (ActionKind.REGION_READ, ActionKind.REGION_WRITE)
    ]
    new_mmio = [
        a for a in _actions(new) if a.arg in (ActionKind.REGION_READ, ActionKind.REGION_WRITE)
    ]
    assert [a.errno for a in old_mmio[:3]] == [errno.EIO] * 3
    assert all(a.errno == 0 for a in new_mmio)
    assert new_mmio[2].value == 0xCAFEF00D, "the scratch register kept the guest's write"
    assert len(old.of_kind(EventKind.BAR_RESTORE)) >= 2
    assert new.of_kind(EventKind.BAR_RESTORE) == []
    assert old.of_kind(EventKind.REGION_BLOCKED) and not new.of_kind(EventKind.REGION_BLOCKED)


def test_story_is_deterministic_bit_for_bit():
    scenario = load_pci_scenario(tomllib.loads(SCENARIO_FILE.read_text())["pci"])
    runs = []
    for _ in range(2):
        rec = EventRecorder()
        run_pci_scenario(scenario, rec)
        runs.append([dataclasses.astuple(e) for e in rec])
    assert runs[0] == runs[1]
    assert len(runs[0]) > 20


def test_events_are_numeric_and_format_to_one_line():
    scenario = load_pci_scenario(tomllib.loads(SCENARIO_FILE.read_text())["pci"])
    rec = EventRecorder()
    run_pci_scenario(scenario, rec)
    for event in rec:
        for field in dataclasses.fields(event):
            value = getattr(event, field.name)
            assert isinstance(value, str if field.name == "device" else int), field.name
        line = event.format()
        assert "\n" not in line and event.device in line and event.kind.name in line
    blocked = rec.of_kind(EventKind.REGION_BLOCKED)[0]
    assert "EIO" in blocked.format()


def test_failed_step_is_an_outcome_and_the_story_goes_on():
    scenario = load_pci_scenario(
        {
            "platform": "x86",
            "profile": "linux-5.10",
            "devices": [{"kind": "pf", "name": "pf"}],
            "actions": [
                {"op": "mmap_read", "device": "pf"},
                {"op": "clear_memory", "device": "pf"},
                {"op": "mmap_read", "device": "pf"},
                {"op": "region_read", "device": "pf"},
                {"op": "config_read", "device": "pf", "offset": "0x3", "size": 2},
                {"op": "enable_memory", "device": "pf"},
                {"op": "mmap_read", "device": "pf"},
            ],
        }
    )
    rec = EventRecorder()
    run_pci_scenario(scenario, rec)
    outcomes = [a.errno for a in _actions(rec)]
    assert outcomes == [0, 0, OUTCOME_SIGBUS, errno.EIO, errno.EINVAL, 0, 0]
    kinds = [e.kind for e in rec if e.kind in (EventKind.MMAP_ZAP, EventKind.MMAP_REMAP)]
    assert kinds == [EventKind.MMAP_REMAP, EventKind.MMAP_ZAP, EventKind.MMAP_REMAP]
    assert "SIGBUS" in _actions(rec)[2].format()


def test_enable_vfs_step_names_the_vfs():
    scenario = load_pci_scenario(
        {
            "platform": "s390",
            "profile": "linux-5.9",
            "devices": [{"kind": "pf", "name": "pf", "total_vfs": 4}],
            "actions": [
                {"op": "enable_vfs", "pf": "pf", "count": 2, "name": "vf"},
                {"op": "enable_memory", "device": "vf1"},
                {"op": "config_read", "device": "vf1", "offset": 4, "size": 2},
            ],
        }
    )
    rec = EventRecorder()
    run_pci_scenario(scenario, rec)
    read = _actions(rec)[-1]
    assert read.errno == 0 and read.value & MSE, "a linked s390 VF has is_virtfn, 5.9 emulates MSE"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"platform": "arm"}, "$.platform"),
        ({"devices": [{"kind": "pf", "name": "p", "colour": 1}]}, "$.devices[0]"),
        ({"devices": [{"kind": "gpu", "name": "p"}]}, "$.devices[0]"),
        ({"devices": [{"kind": "detached_vf", "name": "d"}]}, "only on platform s390"),
        ({"actions": [{"op": "config_read", "device": "nope", "offset": 0}]}, "unknown device"),
        ({"devices": [{"kind": "pf", "name": "p", "vendor_id": "0xzz"}]}, "vendor_id"),
        ({"devices": [{"kind": "pf", "name": "p", "bars": [{"size": 3000}]}]}, "power of two"),
        ({"devices": [{"kind": "pf", "name": "p"}, {"kind": "pf", "name": "p"}]}, "used twice"),
        (
            {
                "devices": [
                    {"kind": "pf", "name": "p"},
                    {"kind": "vfs", "name": "v", "pf": "p", "count": 9},
                ]
            },
            "TotalVFs",
        ),
    ],
)
def test_bad_scenarios_name_the_problem(data, message):
    with pytest.raises(
        msgspec.ValidationError, match=message.replace("$", r"\$").replace("[", r"\[")
    ):
        load_pci_scenario(data)


def test_scenario_accepts_hex_strings_and_defaults():
    scenario = load_pci_scenario(
        {"devices": [{"kind": "pf", "name": "p", "vendor_id": "0x8086", "total_vfs": "4"}]}
    )
    assert isinstance(scenario, PciScenario)
    assert scenario.devices[0].vendor_id == 0x8086 and scenario.devices[0].total_vfs == 4
    assert scenario.platform == "x86" and scenario.profile == "linux-5.10"
