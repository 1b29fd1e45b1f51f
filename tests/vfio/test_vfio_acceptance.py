"""The spec's §4 before/after table, one test per cell (vfio-pci.md)."""

import errno

import pytest

from workbench.vfio import EventKind, EventRecorder, PciSystem

MSE, MASTER = 0x2, 0x4
COMMAND = 0x04

DEVICES = ("x86-pf", "x86-vf", "s390-linked-vf", "s390-detached-vf")
PROFILES = ("linux-5.9", "linux-5.10")

# (device, profile) -> column values, copied from the spec's table.
TABLE = {
    ("x86-pf", "linux-5.9"): (1, 1, "works", "EIO", "no"),
    ("x86-pf", "linux-5.10"): (1, 1, "works", "EIO", "no"),
    ("x86-vf", "linux-5.9"): (1, 1, "works", "works", "no"),
    ("x86-vf", "linux-5.10"): (1, 1, "works", "works", "no"),
    ("s390-linked-vf", "linux-5.9"): (1, 1, "works", "works", "no"),
    ("s390-linked-vf", "linux-5.10"): (1, 1, "works", "works", "no"),
    ("s390-detached-vf", "linux-5.9"): (0, 0, "EIO", "EIO", "every"),
    ("s390-detached-vf", "linux-5.10"): (1, 1, "works", "works", "no"),
}
COLUMNS = (
    "vconfig_mse_at_open",
    "mse_read_after_enable",
    "mmio_after_bus_master",
    "mmio_after_user_clears_mse",
    "bar_restore_on_repeated_mse_write",
)
CELLS = [(d, p, c) for d in DEVICES for p in PROFILES for c in COLUMNS]


def open_device(kind, profile):
    rec = EventRecorder()
    platform = "x86" if kind.startswith("x86") else "s390"
    pci = PciSystem(platform=platform, profile=profile, observer=rec)
    if kind == "s390-detached-vf":
        fn = pci.add_detached_vf()
    else:
        pf = pci.add_sriov_pf()
        fn = pf if kind == "x86-pf" else pci.enable_vfs(pf, 2)[0]
    return pci.vfio_open(fn), rec


def rmw(dev, set_bits=0, clear_bits=0):
    """A guest driver's read-modify-write of the command register."""
    dev.config_write(COMMAND, 2, (dev.config_read(COMMAND, 2) | set_bits) & ~clear_bits)


def mmio(dev):
    """'works' when BAR 0's identification register answers, else the errno name."""
    try:
        value = dev.region_read(0, 0, 4)
    except OSError as exc:
        return errno.errorcode[exc.errno]
    assert value == dev.function.bars[0].registers.ident, "the device itself must answer"
    return "works"


@pytest.mark.parametrize(("device", "profile", "column"), CELLS)
def test_cell(device, profile, column):
    expected = TABLE[device, profile][COLUMNS.index(column)]
    dev, rec = open_device(device, profile)
    if column == "vconfig_mse_at_open":
        (opened,) = rec.of_kind(EventKind.VFIO_OPEN)
        assert (opened.virt & MSE) >> 1 == expected
        return
    rmw(dev, set_bits=MSE)  # pci_enable_device
    if column == "mse_read_after_enable":
        assert (dev.config_read(COMMAND, 2) & MSE) >> 1 == expected
        return
    rmw(dev, set_bits=MASTER)  # pci_set_master
    if column == "mmio_after_bus_master":
        assert mmio(dev) == expected
        return
    if column == "mmio_after_user_clears_mse":
        rmw(dev, clear_bits=MSE)
        assert mmio(dev) == expected
        return
    # Repeated MSE=1 writes: the first may only re-set the virtual MSE; each later
    # one is "a repeated MSE=1 write".
    dev.config_write(COMMAND, 2, MSE | MASTER)
    restores = []
    for _ in range(3):
        before = len(rec.of_kind(EventKind.BAR_RESTORE))
        dev.config_write(COMMAND, 2, MSE | MASTER)
        restores.append(len(rec.of_kind(EventKind.BAR_RESTORE)) - before)
    assert restores == ([1, 1, 1] if expected == "every" else [0, 0, 0])
