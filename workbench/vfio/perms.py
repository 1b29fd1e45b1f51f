"""vfio-pci's per-byte permission bits and the map of which table covers which byte.

Each config byte has `virt` (bits served from vconfig, never from the device)
and `write` (bits the user may change). The tables mirror the ones
vfio_pci_init_perm_bits builds in drivers/vfio/pci/vfio_pci_config.c
(init_pci_cap_basic_perm, init_pci_cap_pm_perm, init_pci_cap_exp_perm); a
capability without a table falls back to vfio_direct_config_read (read-only,
only the chain pointers virtual) and bytes outside every capability to the raw
handlers (read and written straight through). vfio_cap_init / vfio_ecap_init
walk the device's lists to lay the tables over config space; build_config_map
does the same walk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from workbench.vfio import config_space as cs
from workbench.vfio.config_space import ConfigSpace
from workbench.vfio.events import Site
from workbench.vfio.pci import (
    CAP_ID_EXP,
    CAP_ID_PM,
    EXP_DEVCTL,
    EXP_DEVCTL2,
    EXP_DEVCTL2_ARI,
    EXP_DEVCTL_FLR,
    EXP_DEVCTL_PAYLOAD,
    EXP_DEVCTL_PHANTOM,
    EXP_DEVCTL_READRQ,
    EXP_FLAGS,
    EXP_SIZEOF_V2,
    PM_CTRL,
    PM_CTRL_STATE_MASK,
    PM_SIZEOF,
)
from workbench.vfio.sriov import EXT_CAP_ID_SRIOV, SRIOV_SIZEOF

NO_VIRT = 0
ALL_VIRT = 0xFFFFFFFF
NO_WRITE = 0
ALL_WRITE = 0xFFFFFFFF

CAP_LIST_NEXT = 1
EXP_SIZEOF_V1_ENDPOINT = 0x14
EXT_CAP_ID_ARI = 0x000E


@dataclass(frozen=True)
class PermBits:
    """One permission table: virt and write bytes for a capability of `len(virt)` bytes."""

    name: str
    virt: bytes
    write: bytes
    site: Site


class _Builder:
    """Zero state is all readable, nothing writable, nothing virtual (alloc_perm_bits)."""

    def __init__(self, size: int) -> None:
        size = (size + 3) & ~3  # rounded to a dword, as alloc_perm_bits does
        self.virt = bytearray(size)
        self.write = bytearray(size)

    def set(self, off: int, size: int, virt: int, write: int) -> _Builder:
        mask = (1 << (8 * size)) - 1
        self.virt[off : off + size] = (virt & mask).to_bytes(size, "little")
        self.write[off : off + size] = (write & mask).to_bytes(size, "little")
        return self

    def build(self, name: str, site: Site = Site.VFIO_DEFAULT_CONFIG) -> PermBits:
        return PermBits(name, bytes(self.virt), bytes(self.write), site)


def init_pci_cap_basic_perm() -> PermBits:
    """The type-0 header (init_pci_cap_basic_perm)."""
    b = _Builder(cs.STD_HEADER_SIZE)
    # Virtual: a VF's own IDs read 0xFFFF, so vfio-pci serves the real ones.
    b.set(cs.VENDOR_ID, 2, ALL_VIRT, NO_WRITE)
    b.set(cs.DEVICE_ID, 2, ALL_VIRT, NO_WRITE)
    # Only INTx Disable is virtual (vfio-pci masks INTx itself); MSE and I/O reach the device.
    b.set(cs.COMMAND, 2, cs.CMD_INTX_DISABLE, ALL_WRITE)
    b.set(cs.STATUS, 2, cs.STATUS_CAP_LIST, NO_WRITE)  # so capabilities can be hidden
    for off in (cs.CACHE_LINE_SIZE, cs.LATENCY_TIMER, cs.BIST):
        b.set(off, 1, NO_VIRT, ALL_WRITE)  # harmless to write through
    for i in range(cs.NUM_BARS):  # the device must never see a user's BAR
        b.set(cs.bar_offset(i), 4, ALL_VIRT, ALL_WRITE)
    b.set(cs.ROM_ADDRESS, 4, ALL_VIRT, ALL_WRITE)
    b.set(cs.CAPABILITY_LIST, 1, ALL_VIRT, NO_WRITE)  # so the chain can be edited
    b.set(cs.INTERRUPT_LINE, 1, ALL_VIRT, ALL_WRITE)  # software scratch
    b.set(cs.INTERRUPT_PIN, 1, ALL_VIRT, NO_WRITE)  # so INTx can be hidden
    return b.build("basic", Site.VFIO_BASIC_CONFIG)


def init_pci_cap_pm_perm() -> PermBits:
    """Power management (init_pci_cap_pm_perm): state bits are changed by vfio-pci, not the user."""
    b = _Builder(PM_SIZEOF)
    b.set(CAP_LIST_NEXT, 1, ALL_VIRT, NO_WRITE)
    b.set(PM_CTRL, 4, NO_VIRT, ~PM_CTRL_STATE_MASK)
    return b.build("pm")


def init_pci_cap_exp_perm() -> PermBits:
    """PCI Express (init_pci_cap_exp_perm): FLR, MPS and MRRS virtual; phantom and ARI locked."""
    b = _Builder(EXP_SIZEOF_V2)
    b.set(CAP_LIST_NEXT, 1, ALL_VIRT, NO_WRITE)
    b.set(
        EXP_DEVCTL,
        2,
        EXP_DEVCTL_FLR | EXP_DEVCTL_PAYLOAD | EXP_DEVCTL_READRQ,
        ~EXP_DEVCTL_PHANTOM,
    )
    b.set(EXP_DEVCTL2, 2, NO_VIRT, ~EXP_DEVCTL2_ARI)
    return b.build("exp")


BASIC_PERMS = init_pci_cap_basic_perm()
CAP_PERMS: dict[int, PermBits] = {CAP_ID_PM: init_pci_cap_pm_perm(),
                                  CAP_ID_EXP: init_pci_cap_exp_perm()}
# Extended capabilities with their own table: none of the modelled ones (AER and
# power budgeting have tables in the kernel but no modelled device carries them).
ECAP_PERMS: dict[int, PermBits] = {}

# pci_cap_length / pci_ext_cap_length: 0 or absent hides the capability; None = variable.
CAP_LENGTHS: dict[int, int | None] = {CAP_ID_PM: PM_SIZEOF, CAP_ID_EXP: None}
ECAP_LENGTHS: dict[int, int] = {EXT_CAP_ID_ARI: 8, EXT_CAP_ID_SRIOV: SRIOV_SIZEOF}


@dataclass(frozen=True)
class CapRegion:
    """A capability that vfio-pci mapped: where, how long, and whose table applies."""

    cap_id: int
    pos: int
    length: int
    extended: bool
    perms: PermBits | None  # None: vfio_direct_config_read, read-only
    hidden: bool = False  # an anchor for the extended list, real ID masked


@dataclass
class ConfigMap:
    """Per-byte masks and handler sites for one device (vdev->pci_config_map + tables)."""

    virt: bytearray
    write: bytearray
    sites: list[Site]
    caps: list[CapRegion]

    def masks(self, offset: int, size: int) -> tuple[int, int]:
        """(virt, write) little-endian masks for the access."""
        return (
            int.from_bytes(self.virt[offset : offset + size], "little"),
            int.from_bytes(self.write[offset : offset + size], "little"),
        )

    def site(self, offset: int) -> Site:
        return self.sites[offset]


def _exp_length(read: ReadFn, pos: int) -> int:
    """vfio_cap_len for PCI Express: v2 and later use the full endpoint layout."""
    version = read(pos + EXP_FLAGS, 2) & 0xF
    return EXP_SIZEOF_V2 if version >= 2 else EXP_SIZEOF_V1_ENDPOINT


ReadFn = Callable[[int, int], int]
# lay(pos, perms, length, header_bytes, site): put a table (or the direct-read default) at pos.
LayFn = Callable[[int, "PermBits | None", int, int, Site], None]


def build_config_map(read: ReadFn, vconfig: ConfigSpace) -> ConfigMap:
    """Walk the device's capability lists as vfio_cap_init/vfio_ecap_init do.

    `read` reads the physical device; `vconfig` (already a copy of it) gets the
    chain edits for hidden capabilities, as the kernel applies them.
    """
    size = cs.CONFIG_SPACE_SIZE
    virt = bytearray(size)
    write = bytearray(b"\xff" * size)  # unassigned bytes: raw read/write
    sites = [Site.VFIO_RAW_CONFIG] * size
    caps: list[CapRegion] = []

    def lay(pos: int, perms: PermBits | None, length: int, header: int, site: Site) -> None:
        for i in range(length):
            if perms is not None and i < len(perms.virt):
                virt[pos + i], write[pos + i] = perms.virt[i], perms.write[i]
            else:
                virt[pos + i] = 0xFF if i < header else 0
                write[pos + i] = 0
            sites[pos + i] = site

    lay(0, BASIC_PERMS, cs.STD_HEADER_SIZE, 0, Site.VFIO_BASIC_CONFIG)
    _walk_caps(read, vconfig, caps, lay)
    _walk_ecaps(read, vconfig, caps, lay)
    return ConfigMap(virt, write, sites, caps)


def _walk_caps(read: ReadFn, vconfig: ConfigSpace, caps: list[CapRegion], lay: LayFn) -> None:
    if not read(cs.STATUS, 2) & cs.STATUS_CAP_LIST:
        return
    prev = cs.CAPABILITY_LIST
    pos = read(cs.CAPABILITY_LIST, 1) & 0xFC
    loops = (cs.LEGACY_CONFIG_SIZE - cs.STD_HEADER_SIZE) // 4
    found = 0
    while pos and loops:
        loops -= 1
        cap_id = read(pos, 1)
        nxt = read(pos + CAP_LIST_NEXT, 1) & 0xFC
        length = CAP_LENGTHS.get(cap_id, 0)
        if length is None:
            length = _exp_length(read, pos)
        if not length or pos + length > cs.LEGACY_CONFIG_SIZE:
            vconfig.write(prev, 1, nxt)  # hide it: the user's chain skips over it
            pos = nxt
            continue
        perms = CAP_PERMS.get(cap_id)
        site = Site.VFIO_DEFAULT_CONFIG if perms else Site.VFIO_DIRECT_CONFIG
        lay(pos, perms, length, 2, site)
        caps.append(CapRegion(cap_id, pos, length, False, perms))
        prev = pos + CAP_LIST_NEXT
        pos = nxt
        found += 1
    if not found:
        vconfig.write(cs.STATUS, 2, vconfig.read(cs.STATUS, 2) & ~cs.STATUS_CAP_LIST)


def _walk_ecaps(read: ReadFn, vconfig: ConfigSpace, caps: list[CapRegion], lay: LayFn) -> None:
    epos = cs.LEGACY_CONFIG_SIZE
    prev: int | None = None
    loops = (cs.CONFIG_SPACE_SIZE - cs.LEGACY_CONFIG_SIZE) // 4
    found = 0
    while loops and epos >= cs.LEGACY_CONFIG_SIZE:
        loops -= 1
        header = read(epos, 4)
        ecap = header & 0xFFFF
        nxt = (header >> 20) & 0xFFC
        length = ECAP_LENGTHS.get(ecap, 0)
        hidden = False
        if not length:
            if prev is not None:  # skip it by editing the previous next pointer
                vconfig.write(prev, 4, (vconfig.read(prev, 4) & 0x000FFFFF) | nxt << 20)
                epos = nxt
                continue
            length, hidden = 4, True  # keep 0x100 as an anchor with the ID masked
        perms = None if hidden else ECAP_PERMS.get(ecap)
        site = Site.VFIO_DEFAULT_CONFIG if perms else Site.VFIO_DIRECT_CONFIG
        lay(epos, perms, length, 4, site)
        caps.append(CapRegion(ecap, epos, length, True, perms, hidden))
        if hidden:
            vconfig.write(epos, 4, vconfig.read(epos, 4) & 0xFFC << 20)
        else:
            found += 1
        prev = epos
        epos = nxt
    if not found:
        vconfig.write(cs.LEGACY_CONFIG_SIZE, 4, 0)
