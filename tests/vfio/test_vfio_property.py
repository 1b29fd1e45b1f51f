"""Property: whatever a user writes through vfio, virtualized fields never reach the
device and every read is the merge (physical & ~virt) | (vconfig & virt), with vconfig's BARs fixed
up first; for devices with the profile's key, the command register's read also ORs in
vconfig's MSE (§3)."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.vfio import PciSystem
from workbench.vfio.pci import PM_CTRL, PM_CTRL_STATE_MASK

COMMAND, MSE = 0x04, 0x2
DEVICES = ("x86-pf", "x86-vf", "s390-linked-vf", "s390-detached-vf")
# Offsets worth hitting: the header, the PM and PCIe capabilities, a gap, the
# start of extended space (SR-IOV on a PF), and anywhere at all.
REGIONS = st.sampled_from([(0x00, 0x40), (0x40, 0x90), (0x90, 0x100), (0x100, 0x140), (0, 0x1000)])


@st.composite
def accesses(draw):
    lo, hi = draw(REGIONS)
    size = draw(st.sampled_from([1, 2, 4]))
    offset = draw(st.integers(lo // size, (hi - size) // size)) * size
    value = draw(
        st.one_of(
            st.integers(0, (1 << (8 * size)) - 1),
            st.sampled_from([0, (1 << (8 * size)) - 1, 0x0006, 0x0002, 0x0400]),
        ).filter(lambda v: v < 1 << (8 * size))
    )
    return offset, size, value


def build(kind, profile):
    platform = "x86" if kind.startswith("x86") else "s390"
    pci = PciSystem(platform=platform, profile=profile)
    if kind == "s390-detached-vf":
        fn = pci.add_detached_vf()
    else:
        pf = pci.add_sriov_pf()
        fn = pf if kind == "x86-pf" else pci.enable_vfs(pf, 2)[1]
    return fn, pci.vfio_open(fn)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(DEVICES),
    profile=st.sampled_from(["linux-5.9", "linux-5.10"]),
    writes=st.lists(accesses(), min_size=1, max_size=25),
)
def test_virtualized_bits_stay_virtual_and_reads_merge(kind, profile, writes):
    fn, dev = build(kind, profile)
    before = bytearray(fn.config.snapshot())
    virt, write = dev.config_map.virt, dev.config_map.write
    for offset, size, value in writes:
        dev.config_write(offset, size, value)
        if fn.pm_pos is not None and offset == fn.pm_pos + PM_CTRL:
            # vfio_pm_config_write: the kernel, not the user, sets the power state bits
            before[offset] = (before[offset] & ~PM_CTRL_STATE_MASK) | (value & PM_CTRL_STATE_MASK)
        after = fn.config.snapshot()
        for i in range(len(before)):
            frozen = ~(write[i] & ~virt[i]) & 0xFF  # bits the user cannot send to the device
            assert after[i] & frozen == before[i] & frozen, f"byte {i:#x} changed under {offset:#x}"
        vconfig = dev.peek_vconfig().copy()  # BARs as vfio_bar_fixup leaves them for the read
        got = dev.config_read(offset, size)
        phys = fn.config_read(offset, size)
        vmask, _ = dev.config_map.masks(offset, size)
        expected = (phys & ~vmask) | (vconfig.read(offset, size) & vmask)
        if offset == COMMAND and dev.mse_key:
            expected |= vconfig.read(COMMAND, 2) & MSE  # vfio_basic_config_read ORs it in
        assert got == expected
