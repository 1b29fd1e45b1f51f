"""The uapi face of a vfio-pci BAR region: what VFIO_DEVICE_GET_REGION_INFO answers, the
SIGBUS a refused mmap access gets, and the argument checks pread, pwrite and mmap share
(a bad index, size, offset or alignment is EINVAL, as the kernel's)."""

from __future__ import annotations

import errno
from dataclasses import dataclass
from enum import IntFlag

from workbench.vfio.pci import Bar, PciFunction

REGION_SIZES = (1, 2, 4, 8)


class MmapFault(Exception):
    """An access through a BAR mmap that the kernel answers with SIGBUS.

    vfio_pci_mmap_fault refuses to map pages back while the device's memory is
    disabled; the user process gets SIGBUS, which the simulation raises as this.
    """

    def __init__(self, device: str, bar: int, offset: int, write: bool) -> None:
        self.device, self.bar, self.offset, self.write = device, bar, offset, write
        access = "write" if write else "read"
        super().__init__(
            f"SIGBUS: {device} BAR {bar} mmap {access} at {offset:#x} while memory is disabled"
        )


class RegionFlags(IntFlag):
    """struct vfio_region_info flags (include/uapi/linux/vfio.h)."""

    READ = 1 << 0
    WRITE = 1 << 1
    MMAP = 1 << 2


@dataclass(frozen=True)
class RegionInfo:
    index: int
    size: int
    flags: RegionFlags


def check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OSError(errno.EINVAL, f"{name} must be an int, not {type(value).__name__}")
    return value


def checked_bar(function: PciFunction, index: int) -> Bar:
    """The BAR a region index names (the function refuses an index it has no BAR for)."""
    return function.bar(check_int("BAR index", index))


def check_access(function: PciFunction, index: int, offset: int, size: int) -> Bar:
    """One access to a BAR region: a size the kernel takes, inside the BAR, aligned."""
    bar = checked_bar(function, index)
    check_int("offset", offset)
    check_int("size", size)
    if size not in REGION_SIZES:
        raise OSError(errno.EINVAL, f"BAR access size {size} is not 1, 2, 4 or 8")
    if offset < 0 or offset + size > bar.size:
        raise OSError(
            errno.EINVAL, f"BAR {index} access {offset:#x}+{size} outside 0..{bar.size:#x}"
        )
    if offset % size:
        raise OSError(errno.EINVAL, f"BAR offset {offset:#x} is not aligned to size {size}")
    return bar
