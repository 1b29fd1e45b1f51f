"""vfio-pci's user view: BAR sizing, bad accesses, region gating, mmaps, events."""

import errno

import pytest

from workbench.vfio import (
    BarSpec,
    EventKind,
    EventRecorder,
    MmapFault,
    PciSystem,
    RegionFlags,
    RestoreReason,
    Site,
)

COMMAND, MSE = 0x04, 0x2


def pf_device(platform="x86", profile="linux-5.10", **kwargs):
    rec = EventRecorder()
    pci = PciSystem(platform=platform, profile=profile, observer=rec)
    pf = pci.add_sriov_pf(**kwargs)
    return pci, pf, pci.vfio_open(pf), rec


def test_bar_sizing_is_emulated_and_never_reaches_the_device():
    bars = [
        BarSpec(0x4000, "mem64"),
        None,
        BarSpec(0x1000, "mem32", prefetch=True),
        BarSpec(0x20, "io"),
    ]
    pci, pf, dev, _ = pf_device(bars=bars)
    real = [pci.host_config_read(pf, 0x10 + 4 * i, 4) for i in range(6)]
    for off in (0x10, 0x14, 0x18, 0x1C, 0x20):
        dev.config_write(off, 4, 0xFFFFFFFF)
    assert dev.config_read(0x10, 4) == 0xFFFFC004, "16 KiB, 64-bit"
    assert dev.config_read(0x14, 4) == 0xFFFFFFFF, "upper half of a 64-bit BAR"
    assert dev.config_read(0x18, 4) == 0xFFFFF008, "4 KiB, 32-bit, prefetchable"
    assert dev.config_read(0x1C, 4) == 0xFFFFFFE1, "32 bytes of I/O"
    assert dev.config_read(0x20, 4) == 0, "no BAR 4: reads 0 whatever is written"
    assert [pci.host_config_read(pf, 0x10 + 4 * i, 4) for i in range(6)] == real
    dev.config_write(0x10, 4, pf.bars[0].address & 0xFFFFFFFF)
    assert dev.config_read(0x10, 4) == (pf.bars[0].address & 0xFFFFFFF0) | 0x4


def test_hardware_bar_sizing_on_the_host_side():
    pci = PciSystem()
    pf = pci.add_sriov_pf()
    saved = pci.host_config_read(pf, 0x10, 4)
    pci.host_config_write(pf, 0x10, 4, 0xFFFFFFFF)
    assert pci.host_config_read(pf, 0x10, 4) == 0xFFFFC004
    pci.host_config_write(pf, 0x10, 4, saved)
    assert pci.host_config_read(pf, 0x10, 4) == saved


@pytest.mark.parametrize(
    ("offset", "size"),
    [
        (0x01, 2),
        (0x02, 4),
        (0x03, 2),
        (0x00, 3),
        (0x00, 8),
        (0x1000, 1),
        (0xFFE, 4),
        (-4, 4),
        ("4", 2),
    ],
)
def test_bad_config_access_is_einval(offset, size):
    _, _, dev, _ = pf_device()
    with pytest.raises(OSError) as read_exc:
        dev.config_read(offset, size)
    assert read_exc.value.errno == errno.EINVAL
    with pytest.raises(OSError) as write_exc:
        dev.config_write(offset, size, 0)
    assert write_exc.value.errno == errno.EINVAL


def test_bad_values_and_bad_region_access_are_einval():
    _, _, dev, _ = pf_device()
    for call in (
        lambda: dev.config_write(0x3C, 1, 0x100),
        lambda: dev.config_write(0x3C, 1, -1),
        lambda: dev.region_read(1, 0, 4),  # upper half of the 64-bit BAR 0: no BAR
        lambda: dev.region_read(6, 0, 4),
        lambda: dev.region_read(0, 0x4000, 4),
        lambda: dev.region_read(0, 2, 4),
        lambda: dev.region_read(0, 0, 3),
        lambda: dev.region_write(0, 0, 4, 1 << 32),
        lambda: dev.mmap_write(0, 0, 2, 0x10000),
    ):
        with pytest.raises(OSError) as exc:
            call()
        assert exc.value.errno == errno.EINVAL


def test_region_access_fails_with_eio_while_memory_is_disabled_but_io_bars_are_not_gated():
    bars = [BarSpec(0x4000, "mem64"), None, BarSpec(0x20, "io")]
    _, pf, dev, rec = pf_device(bars=bars)
    dev.region_write(0, 0x40, 4, 0xABCD)
    dev.config_write(COMMAND, 2, dev.config_read(COMMAND, 2) & ~MSE)
    with pytest.raises(OSError) as exc:
        dev.region_read(0, 0x40, 4)
    assert exc.value.errno == errno.EIO
    with pytest.raises(OSError):
        dev.region_write(0, 0x40, 4, 1)
    dev.region_write(2, 4, 4, 0x55)
    assert dev.region_read(2, 4, 4) == 0x55
    blocked = rec.of_kind(EventKind.REGION_BLOCKED)
    assert [(e.bar, e.offset, e.errno, e.arg) for e in blocked] == [
        (0, 0x40, errno.EIO, 0),
        (0, 0x40, errno.EIO, 1),
    ]
    dev.config_write(COMMAND, 2, dev.config_read(COMMAND, 2) | MSE)
    assert dev.region_read(0, 0x40, 4) == 0xABCD


