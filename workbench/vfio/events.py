"""Trap events: what the PCI model and vfio-pci did, one flat record per happening.

Every field except the device address is a small integer so the session log can
keep events in fixed-width numpy columns; `kind`, `site` and `arg` are IntEnums or
plain ints chosen per kind (documented on EventKind). Nothing here stores events
unless asked: EventRecorder is opt-in and may be bounded.
"""

from __future__ import annotations

import errno as errno_mod
import signal
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from workbench.vfio.pci import FunctionKind


class EventKind(IntEnum):
    """What happened. Per-kind meaning of the generic fields is noted on each member."""

    DEVICE_ADD = 1  # value=vendor<<16|device (real IDs), arg=FunctionKind
    DEVICE_REMOVE = 2  # arg=FunctionKind
    FLAG_CHANGE = 3  # arg=PciFlag, value=new value (physfn: the PF's dev_id, -1 for none)
    SRIOV_CONTROL = 4  # offset=control register, phys=old control, value=new control, arg=NumVFs
    VFIO_OPEN = 5  # phys=device command, virt=vconfig command, arg=1 if the MSE key is set
    CONFIG_READ = 6  # value=what the user read, phys/virt=device/vconfig, mask=virtualized bits
    CONFIG_WRITE = 7  # value=what the user wrote, phys/virt=after the write, mask=virtualized bits
    BAR_RESTORE = 8  # arg=RestoreReason bits (a restore vfio_bar_restore really did)
    REGION_READ = 9  # bar, offset, size, value read
    REGION_WRITE = 10  # bar, offset, size, value written
    REGION_BLOCKED = 11  # bar, offset, size, errno=EIO, arg=1 for a write
    MMAP_ZAP = 12  # bar whose user mapping was torn down
    MMAP_REMAP = 13  # bar whose mapping was faulted (back) in
    MMAP_FAULT = 14  # bar, offset, size, arg=1 for a write: SIGBUS for the user
    PHYS_CONFIG_WRITE = 15  # a write to the device that bypassed vfio: value, phys=after
    ACTION = 16  # a scenario step's outcome: arg=ActionKind, errno=0, an errno, or -SIGBUS


class PciFlag(IntEnum):
    """The struct pci_dev flags whose changes are traced (include/linux/pci.h)."""

    IS_VIRTFN = 1
    PHYSFN = 2
    NO_COMMAND_MEMORY = 3


class Site(IntEnum):
    """The kernel function (or host actor) that produced an event."""

    NONE = 0
    PCI_SCAN = 1  # pci_scan_single_device / zPCI hot-plug: a function appears
    SRIOV_ENABLE = 2  # drivers/pci/iov.c sriov_enable
    SRIOV_DISABLE = 3  # drivers/pci/iov.c sriov_disable
    PCI_IOV_ADD_VIRTFN = 4  # drivers/pci/iov.c pci_iov_add_virtfn
    PCIBIOS_BUS_ADD_DEVICE = 5  # arch/s390/pci/pci_bus.c pcibios_bus_add_device
    ZPCI_BUS_SETUP_VIRTFN = 6  # arch/s390/pci/pci_bus.c (5.9)
    ZPCI_IOV_SETUP_VIRTFN = 7  # arch/s390/pci/pci_iov.c (5.10)
    VFIO_CONFIG_INIT = 8  # drivers/vfio/pci/vfio_pci_config.c vfio_config_init
    VFIO_BASIC_CONFIG = 9  # vfio_basic_config_read / vfio_basic_config_write
    VFIO_DEFAULT_CONFIG = 10  # vfio_default_config_read / _write (capabilities with a table)
    VFIO_DIRECT_CONFIG = 11  # vfio_direct_config_read (capabilities without a table)
    VFIO_RAW_CONFIG = 12  # vfio_raw_config_read / _write (gaps between capabilities)
    VFIO_BAR_RESTORE = 13  # vfio_bar_restore
    VFIO_PCI_BAR_RW = 14  # drivers/vfio/pci/vfio_pci_rdwr.c vfio_pci_bar_rw
    VFIO_PCI_MMAP_FAULT = 15  # drivers/vfio/pci/vfio_pci.c vfio_pci_mmap_fault
    VFIO_PCI_ZAP = 16  # vfio_pci_zap_and_down_write_memory_lock
    HOST = 17  # the host administrator (setpci, sysfs)
    SCENARIO = 18  # the scenario runner
    PCI_ENABLE_DEVICE = 19  # drivers/pci/pci.c pci_enable_device (vfio_pci_enable calls it)
    PCI_SET_POWER_STATE = 20  # drivers/pci/pci.c pci_set_power_state (vfio_pm_config_write)


class RestoreReason(IntFlag):
    """Why vfio_basic_config_write decided the device had a backdoor reset."""

    MEM = 1  # user sets MSE, vconfig has MSE, device lacks it
    IO = 2  # same for I/O space
    BAR_MISMATCH = 4  # vfio_need_bar_restore: a real BAR differs from the saved rbar


class ActionKind(IntEnum):
    """Scenario actions (story.py), so an ACTION event stays numeric."""

    CONFIG_READ = 1
    CONFIG_WRITE = 2
    ENABLE_MEMORY = 3
    SET_MASTER = 4
    CLEAR_MEMORY = 5
    REGION_READ = 6
    REGION_WRITE = 7
    MMAP_READ = 8
    MMAP_WRITE = 9
    ENABLE_VFS = 10
    DISABLE_VFS = 11
    HOST_CONFIG_WRITE = 12
    OPEN = 13


