"""vfio-pci's virtual BARs and ROM BAR, the command read, and the backdoor-reset check
(spec §3: "At open", "Read of the command register", vfio_need_bar_restore)."""

import pytest

from workbench.vfio import EventKind, EventRecorder, PciSystem, RestoreReason

COMMAND, MSE, ROM, ROM_ENABLE = 0x04, 0x2, 0x30, 0x1
SRIOV_CTRL, VF_ENABLE = 0x08, 0x1


def pf_with_rom(profile="linux-5.10", rom_size=0x8000):
    rec = EventRecorder()
    pci = PciSystem(profile=profile, observer=rec)
    pf = pci.add_sriov_pf(rom_size=rom_size)
    return pci, pf, pci.vfio_open(pf), rec


def test_rom_bar_reads_the_host_address_and_sizes_like_hardware():
    pci, pf, dev, _ = pf_with_rom()
    assert pci.host_config_read(pf, ROM, 4) == pf.rom.address, "decoding off, address set"
    assert dev.config_read(ROM, 4) == pf.rom.address
    dev.config_write(ROM, 4, 0xFFFFFFFF)
    assert dev.config_read(ROM, 4) == 0xFFFF8000 | ROM_ENABLE, "size mask; enable kept"
    dev.config_write(ROM, 4, 0xFFFFF800)
    assert dev.config_read(ROM, 4) == 0xFFFF8000
    assert pci.host_config_read(pf, ROM, 4) == pf.rom.address, "the device never sees it"


@pytest.mark.parametrize("rom_size", [0x400, 0x3000, 0x200_0000, True, "0x800"])
def test_a_bad_rom_size_is_refused_and_nothing_is_added(rom_size):
    pci = PciSystem()
    with pytest.raises(ValueError, match="ROM size"):
        pci.add_sriov_pf(rom_size=rom_size)
    assert pci.functions == []


def test_rom_bar_reset_behind_vfio_is_not_compared_but_is_restored_with_the_bars():
    pci, pf, dev, rec = pf_with_rom()
    saved = [pci.host_config_read(pf, off, 4) for off in (0x10, 0x14, ROM)]
    pci.host_config_write(pf, ROM, 4, 0)
    dev.config_write(COMMAND, 2, dev.config_read(COMMAND, 2))
    assert rec.of_kind(EventKind.BAR_RESTORE) == [], "the ROM BAR is not compared"
    pci.host_config_write(pf, 0x14, 4, 0)
    dev.config_write(COMMAND, 2, dev.config_read(COMMAND, 2))
    (restore,) = rec.of_kind(EventKind.BAR_RESTORE)
    assert restore.arg == RestoreReason.BAR_MISMATCH
    assert [pci.host_config_read(pf, off, 4) for off in (0x10, 0x14, ROM)] == saved


def test_a_bar_saved_as_zero_is_not_compared():
    rec = EventRecorder()
    pci = PciSystem(observer=rec)
    pf = pci.add_sriov_pf()
    high = pci.host_config_read(pf, 0x14, 4)
    pci.host_config_write(pf, 0x14, 4, 0)  # the host moved BAR 0 below 4 GiB before open
    dev = pci.vfio_open(pf)
    pci.host_config_write(pf, 0x14, 4, high)
    dev.config_write(COMMAND, 2, dev.config_read(COMMAND, 2))
    assert rec.of_kind(EventKind.BAR_RESTORE) == []
    pci.host_config_write(pf, 0x10, 4, 0xFFFFFFFF)  # the low dword was saved non-zero
    dev.config_write(COMMAND, 2, dev.config_read(COMMAND, 2))
    assert len(rec.of_kind(EventKind.BAR_RESTORE)) == 1


@pytest.mark.parametrize("profile", ["linux-5.9", "linux-5.10"])
def test_command_read_ors_vconfig_mse_into_what_the_device_returns(profile):
    """A VF whose PF dropped VF Enable behind vfio's back answers all ones. The kernel
    ORs vconfig's MSE into that, so MSE reads 1 even though the user cleared it."""
    rec = EventRecorder()
    pci = PciSystem(profile=profile, observer=rec)
    pf = pci.add_sriov_pf()
    dev = pci.vfio_open(pci.enable_vfs(pf, 1)[0])
    dev.config_write(COMMAND, 2, 0)
    assert dev.config_read(COMMAND, 2) & MSE == 0
    ctrl = pf.sriov_pos + SRIOV_CTRL
    pci.host_config_write(pf, ctrl, 2, pci.host_config_read(pf, ctrl, 2) & ~VF_ENABLE)
    rec.clear()
    assert dev.config_read(COMMAND, 2) == 0xFBFF, "INTx Disable from vconfig, the rest ones"
    (event,) = rec.of_kind(EventKind.CONFIG_READ)
    assert (event.phys, event.virt & MSE, event.value) == (0xFFFF, 0, 0xFBFF)
