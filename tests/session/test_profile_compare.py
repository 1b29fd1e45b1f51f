"""`workbench profiles` and `workbench compare-profiles`: the differences between two
kernel profiles, each explained by the switch and the commit that set it."""

from pathlib import Path

import pytest

from workbench import cli
from workbench.kvm.profiles import PROFILES
from workbench.session.profile_compare import compare_profiles
from workbench.session.scenario import loads

SCENARIOS = Path(__file__).parents[2] / "resources" / "scenarios"
LTS_DEMO = SCENARIOS / "lts-differences.toml"
PROTECT = "'KVM: x86: Protect the unused bits in MSR exiting flags' (cf5029d5dd7c), v5.19"
ATOMIC = "'KVM: x86: Protect userspace MSR filter with SRCU, and set atomically-ish'"


def compare(capsys, a, b, scenario=LTS_DEMO):
    status = cli.main(["compare-profiles", str(scenario), a, b])
    out = capsys.readouterr()
    return status, out.out.splitlines(), out.err


def test_demo_names_the_cap_mask_and_atomic_set_commits(capsys):
    status, lines, _ = compare(capsys, "linux-5.10", "linux-6.18")
    assert status == 1
    assert lines[0] == (f"step 1 (enable_cap): allowed under linux-5.10, EINVAL under "
                        f"linux-6.18: {PROTECT} (switch strict_user_space_msr_mask)")
    assert lines[1].startswith("step 3 (run vcpu0): ")
    assert "rdmsr 0x10 (IA32_TSC) reason=FILTER" in lines[1].split(" under linux-5.10, ")[1]
    assert lines[1].endswith(f"{ATOMIC} (b318e8decf6b), v5.12 (switch atomic_filter_update)")
    assert not any("atomic_filter_update" in line for line in lines[2:])


def test_the_seed_demo_exercises_neither_and_says_which_switches_had_no_effect(capsys):
    status, lines, _ = compare(capsys, "linux-5.10", "linux-6.18", SCENARIOS / "demo.toml")
    assert status == 0 and lines[0].startswith("no difference: ")
    assert f"  no effect here: strict_user_space_msr_mask (False -> True): {PROTECT}" in lines
    assert any(line.startswith("  no effect here: atomic_filter_update") and ATOMIC in line
               for line in lines)


def test_a_pci_story_is_explained_by_vfio_switches(capsys):
    status, lines, _ = compare(capsys, "linux-5.15", "linux-6.18",
                               SCENARIOS / "vfio-lts-differences.toml")
    assert status == 1
    assert lines[0].startswith("step 3 (pci): '0000:01:00.0 PHYS_CONFIG_WRITE")
    assert lines[0].endswith("'vfio/pci: Invalidate mmaps and block the access in D3hot power "
                             "state' (2b2c651baf1c), v5.19 (switch d3hot_gate)")
    assert "-> 0xfffe0001" in lines[1].split(" under linux-5.15, ")[0]
    assert lines[1].endswith("'vfio/pci: Remove shadow ROM specific code paths' "
                             "(c5a8b5d740ef), v6.14 (switch rom_bar_from_setup_data)")
    assert len(lines) == 2, "KVM switches cannot matter to a story without vCPUs"


def test_the_stable_profile_is_explained_by_its_backports(capsys):
    status, lines, _ = compare(capsys, "linux-5.10", "linux-5.10.y")
    assert status == 1
    assert "5.10.y (about 5.10.154)" in lines[0] and "5.10.y (about 5.10.27)" in lines[1]


def test_a_later_mainline_difference_only(capsys):
    status, lines, _ = compare(capsys, "linux-5.15", "linux-6.1")
    assert status == 1 and not lines[1].startswith("step"), "5.15 sets filters atomically"
    assert "allowed under linux-5.15, EINVAL under linux-6.1" in lines[0]


def test_equal_behaviour_exits_0(capsys):
    status, lines, _ = compare(capsys, "linux-6.12", "linux-6.18")
    assert status == 0
    assert lines[0] == "no difference: 4 steps behave the same under linux-6.12 and linux-6.18"


def test_a_set_up_the_newer_kernel_refuses_is_a_difference():
    scenario = loads('version = 1\n[vm]\nprofile = "linux-5.10"\n[caps]\n'
                     'user_space_msr = 15\n[[vcpus]]\nsource = "hlt"\n')
    (diff,) = compare_profiles(scenario, "linux-5.10", "linux-6.1").differences
    assert (diff.step, diff.a, diff.b) == (0, "allowed", "EINVAL")
    assert diff.switch == "strict_user_space_msr_mask"


@pytest.mark.parametrize("args, message", [
    (["linux-5.10", "linux-4.19"], "unknown KVM profile 'linux-4.19'; valid profiles: "),
    (["linux-9.9", "linux-6.18"], "linux-5.10, linux-5.10.y, linux-5.15"),
])
def test_bad_profile_names_exit_2_listing_the_valid_ones(capsys, args, message):
    status, lines, err = compare(capsys, *args)
    assert status == 2 and lines == [] and message in err


def test_a_bad_scenario_exits_2(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\n[[ioctls]]\n")
    status, _, err = compare(capsys, "linux-5.10", "linux-6.18", bad)
    assert status == 2 and "bad.toml:2: $.ioctls[0]: give exactly one" in err


def test_profiles_lists_each_profile_with_what_changes(capsys):
    assert cli.main(["profiles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:len(PROFILES)]] == list(PROFILES)
    assert "a failed SET_MSR_FILTER keeps the old filter (v5.12)" in lines[2]  # 5.15


def test_profiles_explain_names_every_switch_and_flags_inferred_rows(capsys):
    assert cli.main(["profiles", "--explain"]) == 0
    out = capsys.readouterr().out
    for name, profile in PROFILES.items():
        section = out.split(f"{name} (")[1].split("\nlinux-")[0]
        for setting in profile.settings():
            assert f"    {setting.name}" in section
    assert ("unsupported_ret_name = KVM_MSR_RET_UNSUPPORTED: 'KVM: x86: Rename "
            "KVM_MSR_RET_INVALID to KVM_MSR_RET_UNSUPPORTED' (aaecae7b6a2b), v6.12  "
            "[inferred]") in out
    assert "d3hot_gate = True: 'vfio/pci: Invalidate mmaps and block the access in D3hot " \
           "power state' (2b2c651baf1c), v5.19\n" in out, "modelled: no [not modelled] flag"
    assert "    rom_bar_from_setup_data = True: 'vfio/pci: Remove shadow ROM specific code " \
           "paths' (c5a8b5d740ef), v6.14\n" in out
    assert "row 11f: vfio_need_bar_restore" in out and "v5.10  [inferred]\n" in out
    assert "linux-5.9 (v5.9 tag, vfio-pci only)\n" in out