@dataclass(frozen=True, slots=True)
class TrapEvent:
    """One event. `seq` orders events within a PciSystem; -1 means "not applicable"."""

    seq: int
    kind: EventKind
    device: str
    dev_id: int
    site: Site = Site.NONE
    offset: int = 0
    size: int = 0
    value: int = 0
    phys: int = 0
    virt: int = 0
    mask: int = 0
    bar: int = -1
    errno: int = 0
    arg: int = 0

    def format(self) -> str:
        """One human-readable line, as `workbench run --headless` prints it."""
        head = f"#{self.seq:<4} {self.device} {self.kind.name:<17}"
        return f"{head} {_DETAIL[self.kind](self)}{_site_suffix(self.site)}"


def _hex(value: int, size: int) -> str:
    return f"{value:#0{2 + 2 * max(size, 1)}x}"


def _errname(code: int) -> str:
    return errno_mod.errorcode.get(code, str(code))


def _site_suffix(site: Site) -> str:
    return "" if site is Site.NONE else f" [{site.name.lower()}]"


def _config(ev: TrapEvent, arrow: str) -> str:
    s = ev.size
    return (
        f"off={ev.offset:#05x} size={s} {arrow} {_hex(ev.value, s)} "
        f"(phys={_hex(ev.phys, s)} virt={_hex(ev.virt, s)} vmask={_hex(ev.mask, s)})"
    )


def _rw(ev: TrapEvent) -> str:
    return "write" if ev.arg else "read"


def _flag(ev: TrapEvent) -> str:
    flag = PciFlag(ev.arg)
    if flag is PciFlag.PHYSFN:
        return "physfn=" + ("none" if ev.value < 0 else f"dev{ev.value}")
    return f"{flag.name.lower()}={ev.value}"


def _kind_name(kind: int) -> str:
    return FunctionKind(kind).name if kind in FunctionKind._value2member_map_ else str(kind)


def _reasons(bits: int) -> str:
    names = [r.name.lower() for r in RestoreReason if bits & r and r.name]
    return "+".join(names) or "none"


def _action(ev: TrapEvent) -> str:
    name = ActionKind(ev.arg).name.lower() if ev.arg in ActionKind._value2member_map_ else ev.arg
    where = f" bar{ev.bar}+{ev.offset:#x}" if ev.bar >= 0 else f" off={ev.offset:#05x}"
    if ev.errno == 0:
        outcome = "ok"
    elif ev.errno < 0:
        outcome = f"failed: {signal.Signals(-ev.errno).name}"
    else:
        outcome = f"failed: {_errname(ev.errno)}"
    return f"{name}{where} size={ev.size} value={_hex(ev.value, ev.size)} {outcome}"


_DETAIL: dict[EventKind, Callable[[TrapEvent], str]] = {
    EventKind.DEVICE_ADD: lambda e: (
        f"{e.value >> 16:04x}:{e.value & 0xFFFF:04x} {_kind_name(e.arg)}"
    ),
    EventKind.DEVICE_REMOVE: lambda e: _kind_name(e.arg),
    EventKind.FLAG_CHANGE: _flag,
    EventKind.SRIOV_CONTROL: lambda e: (
        f"ctrl {_hex(e.phys, 2)} -> {_hex(e.value, 2)} NumVFs={e.arg}"
    ),
    EventKind.VFIO_OPEN: lambda e: (
        f"command phys={_hex(e.phys, 2)} vconfig={_hex(e.virt, 2)} mse_key={e.arg}"
    ),
    EventKind.CONFIG_READ: lambda e: _config(e, "->"),
    EventKind.CONFIG_WRITE: lambda e: _config(e, "<-"),
    EventKind.BAR_RESTORE: lambda e: f"reset recovery - restoring BARs ({_reasons(e.arg)})",
    EventKind.REGION_READ: lambda e: (
        f"bar{e.bar}+{e.offset:#x} size={e.size} -> {_hex(e.value, e.size)}"
    ),
    EventKind.REGION_WRITE: lambda e: (
        f"bar{e.bar}+{e.offset:#x} size={e.size} <- {_hex(e.value, e.size)}"
    ),
    EventKind.REGION_BLOCKED: lambda e: (
        f"bar{e.bar}+{e.offset:#x} size={e.size} {_rw(e)} -> {_errname(e.errno)} (memory disabled)"
    ),
    EventKind.MMAP_ZAP: lambda e: f"bar{e.bar} user mapping zapped",
    EventKind.MMAP_REMAP: lambda e: f"bar{e.bar} mapping faulted in",
    EventKind.MMAP_FAULT: lambda e: (
        f"bar{e.bar}+{e.offset:#x} size={e.size} {_rw(e)} -> SIGBUS (memory disabled)"
    ),
    EventKind.PHYS_CONFIG_WRITE: lambda e: (
        f"off={e.offset:#05x} size={e.size} <- {_hex(e.value, e.size)} (now {_hex(e.phys, e.size)})"
    ),
    EventKind.ACTION: _action,
}


Observer = Callable[[TrapEvent], None]


class EventRecorder:
    """An opt-in observer that keeps events, all of them or only the last `maxlen`."""

    def __init__(self, maxlen: int | None = None) -> None:
        self._events: deque[TrapEvent] = deque(maxlen=maxlen)

    def __call__(self, event: TrapEvent) -> None:
        self._events.append(event)

    def __iter__(self) -> Iterator[TrapEvent]:
        return iter(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def of_kind(self, *kinds: EventKind) -> list[TrapEvent]:
        return [e for e in self._events if e.kind in kinds]

    def clear(self) -> None:
        self._events.clear()
