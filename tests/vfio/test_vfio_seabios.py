"""SeaBIOS's PCI enumeration replayed through vfio-pci (spec §3 "At open" and the
command read), against a PF, an x86 VF and an s390 detached VF, on both profiles.

The access sequence is SeaBIOS's pci_bios_get_bar / pci_set_io_region_addr /
pci_bios_init_device: for each BAR and the ROM BAR read the old value, write the
sizing mask (all ones; the ROM BAR gets 0xfffff800), read back, restore (the upper
dword of a 64-bit BAR likewise), then write an address to every BAR that sized
non-zero, then read the command register and write it back with 0x103 set.
"""

import pytest

from workbench.vfio import BarSpec, EventKind, EventRecorder, PciSystem

COMMAND, ROM = 0x04, 0x30
ROM_SIZING = 0xFFFFF800  # PCI_ROM_ADDRESS_MASK
FIRMWARE_CMD = 0x103  # I/O | memory | SERR
HOST = "host"  # the address the host assigned, as the function's own register holds it
SLOTS = (0, 1, 2, 3, 4, 5, "rom")

# (device, slot) -> (read at open, read after sizing). Only a PF and an s390 VF,
# whose BAR registers hold the host's addresses, show them; an SR-IOV VF's own
# BARs read 0, so vconfig shows its flags alone. Unmapped BARs and absent ROMs read 0.
TABLE = {
    ("x86-pf", 0): (HOST, 0xFFFFC004),  # 16 KiB, 64-bit
    ("x86-pf", 1): (HOST, 0xFFFFFFFF),  # its upper dword
    ("x86-pf", 2): (HOST, 0xFFFFF008),  # 4 KiB, 32-bit, prefetchable
    ("x86-pf", 3): (HOST, 0xFFFFFFE1),  # 32 bytes of I/O
    ("x86-pf", 4): (0, 0),
    ("x86-pf", 5): (0, 0),
    ("x86-pf", "rom"): (HOST, 0xFFFF0000),  # 64 KiB ROM
    ("x86-vf", 0): (0x0000000C, 0xFFFFC00C),  # 16 KiB, 64-bit, prefetchable
    ("x86-vf", 1): (0, 0xFFFFFFFF),
    ("x86-vf", 2): (0, 0xFFFFF000),  # 4 KiB, 32-bit: no flags at all
    ("x86-vf", 3): (0, 0),
    ("x86-vf", 4): (0, 0),
    ("x86-vf", 5): (0, 0),
    ("x86-vf", "rom"): (0, 0),
    ("s390-detached-vf", 0): (HOST, 0xFFFFC004),
    ("s390-detached-vf", 1): (HOST, 0xFFFFFFFF),
    ("s390-detached-vf", 2): (HOST, 0xFFFFF000),
    ("s390-detached-vf", 3): (0, 0),
    ("s390-detached-vf", 4): (0, 0),
    ("s390-detached-vf", 5): (0, 0),
    ("s390-detached-vf", "rom"): (0, 0),
}
# (device, profile) -> (command read before the firmware's write, after it).
COMMAND_TABLE = {
    ("x86-pf", "linux-5.9"): (0x0003, 0x0103),  # pci_enable_device set I/O and MSE
    ("x86-pf", "linux-5.10"): (0x0003, 0x0103),
    ("x86-vf", "linux-5.9"): (0x0002, 0x0102),  # the key: vconfig's MSE ORed in
    ("x86-vf", "linux-5.10"): (0x0002, 0x0102),
    ("s390-detached-vf", "linux-5.9"): (0x0000, 0x0100),  # no key: MSE stays 0
    ("s390-detached-vf", "linux-5.10"): (0x0002, 0x0102),
}
DEVICES = ("x86-pf", "x86-vf", "s390-detached-vf")
PROFILES = ("linux-5.9", "linux-5.10")


def open_device(device, profile):
    rec = EventRecorder()
    pci = PciSystem(platform="s390" if device.startswith("s390") else "x86", profile=profile)
    pci.subscribe(rec)
    if device == "x86-pf":
        bars = [BarSpec(0x4000, "mem64"), None, BarSpec(0x1000, "mem32", True), BarSpec(0x20, "io")]
        fn = pci.add_sriov_pf(bars=bars, rom_size=0x10000)
    elif device == "x86-vf":
        vf_bars = [BarSpec(0x4000, "mem64", prefetch=True), None, BarSpec(0x1000, "mem32")]
        fn = pci.enable_vfs(pci.add_sriov_pf(vf_bars=vf_bars), 2)[1]
    else:
        fn = pci.add_detached_vf(bars=[BarSpec(0x4000, "mem64"), None, BarSpec(0x1000, "mem32")])
    return pci, fn, pci.vfio_open(fn), rec


