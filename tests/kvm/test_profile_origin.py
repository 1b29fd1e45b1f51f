"""Profiles name, for every switch, the commit that set it, and flag what the spec only
inferred; unknown names are refused with the valid ones listed."""

import pytest

import workbench.kvm
from workbench.kvm.profiles import PROFILES
from workbench.vfio import PciSystem
from workbench.vfio.profiles import PROFILES as VFIO_PROFILES


@pytest.mark.parametrize("profile", list(PROFILES.values()) + list(VFIO_PROFILES.values()),
                         ids=lambda p: f"{type(p).__name__}-{p.name}")
def test_every_switch_names_its_change(profile):
    for setting in profile.settings():
        assert setting.change.title and setting.change.release, setting.name


def test_inferred_facts_are_flagged():
    six_twelve = {s.name: s for s in PROFILES["linux-6.12"].settings()}
    assert six_twelve["unsupported_ret_name"].change.inferred  # 6b: version inferred
    assert not six_twelve["strict_user_space_msr_mask"].change.inferred  # row 1: read
    assert six_twelve["strict_user_space_msr_mask"].change.commit == "cf5029d5dd7c"


def test_the_stable_profile_names_the_backport():
    y = {s.name: s.change for s in PROFILES["linux-5.10.y"].settings()}
    assert (y["atomic_filter_update"].row, y["strict_user_space_msr_mask"].row) == ("3s", "1s")
    assert "5.10.y" in y["atomic_filter_update"].release


def test_unknown_profile_lists_the_valid_ones():
    kvm = workbench.kvm.open("sim")
    with pytest.raises(ValueError, match="unknown KVM profile 'linux-4.19'") as info:
        kvm.create_vm(profile="linux-4.19")
    assert all(name in str(info.value) for name in PROFILES)
    with pytest.raises(ValueError, match="valid profiles: .*linux-6.18"):
        PciSystem(profile="linux-4.19")
