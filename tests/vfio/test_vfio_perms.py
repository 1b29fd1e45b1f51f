"""Permission tables and the config map laid over a device (init_pci_cap_*_perm, vfio_cap_init)."""

import pytest

from workbench.vfio import PciSystem, Site
from workbench.vfio.pci import CAP_ID_EXP, CAP_ID_PM
from workbench.vfio.perms import BASIC_PERMS, CAP_PERMS, build_config_map
from workbench.vfio.sriov import SRIOV_CTRL


def word(table, off, size=2):
    return int.from_bytes(table[off : off + size], "little")


@pytest.mark.parametrize(
    ("offset", "size", "virt", "write"),
    [
        (0x00, 2, 0xFFFF, 0),  # vendor ID
        (0x02, 2, 0xFFFF, 0),  # device ID
        (0x04, 2, 0x0400, 0xFFFF),  # command: only INTx Disable virtual, MSE goes to the device
        (0x06, 2, 0x0010, 0),  # status: capability-list bit virtual
        (0x08, 4, 0, 0),  # revision and class: straight from the device
        (0x0C, 1, 0, 0xFF),  # cache line size
        (0x0D, 1, 0, 0xFF),  # latency timer
        (0x0E, 1, 0, 0),  # header type
        (0x0F, 1, 0, 0xFF),  # BIST
        (0x10, 4, 0xFFFFFFFF, 0xFFFFFFFF),
        (0x24, 4, 0xFFFFFFFF, 0xFFFFFFFF),  # BAR 5
        (0x2C, 4, 0, 0),  # subsystem IDs
        (0x30, 4, 0xFFFFFFFF, 0xFFFFFFFF),  # ROM BAR
        (0x34, 1, 0xFF, 0),  # capability pointer
        (0x3C, 1, 0xFF, 0xFF),  # interrupt line
        (0x3D, 1, 0xFF, 0),  # interrupt pin
    ],
)
def test_basic_header_permissions(offset, size, virt, write):
    assert word(BASIC_PERMS.virt, offset, size) == virt
    assert word(BASIC_PERMS.write, offset, size) == write


def test_capability_tables():
    pm, exp = CAP_PERMS[CAP_ID_PM], CAP_PERMS[CAP_ID_EXP]
    assert pm.virt[1] == 0xFF and pm.write[1] == 0, "next pointer virtual"
    assert word(pm.write, 4) & 0x3 == 0, "power state is vfio-pci's to change"
    assert word(exp.virt, 8) == 0xF0E0, "FLR, MPS and MRRS virtual"
    assert word(exp.write, 8) & 0x0200 == 0, "phantom functions locked"
    assert word(exp.write, 0x28) & 0x0020 == 0, "ARI forwarding locked"


def test_config_map_of_a_pf():
    pci = PciSystem()
    pf = pci.add_sriov_pf()
    dev = pci.vfio_open(pf)
    caps = [(c.cap_id, c.pos, c.length, c.extended) for c in dev.config_map.caps]
    assert caps == [(0x01, 0x40, 8, False), (0x10, 0x50, 0x3C, False), (0x10, 0x100, 0x40, True)]
    m = dev.config_map
    assert m.site(0x04) == Site.VFIO_BASIC_CONFIG
    assert m.site(0x50 + 8) == Site.VFIO_DEFAULT_CONFIG
    assert m.site(0x100 + SRIOV_CTRL) == Site.VFIO_DIRECT_CONFIG
    assert m.masks(0x100, 4) == (0xFFFFFFFF, 0), "extended header virtual for chain edits"
    assert m.masks(0x100 + SRIOV_CTRL, 2) == (0, 0), "SR-IOV: read-only, not virtualized"
    assert m.site(0x90) == Site.VFIO_RAW_CONFIG and m.masks(0x90, 4) == (0, 0xFFFFFFFF)


def test_the_users_sriov_writes_are_dropped():
    pci = PciSystem()
    pf = pci.add_sriov_pf()
    dev = pci.vfio_open(pf)
    dev.config_write(0x100 + SRIOV_CTRL, 2, 0x0009)
    assert pf.control == 0 and pf.vfs == []
    assert dev.config_read(0x100 + SRIOV_CTRL, 2) == 0


def test_virtual_flr_reads_back_zero_and_mrrs_stays_virtual():
    pci = PciSystem()
    pf = pci.add_sriov_pf()
    dev = pci.vfio_open(pf)
    devctl = 0x50 + 8
    phys = pci.host_config_read(pf, devctl, 2)
    dev.config_write(devctl, 2, 0x8000 | 0x5000 | 0x0010)
    value = dev.config_read(devctl, 2)
    assert value & 0x8000 == 0
    assert value & 0x7000 == 0x5000
    assert pci.host_config_read(pf, devctl, 2) & 0x7000 == phys & 0x7000


def test_a_vf_without_extended_capabilities_shows_an_empty_list():
    pci = PciSystem()
    vf = pci.enable_vfs(pci.add_sriov_pf(), 1)[0]
    dev = pci.vfio_open(vf)
    assert dev.config_read(0x100, 4) == 0
    assert [c.cap_id for c in dev.config_map.caps] == [0x10, 0x0]
    assert dev.config_map.caps[-1].hidden


def test_unknown_capabilities_are_hidden_from_the_chain():
    pci = PciSystem()
    pf = pci.add_sriov_pf()
    # Turn the PM capability (first in the chain) into an unknown one.
    pf.config.write(0x40, 1, 0x0C)
    dev = pci.vfio_open(pf)
    assert dev.config_read(0x34, 1) == 0x50, "the user's chain skips the hidden capability"
    assert [c.pos for c in dev.config_map.caps if not c.extended] == [0x50]
    vconfig = dev.vconfig.copy()
    again = build_config_map(pf.config_read, vconfig)
    assert [c.cap_id for c in again.caps] == [c.cap_id for c in dev.config_map.caps]
