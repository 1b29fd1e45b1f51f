"""SR-IOV: the PF's capability, the VFs it creates, and how VF Enable / VF MSE gate them.

A VF's own config space is mostly empty by design (PCIe SR-IOV spec 3.4.1): its
ID registers read 0xFFFF, command MSE is hardwired 0 and its BARs read 0, because
the PF's SR-IOV capability owns all of that. Two kinds of VF differ in who
answers for them: on x86 the silicon (VirtualFunction); on s390 the zPCI
firmware, which emulates IDs and BARs but still not MSE (FirmwareVirtualFunction).
Creation follows sriov_enable and pci_iov_add_virtfn in drivers/pci/iov.c; on s390
the VFs arrive as zPCI functions and pcibios_bus_add_device links them.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING

from workbench.vfio import config_space as cs
from workbench.vfio.events import Site
from workbench.vfio.pci import (
    Bar,
    BarSpec,
    FunctionKind,
    PciAddress,
    PciFunction,
    RegisterFile,
)

if TYPE_CHECKING:
    from workbench.vfio.system import PciSystem

EXT_CAP_ID_SRIOV = 0x0010
SRIOV_SIZEOF = 0x40
SRIOV_CTRL = 0x08
SRIOV_STATUS = 0x0A
SRIOV_INITIAL_VF = 0x0C
SRIOV_TOTAL_VF = 0x0E
SRIOV_NUM_VF = 0x10
SRIOV_VF_OFFSET = 0x14
SRIOV_VF_STRIDE = 0x16
SRIOV_VF_DID = 0x1A
SRIOV_SUP_PGSIZE = 0x1C
SRIOV_SYS_PGSIZE = 0x20
SRIOV_BAR = 0x24

CTRL_VFE = 0x0001
CTRL_VF_MIGRATION = 0x0002
CTRL_VF_INTR = 0x0004
CTRL_MSE = 0x0008
CTRL_ARI = 0x0010
CTRL_WRITABLE = CTRL_VFE | CTRL_VF_MIGRATION | CTRL_VF_INTR | CTRL_MSE | CTRL_ARI

# Writable VF command bits: a VF implements neither I/O Space nor MSE.
VF_COMMAND_WMASK = cs.CMD_MASTER | cs.CMD_INTX_DISABLE | 0x0040 | 0x0100
PF_COMMAND_WMASK = VF_COMMAND_WMASK | cs.CMD_IO | cs.CMD_MEMORY


def device_ident(vendor: int, device: int, index: int) -> int:
    """The value of a function's identification register (BAR offset 0).

    Device ID in the high half, the low half distinguishing functions, so a
    guest reading it can tell which device it reached (and a VF from its PF).
    """
    return (device & 0xFFFF) << 16 | (index & 0xFFFF)


class PhysicalFunction(PciFunction):
    """An SR-IOV PF: a normal function plus the SR-IOV extended capability."""

    kind = FunctionKind.PF

    def __init__(
        self,
        address: PciAddress,
        dev_id: int,
        vendor_id: int,
        device_id: int,
        bars: list[Bar | None],
        vf_device_id: int,
        total_vfs: int,
        first_vf_offset: int,
        vf_stride: int,
        vf_bar_specs: list[BarSpec | None],
        vf_bar_addresses: list[int],
        rom: Bar | None = None,
    ) -> None:
        super().__init__(address, dev_id, vendor_id, device_id, bars)
        self.vf_bar_specs: list[BarSpec | None] = list(vf_bar_specs) + [None] * (
            cs.NUM_BARS - len(vf_bar_specs)
        )
        self.vfs: list[PciFunction] = []
        self.on_control_change: Callable[[int, int, int, Site], None] | None = None
        self._init_header(vendor_id, device_id, PF_COMMAND_WMASK, interrupt_pin=1)
        self._init_bar_registers(decode_in_config=True)
        self._init_rom_register(rom)
        self.add_pm_capability()
        self.add_exp_capability()
        self.sriov_pos = self._add_sriov(
            vf_device_id, total_vfs, first_vf_offset, vf_stride, vf_bar_addresses
        )

    def _add_sriov(
        self, vf_did: int, total: int, offset: int, stride: int, vf_bar_addresses: list[int]
    ) -> int:
        pos = self.add_ext_capability(EXT_CAP_ID_SRIOV, 1, SRIOV_SIZEOF)
        self._set(pos + SRIOV_CTRL, 2, 0, CTRL_WRITABLE)
        self._set(pos + SRIOV_INITIAL_VF, 2, total)
        self._set(pos + SRIOV_TOTAL_VF, 2, total)
        self._set(pos + SRIOV_NUM_VF, 2, 0, 0xFFFF)
        self._set(pos + SRIOV_VF_OFFSET, 2, offset)
        self._set(pos + SRIOV_VF_STRIDE, 2, stride)
        self._set(pos + SRIOV_VF_DID, 2, vf_did)
        self._set(pos + SRIOV_SUP_PGSIZE, 4, 0x553)
        self._set(pos + SRIOV_SYS_PGSIZE, 4, 0x1, 0xFFFFFFFF)
        for i, spec in enumerate(self.vf_bar_specs):
            if spec is None:
                continue
            off = pos + SRIOV_BAR + 4 * i
            low_mask = ~(spec.size - 1) & 0xFFFFFFF0
            self._set(off, 4, (vf_bar_addresses[i] & low_mask) | spec.flags, low_mask)
            if spec.is_64:
                self._set(off + 4, 4, vf_bar_addresses[i] >> 32, 0xFFFFFFFF)
        return pos

    # -- the capability, as the PF driver and the IOV core read it ---------------

    def _reg(self, off: int, size: int = 2) -> int:
        return self.config.read(self.sriov_pos + off, size)

    @property
    def control(self) -> int:
        return self._reg(SRIOV_CTRL)

    @property
    def total_vfs(self) -> int:
        return self._reg(SRIOV_TOTAL_VF)

    @property
    def num_vfs(self) -> int:
        return self._reg(SRIOV_NUM_VF)

    @property
    def vf_device_id(self) -> int:
        return self._reg(SRIOV_VF_DID)

    def vf_rid(self, index: int) -> int:
        """Routing ID of VF `index` (0-based): First VF Offset and VF Stride from the PF."""
        return self.address.rid + self._reg(SRIOV_VF_OFFSET) + index * self._reg(SRIOV_VF_STRIDE)

    def vf_bar_address(self, bar: int, index: int) -> int:
        """Start of VF `index`'s slice of VF BAR `bar` (pci_iov_add_virtfn's resource math)."""
        spec = self.vf_bar_specs[bar]
        assert spec is not None
        off = self.sriov_pos + SRIOV_BAR + 4 * bar
        base = self.config.read(off, 4) & 0xFFFFFFF0
        if spec.is_64:
            base |= self.config.read(off + 4, 4) << 32
        return base + index * spec.size

    def vf_exists(self, index: int) -> bool:
        """A VF answers only while VF Enable is set and it is below NumVFs."""
        return bool(self.control & CTRL_VFE) and index < self.num_vfs and self.present()

    def config_write(self, offset: int, size: int, value: int) -> None:
        self.tracked_write(offset, size, value, Site.HOST)

    def set_control(self, value: int, site: Site) -> None:
        self.tracked_write(self.sriov_pos + SRIOV_CTRL, 2, value, site)

    def tracked_write(self, offset: int, size: int, value: int, site: Site) -> None:
        """NumVFs is read-only while VF Enable is set; control changes are reported."""
        old_ctrl, old_num = self.control, self.num_vfs
        super().config_write(offset, size, value)
        if old_ctrl & CTRL_VFE:
            self.config.write(self.sriov_pos + SRIOV_NUM_VF, 2, old_num)
        if self.control != old_ctrl and self.on_control_change is not None:
            self.on_control_change(old_ctrl, self.control, self.num_vfs, site)


class VirtualFunction(PciFunction):
    """A VF as x86 silicon presents it, gated by its PF's VF Enable and VF MSE."""

    kind = FunctionKind.VF

    def __init__(self, address: PciAddress, dev_id: int, pf: PhysicalFunction, index: int):
        bars = vf_bars(pf, index)
        super().__init__(address, dev_id, pf.vendor, pf.vf_device_id, bars)
        self.pf = pf
        self.index = index
        self._init_header(0xFFFF, 0xFFFF, VF_COMMAND_WMASK, interrupt_pin=0)
        self._init_bar_registers(decode_in_config=False)
        self.add_exp_capability()

    def present(self) -> bool:
        return super().present() and self.pf.vf_exists(self.index)

    def memory_decodes(self) -> bool:
        return self.present() and bool(self.pf.control & CTRL_MSE)

    def io_decodes(self) -> bool:
        return False