def test_mmap_zap_fault_and_remap():
    _, _, dev, rec = pf_device()
    assert dev.region_info(0).flags & RegionFlags.MMAP
    dev.mmap_write(0, 0x8, 8, 0x1122334455667788)
    assert dev.mapped_bars == {0}
    dev.config_write(COMMAND, 2, dev.config_read(COMMAND, 2) & ~MSE)
    assert dev.mapped_bars == set()
    with pytest.raises(MmapFault) as exc:
        dev.mmap_read(0, 0x8, 8)
    assert exc.value.bar == 0 and "SIGBUS" in str(exc.value)
    dev.config_write(COMMAND, 2, dev.config_read(COMMAND, 2) | MSE)
    assert dev.mmap_read(0, 0x8, 8) == 0x1122334455667788
    kinds = [
        e.kind
        for e in rec
        if e.kind in (EventKind.MMAP_REMAP, EventKind.MMAP_ZAP, EventKind.MMAP_FAULT)
    ]
    assert kinds == [
        EventKind.MMAP_REMAP,
        EventKind.MMAP_ZAP,
        EventKind.MMAP_FAULT,
        EventKind.MMAP_REMAP,
    ]


@pytest.mark.parametrize("profile", ["linux-5.9", "linux-5.10"])
def test_s390_has_no_mmap(profile):
    pci = PciSystem(platform="s390", profile=profile)
    for fn in (pci.add_sriov_pf(), pci.add_detached_vf()):
        dev = pci.vfio_open(fn)
        assert not dev.region_info(0).flags & RegionFlags.MMAP
        assert dev.region_info(0).flags & RegionFlags.READ
        for call in (lambda d=dev: d.mmap_read(0, 0, 4), lambda d=dev: d.mmap_write(0, 0, 4, 1)):
            with pytest.raises(OSError) as exc:
                call()
            assert exc.value.errno == errno.EINVAL and "s390" in str(exc.value)


def test_config_events_carry_user_physical_and_virtual_values():
    pci, pf, dev, rec = pf_device()
    rec.clear()
    dev.config_write(0x3C, 1, 0x0B)  # interrupt line: virtual
    dev.config_write(0x0C, 1, 0x10)  # cache line size: written through
    assert dev.config_read(0x3C, 1) == 0x0B and pci.host_config_read(pf, 0x3C, 1) == 0
    assert pci.host_config_read(pf, 0x0C, 1) == 0x10
    line_w, cls_w, line_r = list(rec)
    assert (line_w.kind, line_w.value, line_w.phys, line_w.virt, line_w.mask) == (
        EventKind.CONFIG_WRITE,
        0x0B,
        0,
        0x0B,
        0xFF,
    )
    assert (cls_w.phys, cls_w.mask, cls_w.site) == (0x10, 0, Site.VFIO_BASIC_CONFIG)
    assert (line_r.kind, line_r.value, line_r.offset, line_r.size) == (
        EventKind.CONFIG_READ,
        0x0B,
        0x3C,
        1,
    )
    assert line_r.seq == line_w.seq + 2
    assert "CONFIG_READ" in line_r.format() and "off=0x03c" in line_r.format()


def test_backdoor_bar_reset_is_detected_and_restored():
    pci, pf, dev, rec = pf_device()
    saved = [pci.host_config_read(pf, off, 4) for off in (0x10, 0x14)]
    assert saved[1], "BAR 0 sits above 4 GiB"
    pci.host_config_write(pf, 0x14, 4, 0)  # something reset the BAR behind vfio-pci
    dev.config_write(COMMAND, 2, dev.config_read(COMMAND, 2))
    (restore,) = rec.of_kind(EventKind.BAR_RESTORE)
    assert restore.arg == RestoreReason.BAR_MISMATCH
    assert [pci.host_config_read(pf, off, 4) for off in (0x10, 0x14)] == saved
    assert "restoring BARs" in restore.format()


def test_backdoor_reset_of_a_vf_is_not_restored():
    pci = PciSystem(profile="linux-5.9")
    rec = EventRecorder()
    pci.subscribe(rec)
    pf = pci.add_sriov_pf()
    dev = pci.vfio_open(pci.enable_vfs(pf, 1)[0])
    # 5.9: MSE=1 with virtual MSE set and physical MSE 0 looks like a reset...
    dev.config_write(COMMAND, 2, MSE)
    # ...but vfio_bar_restore returns early for is_virtfn.
    assert rec.of_kind(EventKind.BAR_RESTORE) == []


def test_double_open_and_unsubscribe():
    rec = EventRecorder(maxlen=3)
    pci = PciSystem()
    unsubscribe = pci.subscribe(rec)
    pf = pci.add_sriov_pf()
    pci.vfio_open(pf)
    with pytest.raises(OSError) as exc:
        pci.vfio_open(pf)
    assert exc.value.errno == errno.EBUSY
    assert len(rec) == 3, "a bounded recorder keeps only the last events"
    unsubscribe()
    pci.add_sriov_pf()
    assert rec.of_kind(EventKind.DEVICE_ADD)[-1].device == str(pf.address)
