"""SR-IOV: VF creation through the PF's capability, gating by VF Enable / VF MSE, PCI core flags."""

import errno

import pytest

from workbench.vfio import BarSpec, EventKind, EventRecorder, PciFlag, PciSystem, Site
from workbench.vfio.sriov import CTRL_MSE, CTRL_VFE, SRIOV_CTRL, SRIOV_NUM_VF

ALL_ONES = 0xFFFFFFFF


def test_enable_vfs_programs_the_capability_and_places_vfs_by_offset_and_stride():
    rec = EventRecorder()
    pci = PciSystem(platform="x86", profile="linux-5.10", observer=rec)
    pf = pci.add_sriov_pf(total_vfs=8, first_vf_offset=0x80, vf_stride=2)
    vfs = pci.enable_vfs(pf, 3)
    assert [str(vf.address) for vf in vfs] == ["0000:01:10.0", "0000:01:10.2", "0000:01:10.4"]
    ctrl = pci.host_config_read(pf, pf.sriov_pos + SRIOV_CTRL, 2)
    assert ctrl & (CTRL_VFE | CTRL_MSE) == CTRL_VFE | CTRL_MSE
    assert pci.host_config_read(pf, pf.sriov_pos + SRIOV_NUM_VF, 2) == 3
    (control,) = rec.of_kind(EventKind.SRIOV_CONTROL)
    assert (control.phys, control.value, control.arg) == (0, CTRL_VFE | CTRL_MSE, 3)
    assert control.site == Site.SRIOV_ENABLE


def test_vf_config_space_reads_as_the_sriov_spec_says():
    pci = PciSystem(platform="x86")
    pf = pci.add_sriov_pf(vendor_id=0x8086, vf_device_id=0x154C)
    vf = pci.enable_vfs(pf, 1)[0]
    assert pci.host_config_read(vf, 0x00, 4) == ALL_ONES  # vendor and device 0xFFFF
    pci.host_config_write(vf, 0x04, 2, 0x0007)
    assert pci.host_config_read(vf, 0x04, 2) == 0x0004, "MSE and I/O are hardwired 0"
    assert pci.host_config_read(vf, 0x10, 4) == 0 and pci.host_config_read(vf, 0x14, 4) == 0
    assert (vf.vendor, vf.device) == (0x8086, 0x154C), "the PCI core knows the real IDs"
    dev = pci.vfio_open(vf)
    assert dev.config_read(0x00, 2) == 0x8086 and dev.config_read(0x02, 2) == 0x154C


def test_vf_bars_come_from_the_pfs_vf_bars():
    pci = PciSystem(platform="x86")
    pf = pci.add_sriov_pf()
    vf0, vf1 = pci.enable_vfs(pf, 2)
    base = pf.vf_bar_address(0, 0)
    assert vf0.bars[0].address == base and vf1.bars[0].address == base + 0x4000
    lo = pci.host_config_read(pf, pf.sriov_pos + 0x24, 4)
    hi = pci.host_config_read(pf, pf.sriov_pos + 0x28, 4)
    assert (hi << 32 | lo) & ~0xF == base
    dev = pci.vfio_open(vf1)
    # vconfig copies the VF's own BAR registers (which read 0): the user sees only the
    # flags of a 64-bit BAR until it writes an address; the resource is still VF 1's slice.
    assert (dev.config_read(0x10, 4), dev.config_read(0x14, 4)) == (0x4, 0)
    assert dev.region_read(0, 0, 4) == vf1.bars[0].registers.ident


def test_vf_memory_is_gated_by_the_pfs_vf_mse_and_vf_enable():
    pci = PciSystem(platform="x86", profile="linux-5.10")
    pf = pci.add_sriov_pf()
    vf = pci.enable_vfs(pf, 1)[0]
    dev = pci.vfio_open(vf)
    ident = vf.bars[0].registers.ident
    assert dev.region_read(0, 0, 4) == ident
    ctrl_off = pf.sriov_pos + SRIOV_CTRL
    pci.host_config_write(pf, ctrl_off, 2, CTRL_VFE)  # VF MSE off behind everyone's back
    assert dev.region_read(0, 0, 4) == ALL_ONES, "no decode: master abort reads all ones"
    dev.region_write(0, 0x10, 4, 0x1234)
    pci.host_config_write(pf, ctrl_off, 2, CTRL_VFE | CTRL_MSE)
    assert dev.region_read(0, 0x10, 4) == 0, "the write while not decoding was dropped"
    pci.host_config_write(pf, ctrl_off, 2, 0)
    assert pci.host_config_read(vf, 0x04, 2) == 0xFFFF, "a disabled VF does not answer"


def test_numvfs_is_read_only_while_vf_enable_is_set():
    pci = PciSystem()
    pf = pci.add_sriov_pf()
    pci.enable_vfs(pf, 2)
    pci.host_config_write(pf, pf.sriov_pos + SRIOV_NUM_VF, 2, 5)
    assert pf.num_vfs == 2


def test_enable_vfs_errors():
    pci = PciSystem()
    pf = pci.add_sriov_pf(total_vfs=4)
    with pytest.raises(OSError) as exc:
        pci.enable_vfs(pf, 5)
    assert exc.value.errno == errno.ERANGE
    pci.enable_vfs(pf, 2)
    with pytest.raises(OSError) as exc:
        pci.enable_vfs(pf, 3)
    assert exc.value.errno == errno.EBUSY
    with pytest.raises(ValueError, match="PF"):
        pci.enable_vfs(pf.vfs[0], 1)
    with pytest.raises(ValueError, match="int"):
        pci.enable_vfs(pf, "2")