class FirmwareVirtualFunction(PciFunction):
    """An s390 VF as zPCI firmware presents it: IDs and BARs emulated, MSE still 0.

    The firmware makes the function's memory decode for as long as it is
    configured to this Linux, whatever the command register says; that is why
    a detached VF (kind DETACHED_VF, no PF in sight) works at all.
    """

    def __init__(
        self,
        address: PciAddress,
        dev_id: int,
        vendor_id: int,
        device_id: int,
        bars: list[Bar | None],
        vfn: int,
        kind: FunctionKind,
        pf: PhysicalFunction | None = None,
    ) -> None:
        super().__init__(address, dev_id, vendor_id, device_id, bars)
        self.kind = kind
        self.vfn = vfn
        self.pf = pf
        self._init_header(vendor_id, device_id, VF_COMMAND_WMASK, interrupt_pin=0)
        self._init_bar_registers(decode_in_config=True)
        self.add_exp_capability()

    def memory_decodes(self) -> bool:
        return self.present()

    def io_decodes(self) -> bool:
        return False


def vf_bars(pf: PhysicalFunction, index: int) -> list[Bar | None]:
    """VF `index`'s BAR resources: its slice of each of the PF's VF BARs."""
    bars: list[Bar | None] = []
    for i, spec in enumerate(pf.vf_bar_specs):
        if spec is None:
            bars.append(None)
            continue
        ident = device_ident(pf.vendor, pf.vf_device_id, 0x100 + index)
        bars.append(Bar(i, spec, pf.vf_bar_address(i, index), RegisterFile(spec.size, ident)))
    return bars