def offset_of(slot):
    return ROM if slot == "rom" else 0x10 + 4 * slot


def host_value(fn, slot):
    """The host-assigned address in the register layout (flags in the low bits)."""
    if slot == "rom":
        return fn.rom.address
    lower = fn.bars[slot - 1] if slot else None
    if lower is not None and lower.spec.is_64:
        return lower.address >> 32
    bar = fn.bars[slot]
    return (bar.address & 0xFFFFFFF0 & ~(bar.size - 1)) | bar.spec.flags


def expected(fn, device, slot):
    at_open, sized = TABLE[device, slot]
    return (host_value(fn, slot) if at_open == HOST else at_open), sized


def size_all(dev):
    """pci_bios_get_bar for every slot: {slot: (old, sized)}, sizes for assignment."""
    seen, sizes = {}, {}
    slots = list(SLOTS)
    while slots:
        slot = slots.pop(0)
        off = offset_of(slot)
        old = dev.config_read(off, 4)
        dev.config_write(off, 4, ROM_SIZING if slot == "rom" else 0xFFFFFFFF)
        val = dev.config_read(off, 4)
        dev.config_write(off, 4, old)
        seen[slot] = (old, val)
        is64 = slot != "rom" and not old & 1 and old & 0x6 == 0x4
        mask = ROM_SIZING if slot == "rom" else (0xFFFFFFFC if old & 1 else 0xFFFFFFF0)
        if is64:
            high_slot = slots.pop(0)
            hold = dev.config_read(off + 4, 4)
            dev.config_write(off + 4, 4, 0xFFFFFFFF)
            high = dev.config_read(off + 4, 4)
            dev.config_write(off + 4, 4, hold)
            seen[high_slot] = (hold, high)
            size = ((1 << 64) - ((high << 32 | val) & (0xFFFFFFFF << 32 | mask))) % (1 << 64)
        else:
            size = ((1 << 32) - (val & mask)) % (1 << 32)
        if size:
            sizes[slot] = (size, is64, old & 1)
    return seen, sizes


def assign(dev, sizes):
    """pci_set_io_region_addr: memory from 0xfe000000, I/O from 0xc000, naturally aligned."""
    mem, io, placed = 0xFE000000, 0xC000, {}
    for slot, (size, is64, is_io) in sizes.items():
        base = io if is_io else mem
        addr = (base + size - 1) & ~(size - 1)
        if is_io:
            io = addr + size
        else:
            mem = addr + size
        dev.config_write(offset_of(slot), 4, addr)
        if is64:
            dev.config_write(offset_of(slot) + 4, 4, 0)
        placed[slot] = addr
    return placed


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("device", DEVICES)
def test_seabios_enumeration_reads_what_the_spec_says(device, profile):
    pci, fn, dev, rec = open_device(device, profile)
    real = {slot: pci.host_config_read(fn, offset_of(slot), 4) for slot in SLOTS}
    rec.clear()

    seen, sizes = size_all(dev)
    for slot in SLOTS:
        assert seen[slot] == expected(fn, device, slot), f"{device} BAR {slot}"

    placed = assign(dev, sizes)
    for slot, addr in placed.items():
        _, is64, is_io = sizes[slot]
        flags = 0 if slot == "rom" else seen[slot][1] & (0x3 if is_io else 0xF)
        got = dev.config_read(offset_of(slot), 4)
        assert got == addr | flags, f"{device} BAR {slot} after assign"
        if is64:
            assert dev.config_read(offset_of(slot) + 4, 4) == 0

    before, after = COMMAND_TABLE[device, profile]
    cmd = dev.config_read(COMMAND, 2)
    dev.config_write(COMMAND, 2, cmd | FIRMWARE_CMD)
    assert (cmd, dev.config_read(COMMAND, 2)) == (before, after)

    assert rec.of_kind(EventKind.BAR_RESTORE) == []
    assert {slot: pci.host_config_read(fn, offset_of(slot), 4) for slot in SLOTS} == real
    assert dev.region_read(0, 0, 4) == fn.bars[0].registers.ident, "memory decodes after it"


@pytest.mark.parametrize("device", DEVICES)
def test_bar_reads_log_the_physical_and_the_virtual_value(device):
    pci, fn, dev, rec = open_device(device, "linux-5.10")
    rec.clear()
    value = dev.config_read(0x10, 4)
    (event,) = rec.of_kind(EventKind.CONFIG_READ)
    assert (event.offset, event.value, event.virt, event.mask) == (0x10, value, value, 0xFFFFFFFF)
    assert event.phys == pci.host_config_read(fn, 0x10, 4)
    assert value == expected(fn, device, 0)[0]
