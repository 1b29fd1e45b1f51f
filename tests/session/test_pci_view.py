"""The VFIO panel's read-only views: topology flags, the three config layers, traps of a
command, action outcomes, and one command sequence under linux-5.9 and linux-5.10."""

import errno
from pathlib import Path

import pytest

from workbench.session import commands as c
from workbench.session import pci_compare as pc
from workbench.session import pci_view as pv
from workbench.session.runner import drive
from workbench.session.scenario import load, loads
from workbench.session.session import CommandResult, Session
from workbench.vfio import story as st

SCENARIOS = Path(__file__).parents[2] / "resources" / "scenarios"
COMMAND, MSE = 0x04, 0x2


def pci_scenario(platform: str, profile: str, devices: str) -> str:
    return f'version = 1\n[pci]\nplatform = "{platform}"\nprofile = "{profile}"\n{devices}'


X86 = '''
[[pci.devices]]
kind = "pf"
name = "pf"
[[pci.devices]]
kind = "vfs"
name = "vf"
pf = "pf"
count = 2
'''
S390 = '''
[[pci.devices]]
kind = "pf"
name = "pf"
[[pci.devices]]
kind = "vfs"
name = "vf"
pf = "pf"
count = 1
[[pci.devices]]
kind = "detached_vf"
name = "dvf"
'''


def session(platform: str, profile: str, devices: str) -> Session:
    return Session(loads(pci_scenario(platform, profile, devices)))


def pci(s: Session, step: st.Step) -> CommandResult:
    return s.apply(c.Pci(action=step))


@pytest.mark.parametrize("profile", pc.PROFILES)
def test_x86_topology_puts_vfs_under_their_pf_with_the_core_flags(profile):
    s = session("x86", profile, X86)
    (pf,) = pv.topology(s.pci)
    assert (pf.name, pf.kind, pf.is_virtfn, pf.physfn, pf.mse_key) == ("pf", "PF", False, None,
                                                                        False)
    assert [vf.name for vf in pf.children] == ["vf0", "vf1"]
    vf = pf.children[0]
    assert vf.is_virtfn and vf.physfn == "pf" and vf.mse_key
    assert vf.no_command_memory is (True if profile == "linux-5.10" else None)
    assert not vf.open and vf.memory_enabled is None


@pytest.mark.parametrize("profile", pc.PROFILES)
def test_s390_detached_vf_is_a_root_without_physfn_keyed_only_on_5_10(profile):
    s = session("s390", profile, S390)
    pf, dvf = pv.topology(s.pci)
    assert [vf.name for vf in pf.children] == ["vf0"]
    assert pf.children[0].is_virtfn and pf.children[0].physfn == "pf"
    assert (dvf.name, dvf.kind, dvf.is_virtfn, dvf.physfn) == ("dvf", "DETACHED_VF", False, None)
    assert dvf.mse_key is (profile == "linux-5.10")
    assert dvf.no_command_memory is (True if profile == "linux-5.10" else None)


@pytest.mark.parametrize(("profile", "user_mse"), [("linux-5.9", 0), ("linux-5.10", 1)])
def test_layers_of_the_command_register_after_the_user_writes_mse(profile, user_mse):
    s = session("s390", profile, S390)
    before = pv.word_layers(s.pci, "dvf", COMMAND)
    assert before.user is None and before.virt is None  # not open through vfio yet
    pci(s, st.ConfigWriteStep(device="dvf", offset=COMMAND, size=2, value=MSE))
    rows = len(s.log)
    w = pv.word_layers(s.pci, "dvf", COMMAND)
    assert w.bit("user", 1) == user_mse
    assert w.bit("phys", 1) == 0, "a VF's MSE is hardwired 0"
    assert w.bit("virt", 1) == 1, "vfio_basic_config_write keeps the user's MSE in vconfig"
    assert w.virt_mask == 0x400 and w.write_mask == 0xFFFF
    assert w.from_vconfig == (0x402 if profile == "linux-5.10" else 0x400), "MSE via the key"
    assert w.user == s.pci.devices["dvf"].config_read(COMMAND, 2)  # what vfio returns
    assert len(s.log) == rows + 1, "only the explicit config_read above left a trap"


def test_the_user_layer_is_what_vfio_returns_after_sizing_and_with_the_vf_gone():
    """The grid's user layer follows vfio_bar_fixup (pending until the next BAR read) and
    the command read's OR of vconfig's MSE into a vanished VF's all ones."""
    s = session("x86", "linux-5.10", X86)
    pci(s, st.ConfigWriteStep(device="vf0", offset=COMMAND, size=2, value=0))
    pci(s, st.ConfigWriteStep(device="vf0", offset=0x10, size=4, value=0xFFFFFFFF))
    pf = s.pci.functions["pf"]
    ctrl = pf.sriov_pos + 0x08
    s.pci.system.host_config_write(pf, ctrl, 2, pf.config_read(ctrl, 2) & ~0x1)  # VF Enable off
    words = pv.grid(s.pci, "vf0")
    dev = s.pci.devices["vf0"]
    assert [w.user for w in words] == [dev.config_read(w.offset, 2) for w in words]
    by_offset = {w.offset: w for w in words}
    assert by_offset[0x10].user == 0xC004, "16 KiB, 64-bit: the size mask and the flags"
    assert by_offset[COMMAND].bit("user", 1) == 1, "all ones from the device, ORed"