def sriov_enable(system: PciSystem, pf: PhysicalFunction, count: int) -> list[PciFunction]:
    """The host's `echo N > sriov_numvfs`: program the capability, then create the VFs."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise ValueError(f"VF count must be an int, got {count!r}")
    if pf.removed or pf not in system.functions:
        raise ValueError(f"{pf.address} is not a PF of this system")
    if count < 0 or count > pf.total_vfs:
        raise OSError(
            errno.ERANGE, f"{pf.address}: {count} VFs requested, TotalVFs is {pf.total_vfs}"
        )
    if pf.vfs:
        if count == len(pf.vfs):
            return list(pf.vfs)
        raise OSError(errno.EBUSY, f"{pf.address} already has {len(pf.vfs)} VFs; disable first")
    if count == 0:
        return []
    last_rid = pf.vf_rid(count - 1)
    if last_rid > 0xFFFF:
        raise ValueError(f"{pf.address}: VF {count - 1} routing ID {last_rid:#x} exceeds 0xffff")
    pos = pf.sriov_pos
    pf.config_write(pos + SRIOV_NUM_VF, 2, count)
    pf.set_control(pf.control | CTRL_VFE | CTRL_MSE, Site.SRIOV_ENABLE)
    for index in range(count):
        pf.vfs.append(system.create_vf(pf, index))
    return list(pf.vfs)


def sriov_disable(system: PciSystem, pf: PhysicalFunction) -> None:
    """`echo 0 > sriov_numvfs`: remove the VFs (last first), then clear VF Enable and MSE."""
    busy = [vf for vf in pf.vfs if system.is_open(vf)]
    if busy:
        names = ", ".join(str(vf.address) for vf in busy)
        raise OSError(errno.EBUSY, f"VFs still open through vfio-pci: {names}")
    for vf in reversed(pf.vfs):
        system.remove_function(vf)
    pf.vfs.clear()
    pf.set_control(pf.control & ~(CTRL_VFE | CTRL_MSE), Site.SRIOV_DISABLE)
    pf.config_write(pf.sriov_pos + SRIOV_NUM_VF, 2, 0)
