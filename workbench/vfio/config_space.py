"""A 4 KiB little-endian PCI configuration space and its register offsets.

PCI config space is little-endian whatever the CPU is, and the kernel only issues
naturally aligned 1-, 2- and 4-byte accesses (pci_user_read_config_* in
drivers/pci/access.c); anything else is refused with EINVAL, so every layer above
shares the one checker here.
"""

from __future__ import annotations

import errno

CONFIG_SPACE_SIZE = 0x1000
STD_HEADER_SIZE = 0x40
LEGACY_CONFIG_SIZE = 0x100

# Type-0 header (include/uapi/linux/pci_regs.h names, lower-cased).
VENDOR_ID = 0x00
DEVICE_ID = 0x02
COMMAND = 0x04
STATUS = 0x06
REVISION_ID = 0x08
CLASS_PROG = 0x09
CACHE_LINE_SIZE = 0x0C
LATENCY_TIMER = 0x0D
HEADER_TYPE = 0x0E
BIST = 0x0F
BAR0 = 0x10
NUM_BARS = 6
SUBSYSTEM_VENDOR_ID = 0x2C
SUBSYSTEM_ID = 0x2E
ROM_ADDRESS = 0x30
CAPABILITY_LIST = 0x34
INTERRUPT_LINE = 0x3C
INTERRUPT_PIN = 0x3D

CMD_IO = 0x0001
CMD_MEMORY = 0x0002
CMD_MASTER = 0x0004
CMD_INTX_DISABLE = 0x0400

STATUS_CAP_LIST = 0x0010

BAR_SPACE_IO = 0x1
BAR_MEM_TYPE_64 = 0x4
BAR_MEM_PREFETCH = 0x8
ROM_ENABLE = 0x1

ACCESS_SIZES = (1, 2, 4)


def bar_offset(index: int) -> int:
    """Config offset of standard BAR `index` (0-5)."""
    return BAR0 + 4 * index


def is_bar_offset(offset: int) -> bool:
    """True for the BAR and ROM BAR dwords, which vfio-pci virtualizes as a whole (is_bar)."""
    return BAR0 <= offset < bar_offset(NUM_BARS) or ROM_ADDRESS <= offset < ROM_ADDRESS + 4


def check_access(offset: object, size: object, limit: int = CONFIG_SPACE_SIZE) -> None:
    """Raise OSError(EINVAL) unless (offset, size) is a naturally aligned access inside `limit`."""
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise OSError(errno.EINVAL, f"config offset must be an int, not {type(offset).__name__}")
    if isinstance(size, bool) or not isinstance(size, int):
        raise OSError(errno.EINVAL, f"access size must be an int, not {type(size).__name__}")
    if size not in ACCESS_SIZES:
        raise OSError(errno.EINVAL, f"config access size {size} is not 1, 2 or 4")
    if offset < 0 or offset + size > limit:
        raise OSError(errno.EINVAL, f"config offset {offset:#x}+{size} is outside 0..{limit:#x}")
    if offset % size:
        raise OSError(errno.EINVAL, f"config offset {offset:#x} is not aligned to size {size}")


def check_value(value: object, size: int) -> int:
    """Return `value` if it fits `size` bytes, else raise OSError(EINVAL)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise OSError(errno.EINVAL, f"value must be an int, not {type(value).__name__}")
    if not 0 <= value < 1 << (8 * size):
        raise OSError(errno.EINVAL, f"value {value:#x} does not fit in {size} byte(s)")
    return value


class ConfigSpace:
    """Raw bytes of one function's config space, with little-endian accessors.

    Holds no policy: hardware write masks live in pci.py and vfio-pci's
    permission bits in perms.py, so the same container serves both the device
    and vfio-pci's vconfig copy.
    """

    __slots__ = ("_data",)

    def __init__(self, data: bytes | bytearray | None = None) -> None:
        if data is None:
            self._data = bytearray(CONFIG_SPACE_SIZE)
        elif len(data) != CONFIG_SPACE_SIZE:
            raise ValueError(f"config space must be {CONFIG_SPACE_SIZE} bytes, got {len(data)}")
        else:
            self._data = bytearray(data)

    def read(self, offset: int, size: int) -> int:
        return int.from_bytes(self._data[offset : offset + size], "little")

    def write(self, offset: int, size: int, value: int) -> None:
        self._data[offset : offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(
            size, "little"
        )

    def copy(self) -> ConfigSpace:
        return ConfigSpace(self._data)

    def snapshot(self) -> bytes:
        """An immutable copy, for tests and recorders."""
        return bytes(self._data)