def test_the_grid_covers_the_header_and_a_pfs_sriov_registers():
    s = session("x86", "linux-5.10", X86)
    offsets = [off for off, _ in pv.register_words(s.pci, "pf")]
    assert offsets[:32] == list(range(0, 0x40, 2))
    control = pv.sriov_control_offset(s.pci, "pf")
    assert control in offsets and pv.sriov_control_offset(s.pci, "vf0") is None
    words = {w.offset: w for w in pv.grid(s.pci, "pf")}
    assert words[control].phys & 0x9 == 0x9  # VF Enable and VF MSE: sriov_numvfs set them
    assert [off for off, _ in pv.register_words(s.pci, "vf0")] == list(range(0, 0x40, 2))


def test_trap_bits_are_the_bytes_each_config_access_of_the_device_touched():
    s = session("x86", "linux-5.10", X86)
    pci(s, st.OpenStep(device="vf1"))
    result = pci(s, st.ConfigReadStep(device="vf0", offset=COMMAND, size=4))
    dev_id = s.pci.functions["vf0"].dev_id
    assert pv.trap_bits(s.log, result.first_row, result.last_row, dev_id) == {
        COMMAND: 0xFFFF, COMMAND + 2: 0xFFFF}
    result = pci(s, st.ConfigWriteStep(device="vf0", offset=0x3D, size=1, value=0))
    assert pv.trap_bits(s.log, result.first_row, result.last_row, dev_id) == {0x3C: 0xFF00}
    other = s.pci.functions["vf1"].dev_id
    assert pv.trap_bits(s.log, result.first_row, result.last_row, other) == {}


def test_outcomes_name_eio_sigbus_and_einval():
    s = session("x86", "linux-5.10", X86)
    pci(s, st.MmapReadStep(device="pf"))
    pci(s, st.ClearMemoryStep(device="pf"))
    eio = pci(s, st.RegionReadStep(device="pf"))
    sigbus = pci(s, st.MmapWriteStep(device="pf", value=1))
    ok = pci(s, st.RegionReadStep(device="vf0"))
    assert pv.action_outcome(s.log, eio.first_row, eio.last_row).text().startswith("EIO")
    assert pv.action_outcome(s.log, sigbus.first_row, sigbus.last_row).text().startswith(
        "SIGBUS")
    good = pv.action_outcome(s.log, ok.first_row, ok.last_row)
    assert good.ok and good.text() == f"{s.pci.functions['vf0'].bars[0].registers.ident:#010x}"
    s390 = session("s390", "linux-5.10", S390)
    einval = pci(s390, st.MmapReadStep(device="dvf"))
    outcome = pv.action_outcome(s390.log, einval.first_row, einval.last_row)
    assert outcome.errno == errno.EINVAL and "VFIO_PCI_MMAP" in pv.mmap_hint(s390.pci, "dvf", 0)
    assert pv.action_outcome(s.log, 0, 0) is None


def test_seed_story_side_by_side_shows_the_5_9_bug_and_the_5_10_fix():
    s = Session(load(SCENARIOS / "s390-detached-vf.toml"))
    list(drive(s))
    commands = pc.pci_commands(s)
    assert len(commands) == 10  # the repeated write counts three times
    old, new, rows = pc.compare_profiles(s.scenario, commands)
    assert (old.profile, new.profile) == pc.PROFILES
    (vf_old,), (vf_new,) = old.devices, new.devices
    assert (vf_old.mse, vf_new.mse) == (False, True)
    enable_read = [r for r in rows if r.step == 2 and "CONFIG_READ" in r.left]
    assert enable_read and enable_read[0].differs
    assert "-> 0x0000" in enable_read[0].left and "-> 0x0002" in enable_read[0].right
    restores = [r for r in rows if "BAR_RESTORE" in r.left or "BAR_RESTORE" in r.right]
    assert len(restores) == 2 and all(r.right == "" for r in restores), "5.9 only, aligned"
    assert any("no_command_memory=1" in r.right and r.left == "" for r in rows if r.step == 0)
    assert not any(r.differs for r in rows if r.step == 10), "the last read works on both"


def test_pci_commands_stop_at_the_current_step_and_with_profile_needs_pci():
    s = Session(load(SCENARIOS / "s390-detached-vf.toml"))
    list(drive(s))
    s.seek(3)
    assert len(pc.pci_commands(s)) == 3
    with pytest.raises(ValueError, match="no \\[pci\\]"):
        pc.with_profile(load(SCENARIOS / "demo.toml"), "linux-5.9")


def test_describe_step_reads_like_the_scenario_file():
    step = st.ConfigWriteStep(device="vf", offset=4, size=2, value=6, repeat=3)
    assert pc.describe_step(step) == "config_write device=vf offset=0x4 size=2 value=0x6"
