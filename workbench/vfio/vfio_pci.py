"""VfioPciDevice: the user's (QEMU's) view of a function bound to vfio-pci.

Config accesses go through vconfig and the permission tables: reads merge
device bits with virtual ones, writes split between them
(vfio_default_config_read/write in drivers/vfio/pci/vfio_pci_config.c). The
command register has its own paths (vfio_basic_config_read/write) because MSE
decides whether the user may touch device memory at all (since 5.8: region
access fails with EIO and mmaps fault with SIGBUS while memory is disabled,
__vfio_pci_memory_enabled). Whether vfio-pci emulates MSE is the profile's
"key": is_virtfn on 5.9, no_command_memory on 5.10.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from workbench.vfio import config_space as cs
from workbench.vfio.config_space import ConfigSpace
from workbench.vfio.events import EventKind, RestoreReason, Site
from workbench.vfio.pci import (
    CAP_ID_EXP,
    CAP_ID_PM,
    EXP_DEVCTL,
    EXP_DEVCTL_FLR,
    PAGE_SIZE,
    PCI_D3HOT,
    PM_CTRL,
    PM_CTRL_STATE_MASK,
    Bar,
    PciFunction,
)
from workbench.vfio.perms import build_config_map
from workbench.vfio.regions import (
    MmapFault,
    RegionFlags,
    RegionInfo,
    check_access,
    checked_bar,
)
from workbench.vfio.vbars import (
    saved_bars,
    vfio_bar_fixup,
    vfio_need_bar_restore,
    write_saved_bars,
)

if TYPE_CHECKING:
    from workbench.vfio.system import PciSystem

class VfioPciDevice:
    """One open vfio-pci device. Create it with PciSystem.vfio_open(function)."""

    def __init__(self, system: PciSystem, function: PciFunction) -> None:
        self.system = system
        self.function = function
        self.profile = system.profile
        self.closed = False
        self._present: set[int] = set()  # BARs whose user mapping is faulted in
        system.pci_enable_device(function)
        self.vconfig, self.rbar = self.vfio_config_init()
        self.config_map = build_config_map(function.config_read, self.vconfig)
        self._bardirty = True  # vfio_bar_fixup runs on the first BAR read, then after writes
        system.emit(
            EventKind.VFIO_OPEN,
            function,
            site=Site.VFIO_CONFIG_INIT,
            offset=cs.COMMAND,
            size=2,
            phys=function.config_read(cs.COMMAND, 2),
            virt=self.vconfig.read(cs.COMMAND, 2),
            arg=int(self.mse_key),
        )

    def __repr__(self) -> str:
        return f"<VfioPciDevice {self.address} {self.profile.name}>"

    @property
    def address(self) -> str:
        return str(self.function.address)

    @property
    def mse_key(self) -> bool:
        """The spec's "key": is_virtfn (5.9) or no_command_memory (5.10)."""
        return self.profile.mse_key(self.function)

    # -- open ---------------------------------------------------------------------

    def vfio_config_init(self) -> tuple[ConfigSpace, tuple[int, ...]]:
        """vfio_config_init: copy the device (BARs included), save the real BARs, patch IDs."""
        fn = self.function
        vconfig = ConfigSpace()
        for off in range(0, cs.CONFIG_SPACE_SIZE, 4):
            vconfig.write(off, 4, fn.config_read(off, 4))
        if fn.is_virtfn:
            vconfig.write(cs.VENDOR_ID, 2, fn.vendor)
            vconfig.write(cs.DEVICE_ID, 2, fn.device)
            vconfig.write(cs.INTERRUPT_PIN, 1, 0)
        if self.mse_key:
            # "For consistency with PFs": pci_enable_device could not set MSE here.
            vconfig.write(cs.COMMAND, 2, vconfig.read(cs.COMMAND, 2) | cs.CMD_MEMORY)
        return vconfig, saved_bars(fn)

    def peek_vconfig(self) -> ConfigSpace:
        """vconfig as the next config read finds it (BARs fixed up), leaving the device as is."""
        if not self._bardirty:
            return self.vconfig
        view = self.vconfig.copy()
        vfio_bar_fixup(self.function, view, self.profile)
        return view

    def close(self) -> None:
        """Release the device (the file descriptor's last close)."""
        if not self.closed:
            self.closed = True
            self._present.clear()
            self.system.vfio_close(self)

    def _check_open(self) -> None:
        if self.closed:
            raise OSError(errno.EBADF, f"{self.address}: the vfio device is closed")
        if self.function.removed:
            raise OSError(errno.ENODEV, f"{self.address} has been removed")

    # -- config space -------------------------------------------------------------

    def memory_enabled(self) -> bool:
        """__vfio_pci_memory_enabled: the key, or the user's (virtual) MSE; from 5.19 (the
        profile's d3hot_gate) only while the device is above D3hot."""
        if self.profile.d3hot_gate and self.function.power_state() >= PCI_D3HOT:
            return False
        return self.mse_key or bool(self.vconfig.read(cs.COMMAND, 2) & cs.CMD_MEMORY)

    def config_read(self, offset: int, size: int) -> int:
        """Read config space as the user sees it (merge of device and vconfig)."""
        self._check_open()
        cs.check_access(offset, size)
        if cs.is_bar_offset(offset) and self._bardirty:
            vfio_bar_fixup(self.function, self.vconfig, self.profile)
            self._bardirty = False
        virt_mask, _ = self.config_map.masks(offset, size)
        phys = self.function.config_read(offset, size)
        virt = self.vconfig.read(offset, size)
        value = (phys & ~virt_mask) | (virt & virt_mask)
        if offset == cs.COMMAND and self.mse_key:
            value |= virt & cs.CMD_MEMORY  # vfio_basic_config_read ORs the virtual MSE in
        self.system.emit(
            EventKind.CONFIG_READ,
            self.function,
            site=self.config_map.site(offset),
            offset=offset,
            size=size,
            value=value,
            phys=phys,
            virt=virt,
            mask=virt_mask,
        )
        return value

    def config_write(self, offset: int, size: int, value: int) -> None:
        """Write config space: virtual writable bits to vconfig, the rest to the device."""
        self._check_open()
        cs.check_access(offset, size)
        cs.check_value(value, size)
        if offset == cs.COMMAND:
            self._command_write(size, value)
        else:
            self._default_write(offset, size, value)
            self._bardirty |= cs.is_bar_offset(offset)
            self._cap_write_side_effects(offset, size, value)
        virt_mask, _ = self.config_map.masks(offset, size)
        self.system.emit(
            EventKind.CONFIG_WRITE,
            self.function,
            site=self.config_map.site(offset),
            offset=offset,
            size=size,
            value=value,
            phys=self.function.config_read(offset, size),
            virt=self.vconfig.read(offset, size),
            mask=virt_mask,
        )

    def _default_write(self, offset: int, size: int, value: int) -> None:
        """vfio_default_config_write: the write split of the spec's §3."""
        virt_mask, write_mask = self.config_map.masks(offset, size)
        if not write_mask:
            return  # dropped: nothing here is writable
        to_virt = write_mask & virt_mask
        if to_virt:
            old = self.vconfig.read(offset, size)
            self.vconfig.write(offset, size, (old & ~to_virt) | (value & to_virt))
        to_phys = write_mask & ~virt_mask
        if to_phys:
            old = self.function.config_read(offset, size)
            self.function.config_write(offset, size, (old & ~to_phys) | (value & to_phys))

    def _command_write(self, size: int, value: int) -> None:
        """vfio_basic_config_write for PCI_COMMAND: zap, backdoor-reset check, split, save."""
        fn = self.function
        phys_cmd = fn.config_read(cs.COMMAND, 2)
        virt_cmd = self.vconfig.read(cs.COMMAND, 2)
        new_cmd = value & 0xFFFF
        new_mem = bool(new_cmd & cs.CMD_MEMORY)
        if not new_mem:
            self.vfio_pci_zap_bars()
        reasons = RestoreReason(0)
        skip_mem_check = self.profile.has_no_command_memory and fn.no_command_memory
        if (
            new_mem
            and virt_cmd & cs.CMD_MEMORY
            and not phys_cmd & cs.CMD_MEMORY
            and not skip_mem_check
        ):
            reasons |= RestoreReason.MEM
        if new_cmd & cs.CMD_IO and virt_cmd & cs.CMD_IO and not phys_cmd & cs.CMD_IO:
            reasons |= RestoreReason.IO
        if vfio_need_bar_restore(fn, self.rbar):
            reasons |= RestoreReason.BAR_MISMATCH
        if reasons:
            self.vfio_bar_restore(reasons)
        self._default_write(cs.COMMAND, size, value)
        keep = cs.CMD_MEMORY | cs.CMD_IO
        virt_now = self.vconfig.read(cs.COMMAND, 2)
        self.vconfig.write(cs.COMMAND, 2, (virt_now & ~keep) | (new_cmd & keep))

    def vfio_bar_restore(self, reasons: RestoreReason) -> None:
        """vfio_bar_restore: rewrite the real BARs, except for VFs (is_virtfn)."""
        fn = self.function
        if fn.is_virtfn:
            return
        write_saved_bars(fn, self.rbar)
        self.system.emit(EventKind.BAR_RESTORE, fn, site=Site.VFIO_BAR_RESTORE, arg=reasons)

    def _cap_write_side_effects(self, offset: int, size: int, value: int) -> None:
        """vfio_exp_config_write: the virtual FLR bit always reads back as zero;
        vfio_pm_config_write: a write at PMCSR sets the device's power state."""
        for cap in self.config_map.caps:
            if cap.extended:
                continue
            if cap.cap_id == CAP_ID_PM and offset == cap.pos + PM_CTRL:
                self.vfio_pm_config_write(value & PM_CTRL_STATE_MASK)
            if cap.cap_id != CAP_ID_EXP:
                continue
            devctl = cap.pos + EXP_DEVCTL
            if offset <= devctl + 1 and devctl < offset + size:
                self.vconfig.write(devctl, 2, self.vconfig.read(devctl, 2) & ~EXP_DEVCTL_FLR)

    def vfio_pm_config_write(self, state: int) -> None:
        """vfio_pm_config_write: the user's PowerState goes to the device through
        vfio_pci_set_power_state (the user cannot write those bits directly); from 5.19
        a move to D3hot first zaps the user's mmaps, as clearing MSE does."""
        if self.profile.d3hot_gate and state >= PCI_D3HOT:
            self.vfio_pci_zap_bars()
        self.system.set_power_state(self.function, state)

    # -- BAR regions and mmaps ----------------------------------------------------

    def region_info(self, index: int) -> RegionInfo:
        """VFIO_DEVICE_GET_REGION_INFO for a BAR: mmap only where VFIO_PCI_MMAP is on."""
        self._check_open()
        bar = checked_bar(self.function, index)
        flags = RegionFlags.READ | RegionFlags.WRITE
        if self._mmap_supported(bar):
            flags |= RegionFlags.MMAP
        return RegionInfo(index, bar.size, flags)

    def _mmap_supported(self, bar: Bar) -> bool:
        # VFIO_PCI_MMAP is "def_bool y if !S390" at 5.9/5.10; sub-page BARs are not mmapped.
        return self.system.platform != "s390" and not bar.spec.is_io and bar.size >= PAGE_SIZE

    def _check_region(self, index: int, offset: int, size: int) -> Bar:
        self._check_open()
        return check_access(self.function, index, offset, size)

    def _region_gate(self, bar: Bar, offset: int, size: int, write: bool) -> None:
        """vfio_pci_bar_rw: memory BARs need memory enabled; I/O BARs are not gated."""
        if bar.spec.is_io or self.memory_enabled():
            return
        self.system.emit(
            EventKind.REGION_BLOCKED,
            self.function,
            site=Site.VFIO_PCI_BAR_RW,
            bar=bar.index,
            offset=offset,
            size=size,
            errno=errno.EIO,
            arg=int(write),
        )
        raise OSError(errno.EIO, f"{self.address}: BAR {bar.index} access while memory is disabled")

    def region_read(self, bar: int, offset: int, size: int) -> int:
        """pread() on a BAR region: OSError(EIO) while memory is disabled."""
        return self.vfio_pci_bar_rw(bar, offset, size, None)

    def region_write(self, bar: int, offset: int, size: int, value: int) -> None:
        """pwrite() on a BAR region: OSError(EIO) while memory is disabled."""
        self.vfio_pci_bar_rw(bar, offset, size, value)

    def vfio_pci_bar_rw(self, bar: int, offset: int, size: int, value: int | None) -> int:
        """vfio_pci_bar_rw: one path for both directions (`value` None = read)."""
        write = value is not None
        b = self._check_region(bar, offset, size)
        if write:
            cs.check_value(value, size)
        self._region_gate(b, offset, size, write=write)
        if write:
            self.function.mmio_write(b.index, offset, size, value)
        else:
            value = self.function.mmio_read(b.index, offset, size)
        self.system.emit(
            EventKind.REGION_WRITE if write else EventKind.REGION_READ,
            self.function,
            site=Site.VFIO_PCI_BAR_RW,
            bar=b.index,
            offset=offset,
            size=size,
            value=value,
        )
        return value

    def _mmap_access(self, bar: int, offset: int, size: int, write: bool) -> Bar:
        b = self._check_region(bar, offset, size)
        if not self._mmap_supported(b):
            why = (
                "VFIO_PCI_MMAP is off on s390"
                if self.system.platform == "s390"
                else ("I/O and sub-page BARs cannot be mmapped")
            )
            raise OSError(errno.EINVAL, f"{self.address}: BAR {b.index} has no mmap ({why})")
        if b.index in self._present:
            return b
        if not self.memory_enabled():
            self.system.emit(
                EventKind.MMAP_FAULT,
                self.function,
                site=Site.VFIO_PCI_MMAP_FAULT,
                bar=b.index,
                offset=offset,
                size=size,
                arg=int(write),
            )
            raise MmapFault(self.address, b.index, offset, write)
        self._present.add(b.index)
        self.system.emit(
            EventKind.MMAP_REMAP, self.function, site=Site.VFIO_PCI_MMAP_FAULT, bar=b.index
        )
        return b

    def mmap_read(self, bar: int, offset: int, size: int) -> int:
        """A load through the user's mapping of a BAR; MmapFault (SIGBUS) when refused."""
        b = self._mmap_access(bar, offset, size, write=False)
        return self.function.mmio_read(b.index, offset, size)

    def mmap_write(self, bar: int, offset: int, size: int, value: int) -> None:
        """A store through the user's mapping of a BAR; MmapFault (SIGBUS) when refused."""
        self._check_region(bar, offset, size)
        cs.check_value(value, size)
        b = self._mmap_access(bar, offset, size, write=True)
        self.function.mmio_write(b.index, offset, size, value)

    def vfio_pci_zap_bars(self) -> None:
        """vfio_pci_zap_and_down_write_memory_lock: tear down every faulted-in mapping."""
        for index in sorted(self._present):
            self.system.emit(EventKind.MMAP_ZAP, self.function, site=Site.VFIO_PCI_ZAP, bar=index)
        self._present.clear()

    @property
    def mapped_bars(self) -> frozenset[int]:
        """BARs whose mapping is currently present (not zapped)."""
        return frozenset(self._present)
