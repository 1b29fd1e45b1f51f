"""PciSystem: one host's PCI topology, its kernel profile, and the event stream.

The system plays the host kernel's PCI core: it places functions at addresses,
assigns BAR resources, creates VFs when the host asks for them, and sets
is_virtfn / physfn / no_command_memory exactly where the chosen kernel does
(pci_iov_add_virtfn on x86; zpci_bus_setup_virtfn / zpci_iov_setup_virtfn and
pcibios_bus_add_device on s390). Every observable step is emitted, in order, to
the observers; nothing is kept unless an observer keeps it.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from workbench.vfio import config_space as cs
from workbench.vfio.events import EventKind, Observer, PciFlag, Site, TrapEvent
from workbench.vfio.host_args import (
    DEFAULT_PF_DEVICE,
    DEFAULT_VENDOR,
    DEFAULT_VF_DEVICE,
    check_ids,
    detached_vf_bar_specs,
    int_arg,
    pf_bar_specs,
)
from workbench.vfio.pci import (
    PM_CTRL,
    PM_CTRL_STATE_MASK,
    BarSpec,
    FunctionKind,
    PciAddress,
    PciFunction,
)
from workbench.vfio.profiles import VfioProfile, check_platform, get_profile
from workbench.vfio.resources import ResourceAllocator
from workbench.vfio.sriov import (
    FirmwareVirtualFunction,
    PhysicalFunction,
    VirtualFunction,
    device_ident,
    sriov_disable,
    sriov_enable,
    vf_bars,
)

if TYPE_CHECKING:
    from workbench.vfio.vfio_pci import VfioPciDevice

NO_DEVICE = "----:--:--.-"


class PciSystem:
    """A host's PCI hierarchy under one platform ("x86" | "s390") and profile."""

    def __init__(
        self,
        platform: str = "x86",
        profile: str | VfioProfile | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.platform = check_platform(platform)
        self.profile = get_profile(profile)
        self.functions: list[PciFunction] = []
        if observer is not None and not callable(observer):
            raise TypeError(f"observer must be callable, got {observer!r}")
        self._observers: list[Observer] = [observer] if observer is not None else []
        self._seq = 0
        self._next_dev_id = 0
        self._next_bus = 1
        self._next_domain = 0
        self.resources = ResourceAllocator()
        self._open: dict[int, VfioPciDevice] = {}

    def __repr__(self) -> str:
        return f"<PciSystem {self.platform} {self.profile.name} {len(self.functions)} functions>"

    # -- events -------------------------------------------------------------------

    def subscribe(self, callback: Observer) -> Callable[[], None]:
        """Add an observer; the returned callable removes it again."""
        if not callable(callback):
            raise TypeError(f"observer must be callable, got {callback!r}")
        self._observers.append(callback)

        def unsubscribe() -> None:
            if callback in self._observers:
                self._observers.remove(callback)

        return unsubscribe

    def emit(self, kind: EventKind, function: PciFunction | None, **fields: Any) -> TrapEvent:
        """Number the event and hand it to every observer, in subscription order.

        `function` is None only for a scenario step whose device never came to be.
        """
        if function is None:
            event = TrapEvent(self._seq, kind, NO_DEVICE, -1, **fields)
        else:
            event = TrapEvent(self._seq, kind, str(function.address), function.dev_id, **fields)
        self._seq += 1
        for observer in list(self._observers):
            observer(event)
        return event

    def _set_flag(self, function: PciFunction, flag: PciFlag, value: int, site: Site) -> None:
        if flag is PciFlag.IS_VIRTFN:
            function.is_virtfn = bool(value)
        elif flag is PciFlag.NO_COMMAND_MEMORY:
            function.no_command_memory = bool(value)
        self.emit(EventKind.FLAG_CHANGE, function, site=site, arg=flag, value=value)

    def _link_physfn(self, vf: PciFunction, pf: PhysicalFunction, site: Site) -> None:
        vf.physfn = pf
        self._set_flag(vf, PciFlag.IS_VIRTFN, 1, site)
        self.emit(EventKind.FLAG_CHANGE, vf, site=site, arg=PciFlag.PHYSFN, value=pf.dev_id)

    # -- resources ----------------------------------------------------------------

    def _new_dev_id(self) -> int:
        dev_id = self._next_dev_id
        self._next_dev_id += 1
        return dev_id

    def _check_free(self, address: PciAddress) -> None:
        if any(f.address == address for f in self.functions):
            raise ValueError(f"address {address} is already in use")

    def _add(self, function: PciFunction, site: Site) -> PciFunction:
        self.functions.append(function)
        self.emit(
            EventKind.DEVICE_ADD,
            function,
            site=site,
            value=function.vendor << 16 | function.device,
            arg=function.kind,
        )
        return function

    # -- topology -----------------------------------------------------------------

    def add_sriov_pf(
        self,
        *,
        vendor_id: int = DEFAULT_VENDOR,
        device_id: int = DEFAULT_PF_DEVICE,
        vf_device_id: int = DEFAULT_VF_DEVICE,
        total_vfs: int = 8,
        bars: Sequence[BarSpec | None] | None = None,
        vf_bars: Sequence[BarSpec | None] | None = None,
        first_vf_offset: int = 1,
        vf_stride: int = 1,
        domain: int | None = None,
        bus: int | None = None,
        rom_size: int | None = None,
        shadow_rom: bool = False,
        setup_rom_len: int = 0,
    ) -> PhysicalFunction:
        """Add a PF with an SR-IOV capability (defaults: 16 KiB 64-bit BAR 0, 8 VFs, no ROM).

        Without `rom_size` the PF may still have a ROM the host knows another way: a
        shadow copy (`shadow_rom`, x86's boot VGA) or one of `setup_rom_len` bytes in the
        platform's setup data; which one vfio-pci shows depends on the profile."""
        check_ids(vendor_id, device_id)
        pf_specs, vf_specs = pf_bar_specs(
            vf_device_id=vf_device_id,
            total_vfs=total_vfs,
            first_vf_offset=first_vf_offset,
            vf_stride=vf_stride,
            bars=bars,
            vf_bars=vf_bars,
            rom_size=rom_size,
            shadow_rom=shadow_rom,
            setup_rom_len=setup_rom_len,
        )
        address = self._place(domain, bus)
        dev_id = self._new_dev_id()
        ident = device_ident(vendor_id, device_id, 0)
        pf_bars = self.resources.bars(pf_specs, ident)
        vf_addresses = [0 if s is None else self.resources.alloc(s, total_vfs) for s in vf_specs]
        pf = PhysicalFunction(
            address,
            dev_id,
            vendor_id,
            device_id,
            pf_bars,
            vf_device_id=vf_device_id,
            total_vfs=total_vfs,
            first_vf_offset=first_vf_offset,
            vf_stride=vf_stride,
            vf_bar_specs=vf_specs,
            vf_bar_addresses=vf_addresses,
            rom=self.resources.rom(rom_size, ident),
        )
        pf.shadow_rom, pf.setup_rom_len = shadow_rom, setup_rom_len
        pf.on_control_change = lambda old, new, num, site: self.emit(
            EventKind.SRIOV_CONTROL,
            pf,
            site=site,
            offset=pf.sriov_pos + 0x08,
            size=2,
            phys=old,
            value=new,
            arg=num,
        )
        self._add(pf, Site.PCI_SCAN)
        return pf

    def _place(self, domain: int | None, bus: int | None) -> PciAddress:
        """x86: a new bus per PF in domain 0; s390: a new zPCI domain (zbus) per PF."""
        if self.platform == "s390":
            dom = self._next_domain if domain is None else int_arg("domain", domain, 0, 0xFFFF)
            address = PciAddress(dom, 0 if bus is None else int_arg("bus", bus, 0, 0xFF), 0)
            self._next_domain = max(self._next_domain, dom + 1)
        else:
            b = self._next_bus if bus is None else int_arg("bus", bus, 0, 0xFF)
            address = PciAddress(
                0 if domain is None else int_arg("domain", domain, 0, 0xFFFF), b, 0
            )
            self._next_bus = max(self._next_bus, b + 1)
        self._check_free(address)
        return address

    def enable_vfs(self, pf: PhysicalFunction, count: int) -> list[PciFunction]:
        """The host writes `count` to sriov_numvfs: VFs appear, flags set per platform."""
        if not isinstance(pf, PhysicalFunction):
            raise ValueError(f"enable_vfs needs a PF from add_sriov_pf, got {pf!r}")
        return sriov_enable(self, pf, count)

    def disable_vfs(self, pf: PhysicalFunction) -> None:
        """The host writes 0 to sriov_numvfs (EBUSY while a VF is open through vfio)."""
        if not isinstance(pf, PhysicalFunction):
            raise ValueError(f"disable_vfs needs a PF from add_sriov_pf, got {pf!r}")
        sriov_disable(self, pf)

    def create_vf(self, pf: PhysicalFunction, index: int) -> PciFunction:
        """Called by sriov_enable for each VF, once VF Enable is set."""
        address = PciAddress.from_rid(pf.address.domain, pf.vf_rid(index))
        self._check_free(address)
        if self.platform == "x86":
            vf = VirtualFunction(address, self._new_dev_id(), pf, index)
            self._link_physfn(vf, pf, Site.PCI_IOV_ADD_VIRTFN)
            if self.profile.has_no_command_memory:
                self._set_flag(vf, PciFlag.NO_COMMAND_MEMORY, 1, Site.PCI_IOV_ADD_VIRTFN)
            return self._add(vf, Site.PCI_IOV_ADD_VIRTFN)
        # s390 sets no_vf_scan: the IOV core creates nothing; the VFs arrive as zPCI
        # functions that the firmware emulates, and pcibios_bus_add_device links them.
        vf = FirmwareVirtualFunction(
            address,
            self._new_dev_id(),
            pf.vendor,
            pf.vf_device_id,
            vf_bars(pf, index),
            vfn=index + 1,
            kind=FunctionKind.VF,
            pf=pf,
        )
        self._add(vf, Site.PCI_SCAN)
        self._pcibios_bus_add_device(vf, pf)
        return vf

    def _pcibios_bus_add_device(self, vf: PciFunction, pf: PhysicalFunction | None) -> None:
        """arch/s390/pci/pci_bus.c: link a VF to a visible PF, then (5.10) no_command_memory."""
        if pf is not None:
            self._link_physfn(vf, pf, self.profile.zpci_link_site)
        if self.profile.has_no_command_memory:
            self._set_flag(vf, PciFlag.NO_COMMAND_MEMORY, 1, Site.PCIBIOS_BUS_ADD_DEVICE)

    def add_detached_vf(
        self,
        *,
        vendor_id: int = DEFAULT_VENDOR,
        device_id: int = DEFAULT_VF_DEVICE,
        vfn: int = 1,
        bars: Sequence[BarSpec | None] | None = None,
        domain: int | None = None,
    ) -> PciFunction:
        """s390 only: a VF configured to this Linux without its PF (is_virtfn stays 0)."""
        if self.platform != "s390":
            raise ValueError(
                f"detached VFs exist only on s390 (zPCI); this system's platform is {self.platform}"
            )
        check_ids(vendor_id, device_id)
        specs = detached_vf_bar_specs(vfn, bars)
        address = self._place(domain, None)
        dev_id = self._new_dev_id()
        vf = FirmwareVirtualFunction(
            address,
            dev_id,
            vendor_id,
            device_id,
            self.resources.bars(specs, device_ident(vendor_id, device_id, 0x100 + vfn - 1)),
            vfn=vfn,
            kind=FunctionKind.DETACHED_VF,
        )
        self._add(vf, Site.PCI_SCAN)
        self._pcibios_bus_add_device(vf, None)
        return vf

    def remove_function(self, function: PciFunction) -> None:
        """Hot-unplug (sriov_disable for VFs)."""
        if self.is_open(function):
            raise OSError(errno.EBUSY, f"{function.address} is open through vfio-pci")
        function.removed = True
        self.functions.remove(function)
        self.emit(EventKind.DEVICE_REMOVE, function, site=Site.SRIOV_DISABLE, arg=function.kind)

    def find(self, address: str | PciAddress) -> PciFunction:
        for function in self.functions:
            if str(function.address) == str(address):
                return function
        raise KeyError(f"no PCI function at {address}")

    # -- host-side config access (setpci) -------------------------------------------

    def host_config_read(self, function: PciFunction, offset: int, size: int) -> int:
        """What `setpci` on the host reads: the device itself, no vfio in between."""
        return function.config_read(offset, size)

    def host_config_write(self, function: PciFunction, offset: int, size: int, value: int) -> None:
        """A host-side write behind vfio-pci's back (e.g. a backdoor reset of a BAR)."""
        function.config_write(offset, size, value)
        self.emit(
            EventKind.PHYS_CONFIG_WRITE,
            function,
            site=Site.HOST,
            offset=offset,
            size=size,
            value=value,
            phys=function.config_read(offset, size),
        )

    def set_power_state(self, function: PciFunction, state: int) -> None:
        """pci_set_power_state: PMCSR's PowerState on the device (no soft reset: the
        model's functions set No_Soft_Reset, so D3hot -> D0 keeps their state)."""
        if function.pm_pos is None:
            return
        offset = function.pm_pos + PM_CTRL
        old = function.config_read(offset, 2)
        function.config_write(offset, 2, (old & ~PM_CTRL_STATE_MASK) | state)
        self.emit(
            EventKind.PHYS_CONFIG_WRITE,
            function,
            site=Site.PCI_SET_POWER_STATE,
            offset=offset,
            size=2,
            value=state,
            phys=function.config_read(offset, 2),
        )

    # -- vfio-pci -------------------------------------------------------------------

    def vfio_open(self, function: PciFunction) -> VfioPciDevice:
        """Bind `function` to vfio-pci and open it (vfio_pci_enable + vfio_config_init)."""
        from workbench.vfio.vfio_pci import VfioPciDevice

        if not isinstance(function, PciFunction) or function not in self.functions:
            raise ValueError(f"{function!r} is not a PCI function of this system")
        if function.dev_id in self._open:
            raise OSError(errno.EBUSY, f"{function.address} is already open through vfio-pci")
        device = VfioPciDevice(self, function)
        self._open[function.dev_id] = device
        return device

    def vfio_close(self, device: VfioPciDevice) -> None:
        self._open.pop(device.function.dev_id, None)

    def is_open(self, function: PciFunction) -> bool:
        return function.dev_id in self._open

    def pci_enable_device(self, function: PciFunction) -> None:
        """pci_enable_resources: set MSE/I/O for the BAR types the function has."""
        cmd = function.config_read(cs.COMMAND, 2)
        want = cmd
        if function.has_memory_bars:
            want |= cs.CMD_MEMORY
        if function.has_io_bars:
            want |= cs.CMD_IO
        if want != cmd:
            function.config_write(cs.COMMAND, 2, want)
            self.emit(
                EventKind.PHYS_CONFIG_WRITE,
                function,
                site=Site.PCI_ENABLE_DEVICE,
                offset=cs.COMMAND,
                size=2,
                value=want,
                phys=function.config_read(cs.COMMAND, 2),
            )