def test_disable_vfs_refuses_while_a_vf_is_open_then_removes_them():
    rec = EventRecorder()
    pci = PciSystem(observer=rec)
    pf = pci.add_sriov_pf()
    vf0, vf1 = pci.enable_vfs(pf, 2)
    dev = pci.vfio_open(vf1)
    with pytest.raises(OSError) as exc:
        pci.disable_vfs(pf)
    assert exc.value.errno == errno.EBUSY and vf1 in pci.functions
    dev.close()
    pci.disable_vfs(pf)
    assert pci.functions == [pf] and pf.num_vfs == 0 and not pf.control & CTRL_VFE
    removed = [e.device for e in rec.of_kind(EventKind.DEVICE_REMOVE)]
    assert removed == [str(vf1.address), str(vf0.address)]
    with pytest.raises(OSError) as exc:
        dev.config_read(0, 4)
    assert exc.value.errno == errno.EBADF


# §2 of the spec: (platform, device) -> is_virtfn, physfn is the PF, no_command_memory (5.10)
FLAG_TABLE = [
    ("x86", "pf", False, False, False),
    ("x86", "vf", True, True, True),
    ("s390", "vf", True, True, True),
    ("s390", "detached", False, False, True),
]


@pytest.mark.parametrize("profile", ["linux-5.9", "linux-5.10"])
@pytest.mark.parametrize(("platform", "device", "virtfn", "linked", "ncm"), FLAG_TABLE)
def test_pci_core_flags(platform, device, virtfn, linked, ncm, profile):
    pci = PciSystem(platform=platform, profile=profile)
    pf = pci.add_sriov_pf()
    if device == "pf":
        fn = pf
    elif device == "vf":
        fn = pci.enable_vfs(pf, 1)[0]
    else:
        fn = pci.add_detached_vf()
    assert fn.is_virtfn is virtfn
    assert fn.physfn is (pf if linked else None)
    assert fn.no_command_memory is (ncm and profile == "linux-5.10")


@pytest.mark.parametrize(
    ("platform", "profile", "expected"),
    [
        (
            "x86",
            "linux-5.10",
            [
                (PciFlag.IS_VIRTFN, Site.PCI_IOV_ADD_VIRTFN),
                (PciFlag.PHYSFN, Site.PCI_IOV_ADD_VIRTFN),
                (PciFlag.NO_COMMAND_MEMORY, Site.PCI_IOV_ADD_VIRTFN),
            ],
        ),
        (
            "x86",
            "linux-5.9",
            [
                (PciFlag.IS_VIRTFN, Site.PCI_IOV_ADD_VIRTFN),
                (PciFlag.PHYSFN, Site.PCI_IOV_ADD_VIRTFN),
            ],
        ),
        (
            "s390",
            "linux-5.10",
            [
                (PciFlag.IS_VIRTFN, Site.ZPCI_IOV_SETUP_VIRTFN),
                (PciFlag.PHYSFN, Site.ZPCI_IOV_SETUP_VIRTFN),
                (PciFlag.NO_COMMAND_MEMORY, Site.PCIBIOS_BUS_ADD_DEVICE),
            ],
        ),
        (
            "s390",
            "linux-5.9",
            [
                (PciFlag.IS_VIRTFN, Site.ZPCI_BUS_SETUP_VIRTFN),
                (PciFlag.PHYSFN, Site.ZPCI_BUS_SETUP_VIRTFN),
            ],
        ),
    ],
)
def test_flag_changes_are_events_at_the_kernels_site(platform, profile, expected):
    rec = EventRecorder()
    pci = PciSystem(platform=platform, profile=profile, observer=rec)
    pf = pci.add_sriov_pf()
    pci.enable_vfs(pf, 1)
    flags = [(PciFlag(e.arg), e.site) for e in rec.of_kind(EventKind.FLAG_CHANGE)]
    assert flags == expected
    physfn = [e for e in rec.of_kind(EventKind.FLAG_CHANGE) if e.arg == PciFlag.PHYSFN]
    assert physfn[0].value == pf.dev_id


def test_s390_vf_is_emulated_by_firmware():
    pci = PciSystem(platform="s390", profile="linux-5.9")
    vf = pci.add_detached_vf(vendor_id=0x15B3, device_id=0x101E, vfn=3)
    assert str(vf.address) == "0000:00:00.0"
    assert pci.host_config_read(vf, 0x00, 4) == 0x101E15B3, "IDs emulated"
    assert pci.host_config_read(vf, 0x10, 4) & ~0xF == vf.bars[0].address & 0xFFFFFFFF
    pci.host_config_write(vf, 0x04, 2, 0x0002)
    assert pci.host_config_read(vf, 0x04, 2) == 0, "MSE still hardwired 0"
    assert vf.mmio_read(0, 0, 4) == vf.bars[0].registers.ident, "memory decodes anyway"
    assert vf.vfn == 3


def test_detached_vf_only_on_s390_and_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="only on s390"):
        PciSystem(platform="x86").add_detached_vf()
    with pytest.raises(ValueError, match="unknown platform"):
        PciSystem(platform="arm")
    with pytest.raises(ValueError, match="unknown vfio profile"):
        PciSystem(profile="linux-4.19")
    with pytest.raises(TypeError, match="callable"):
        PciSystem(observer=5)
    with pytest.raises(ValueError, match="total_vfs"):
        PciSystem().add_sriov_pf(total_vfs=0)
    with pytest.raises(ValueError, match="power of two"):
        PciSystem().add_sriov_pf(bars=[BarSpec(3000)])
