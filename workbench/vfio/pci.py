"""PCI functions as hardware sees them: config space with write masks, BARs, registers.

This is the "physical" side that vfio-pci virtualizes. A function's config
space answers pci_user_read/write_config_* the way silicon (or, on s390, the
zPCI firmware) does: read-only bits stay put, BARs size themselves, and memory
decodes only while it is enabled. The kernel's bookkeeping flags (is_virtfn,
physfn, no_command_memory) live here too, but only system.py and sriov.py set
them, where and when the kernel does.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from enum import IntEnum

from workbench.vfio import config_space as cs
from workbench.vfio.config_space import ConfigSpace

PAGE_SIZE = 0x1000
ROM_INDEX = 6  # PCI_ROM_RESOURCE: the expansion ROM follows the six standard BARs
ROM_MIN_SIZE = 0x800  # the ROM BAR's address field starts at bit 11
ROM_MAX_SIZE = 0x100_0000

# Standard capability IDs (pci_regs.h PCI_CAP_ID_*) and their registers.
CAP_ID_PM = 0x01
CAP_ID_EXP = 0x10
PM_CTRL = 0x04
PM_CTRL_STATE_MASK = 0x0003
PM_CTRL_PME_ENABLE = 0x0100
PCI_D0 = 0
PCI_D3HOT = 3
SHADOW_ROM_SIZE = 0x20000  # the legacy VGA shadow at 0xC0000 (IORESOURCE_ROM_SHADOW)
EXP_FLAGS = 0x02
EXP_DEVCAP = 0x04
EXP_DEVCTL = 0x08
EXP_DEVCTL2 = 0x28
EXP_SIZEOF_V2 = 0x3C
EXP_DEVCAP_FLR = 0x10000000
EXP_DEVCTL_FLR = 0x8000
EXP_DEVCTL_PHANTOM = 0x0200
EXP_DEVCTL_PAYLOAD = 0x00E0
EXP_DEVCTL_READRQ = 0x7000
EXP_DEVCTL2_ARI = 0x0020
EXP_TYPE_ENDPOINT = 0x0
PM_SIZEOF = 8


class FunctionKind(IntEnum):
    PF = 1  # an SR-IOV physical function
    VF = 2  # a VF created through its PF's SR-IOV capability (linked on s390)
    DETACHED_VF = 3  # s390: a VF whose PF this Linux cannot see


@dataclass(frozen=True, order=True)
class PciAddress:
    """domain:bus:device.function, the name sysfs and lspci use."""

    domain: int
    bus: int
    devfn: int

    @classmethod
    def from_rid(cls, domain: int, rid: int) -> PciAddress:
        return cls(domain, (rid >> 8) & 0xFF, rid & 0xFF)

    @property
    def rid(self) -> int:
        return self.bus << 8 | self.devfn

    def __str__(self) -> str:
        return f"{self.domain:04x}:{self.bus:02x}:{self.devfn >> 3:02x}.{self.devfn & 7:x}"


@dataclass(frozen=True)
class BarSpec:
    """What a BAR decodes: size (a power of two) and type."""

    size: int = 0x4000
    kind: str = "mem64"  # "mem32" | "mem64" | "io"
    prefetch: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("mem32", "mem64", "io"):
            raise ValueError(f"BAR kind must be mem32, mem64 or io, not {self.kind!r}")
        low = 4 if self.kind == "io" else 16
        high = 256 if self.kind == "io" else (1 << 31 if self.kind == "mem32" else 1 << 40)
        size = self.size
        if isinstance(size, bool) or not isinstance(size, int) or size & (size - 1) or size < low:
            raise ValueError(f"BAR size must be a power of two >= {low}, got {size!r}")
        if size > high:
            raise ValueError(f"{self.kind} BAR size {size:#x} exceeds {high:#x}")
        if self.prefetch and self.kind == "io":
            raise ValueError("an I/O BAR cannot be prefetchable")

    @property
    def is_io(self) -> bool:
        return self.kind == "io"

    @property
    def is_64(self) -> bool:
        return self.kind == "mem64"

    @property
    def flags(self) -> int:
        """The read-only low bits of the BAR (vfio_generate_bar_flags builds the same)."""
        if self.is_io:
            return cs.BAR_SPACE_IO
        return (cs.BAR_MEM_TYPE_64 if self.is_64 else 0) | (
            cs.BAR_MEM_PREFETCH if self.prefetch else 0
        )


def rom_spec(size: object) -> BarSpec:
    """An expansion ROM's size as a BarSpec (32-bit memory, no flags)."""
    if (
        isinstance(size, bool)
        or not isinstance(size, int)
        or not ROM_MIN_SIZE <= size <= ROM_MAX_SIZE
        or size & (size - 1)
    ):
        raise ValueError(
            f"ROM size must be a power of two in {ROM_MIN_SIZE:#x}..{ROM_MAX_SIZE:#x}, got {size!r}"
        )
    return BarSpec(size, "mem32")


def check_bar_layout(specs: list[BarSpec | None]) -> None:
    """BARs occupy six dword slots; a 64-bit BAR takes two and cannot start in slot 5."""
    if len(specs) > cs.NUM_BARS:
        raise ValueError(f"at most {cs.NUM_BARS} BAR slots, got {len(specs)}")
    for i, spec in enumerate(specs):
        if spec is None:
            continue
        if not isinstance(spec, BarSpec):
            raise ValueError(f"BAR {i} must be a BarSpec or None, got {spec!r}")
        if spec.is_64:
            if i == cs.NUM_BARS - 1:
                raise ValueError("a 64-bit BAR cannot start in slot 5")
            if i + 1 < len(specs) and specs[i + 1] is not None:
                raise ValueError(f"BAR {i} is 64-bit, so slot {i + 1} must be None")


class RegisterFile:
    """Deterministic device registers behind a BAR.

    Offset 0 is a read-only identification register (what a driver probes
    first); every other byte is a scratch register that remembers writes.
    """

    ID_SIZE = 4

    def __init__(self, size: int, ident: int) -> None:
        self.size = size
        self.ident = ident & 0xFFFFFFFF
        self._bytes: dict[int, int] = {}

    def _byte(self, addr: int) -> int:
        if addr < self.ID_SIZE:
            return (self.ident >> (8 * addr)) & 0xFF
        return self._bytes.get(addr, 0)

    def read(self, offset: int, size: int) -> int:
        return sum(self._byte(offset + i) << (8 * i) for i in range(size))

    def write(self, offset: int, size: int, value: int) -> None:
        for i in range(size):
            addr = offset + i
            if addr >= self.ID_SIZE:
                self._bytes[addr] = (value >> (8 * i)) & 0xFF


@dataclass
class Bar:
    """A BAR as the PCI core sees it: the resource (start, len, type) and its registers."""

    index: int
    spec: BarSpec
    address: int
    registers: RegisterFile

    @property
    def size(self) -> int:
        return self.spec.size


class PciFunction:
    """One PCI function: config space plus the hardware rules for changing it.

    `wmask` holds the bits hardware lets software change (the way QEMU models
    devices); everything else in config space is read-only. Subclasses decide
    whether the function answers at all and whether its memory decodes.
    """

    kind: FunctionKind

    def __init__(
        self,
        address: PciAddress,
        dev_id: int,
        vendor_id: int,
        device_id: int,
        bars: list[Bar | None],
    ) -> None:
        self.address = address
        self.dev_id = dev_id
        # pdev->vendor / pdev->device: what the PCI core believes, even when the
        # function's own ID registers read 0xFFFF (a VF).
        self.vendor = vendor_id
        self.device = device_id
        self.config = ConfigSpace()
        self.wmask = bytearray(cs.CONFIG_SPACE_SIZE)
        self.bars: list[Bar | None] = list(bars) + [None] * (cs.NUM_BARS - len(bars))
        self.rom: Bar | None = None  # the expansion ROM resource, where the host gave one
        # Without a ROM resource: the ROM resource is flagged IORESOURCE_ROM_SHADOW (x86's
        # boot VGA), or the platform's setup data carries the ROM (pdev->rom, romlen).
        self.shadow_rom = False
        self.setup_rom_len = 0
        self.pm_pos: int | None = None  # the power management capability, if any
        # PCI core flags (include/linux/pci.h), set by system.py / sriov.py.
        self.is_virtfn = False
        self.physfn: PciFunction | None = None
        self.no_command_memory = False
        self.vfn = 0  # s390 zdev->vfn: VF number (1-based), 0 for non-VFs
        self.removed = False
        self._cap_tail = cs.CAPABILITY_LIST
        self._next_cap = cs.STD_HEADER_SIZE
        self._ext_tail: int | None = None
        self._next_ext = cs.LEGACY_CONFIG_SIZE

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address} dev{self.dev_id}>"

    # -- building ---------------------------------------------------------------

    def _set(self, offset: int, size: int, value: int, wmask: int = 0) -> None:
        self.config.write(offset, size, value)
        self.wmask[offset : offset + size] = wmask.to_bytes(size, "little")

    def _init_header(
        self, vendor: int, device: int, command_wmask: int, interrupt_pin: int
    ) -> None:
        self._set(cs.VENDOR_ID, 2, vendor)
        self._set(cs.DEVICE_ID, 2, device)
        self._set(cs.COMMAND, 2, 0, command_wmask)
        self._set(cs.REVISION_ID, 1, 0x01)
        self._set(cs.CLASS_PROG, 3, 0x020000)  # Ethernet controller
        self._set(cs.CACHE_LINE_SIZE, 1, 0, 0xFF)
        self._set(cs.LATENCY_TIMER, 1, 0, 0xFF)
        self._set(cs.SUBSYSTEM_VENDOR_ID, 2, vendor)
        self._set(cs.SUBSYSTEM_ID, 2, device)
        self._set(cs.INTERRUPT_LINE, 1, 0, 0xFF)
        self._set(cs.INTERRUPT_PIN, 1, interrupt_pin)

    def _init_bar_registers(self, decode_in_config: bool) -> None:
        """BAR dwords hold the address and size themselves, or read 0 (a VF's own BARs)."""
        for bar in self.bars:
            if bar is None:
                continue
            off = cs.bar_offset(bar.index)
            if not decode_in_config:
                continue
            low_mask = ~(bar.size - 1) & (0xFFFFFFFC if bar.spec.is_io else 0xFFFFFFF0)
            self._set(off, 4, (bar.address & low_mask) | bar.spec.flags, low_mask)
            if bar.spec.is_64:
                high_mask = (~(bar.size - 1) >> 32) & 0xFFFFFFFF
                self._set(off + 4, 4, bar.address >> 32, high_mask)

    def _init_rom_register(self, rom: Bar | None) -> None:
        """The ROM BAR holds the host's address with decoding off (the enable bit clear)."""
        self.rom = rom
        if rom is not None:
            mask = ~(rom.size - 1) & 0xFFFFF800
            self._set(cs.ROM_ADDRESS, 4, rom.address & mask, mask | cs.ROM_ENABLE)

    def add_capability(self, cap_id: int, length: int) -> int:
        """Append a standard capability to the list at 0x34; return its offset."""
        pos = self._next_cap
        if pos + length > cs.LEGACY_CONFIG_SIZE:
            raise ValueError("standard capabilities do not fit below 0x100")
        self.config.write(self._cap_tail, 1, pos)
        self._set(pos, 1, cap_id)
        self._set(pos + 1, 1, 0)
        status = self.config.read(cs.STATUS, 2) | cs.STATUS_CAP_LIST
        self.config.write(cs.STATUS, 2, status)
        self._cap_tail = pos + 1
        self._next_cap = (pos + length + 0xF) & ~0xF
        return pos

    def add_ext_capability(self, cap_id: int, version: int, length: int) -> int:
        """Append a PCIe extended capability to the chain at 0x100; return its offset."""
        pos = self._next_ext
        if pos + length > cs.CONFIG_SPACE_SIZE:
            raise ValueError("extended capabilities do not fit in 4 KiB")
        if self._ext_tail is not None:
            header = self.config.read(self._ext_tail, 4)
            self.config.write(self._ext_tail, 4, (header & 0x000FFFFF) | pos << 20)
        self._set(pos, 4, cap_id | (version & 0xF) << 16)
        self._ext_tail = pos
        self._next_ext = (pos + length + 0xF) & ~0xF
        return pos

    def add_pm_capability(self) -> int:
        pos = self.pm_pos = self.add_capability(CAP_ID_PM, PM_SIZEOF)
        self._set(pos + 2, 2, 0x0003)  # PM spec version 1.2
        self._set(pos + PM_CTRL, 2, 0x0008, PM_CTRL_STATE_MASK | PM_CTRL_PME_ENABLE)
        return pos

    def add_exp_capability(self, flr: bool = True) -> int:
        pos = self.add_capability(CAP_ID_EXP, EXP_SIZEOF_V2)
        self._set(pos + EXP_FLAGS, 2, 0x0002 | EXP_TYPE_ENDPOINT << 4)  # version 2
        self._set(pos + EXP_DEVCAP, 4, (EXP_DEVCAP_FLR if flr else 0) | 0x1)
        self._set(pos + EXP_DEVCTL, 2, 0x2810, 0xFFFF & ~EXP_DEVCTL_FLR)
        self._set(pos + EXP_DEVCTL2, 2, 0, 0xFFFF)
        return pos

    # -- hardware behaviour -----------------------------------------------------

    def present(self) -> bool:
        """Does the function answer config cycles? A disabled VF does not."""
        return not self.removed

    def power_state(self) -> int:
        """PMCSR's PowerState (D0..D3hot); a function without the capability stays in D0."""
        if self.pm_pos is None:
            return PCI_D0
        return self.config.read(self.pm_pos + PM_CTRL, 2) & PM_CTRL_STATE_MASK

    def memory_decodes(self) -> bool:
        """Does the function respond to its memory BARs right now? Outside D0 a function
        accepts configuration requests only (PCI PM 1.2)."""
        return self.power_state() == PCI_D0 and bool(
            self.config.read(cs.COMMAND, 2) & cs.CMD_MEMORY)

    def io_decodes(self) -> bool:
        return self.power_state() == PCI_D0 and bool(self.config.read(cs.COMMAND, 2) & cs.CMD_IO)

    def config_read(self, offset: int, size: int) -> int:
        """pci_user_read_config_*: a function that does not answer reads all ones."""
        cs.check_access(offset, size)
        if not self.present():
            return (1 << (8 * size)) - 1
        return self.config.read(offset, size)

    def config_write(self, offset: int, size: int, value: int) -> None:
        """pci_user_write_config_*: only bits hardware implements as writable change."""
        cs.check_access(offset, size)
        cs.check_value(value, size)
        if not self.present():
            return
        mask = int.from_bytes(self.wmask[offset : offset + size], "little")
        old = self.config.read(offset, size)
        self.config.write(offset, size, (old & ~mask) | (value & mask))

    def bar(self, index: int) -> Bar:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < cs.NUM_BARS:
            raise OSError(errno.EINVAL, f"BAR index must be 0..5, got {index!r}")
        bar = self.bars[index]
        if bar is None:
            raise OSError(errno.EINVAL, f"{self.address} has no BAR {index}")
        return bar

    def decodes(self, bar: Bar) -> bool:
        return self.present() and (self.io_decodes() if bar.spec.is_io else self.memory_decodes())

    def mmio_read(self, index: int, offset: int, size: int) -> int:
        """A read on the bus: a function that does not decode returns all ones."""
        bar = self.bar(index)
        if not self.decodes(bar):
            return (1 << (8 * size)) - 1
        return bar.registers.read(offset, size)

    def mmio_write(self, index: int, offset: int, size: int, value: int) -> None:
        """A posted write: dropped silently when the function does not decode."""
        bar = self.bar(index)
        if self.decodes(bar):
            bar.registers.write(offset, size, value)

    @property
    def has_memory_bars(self) -> bool:
        return any(b is not None and not b.spec.is_io for b in self.bars)

    @property
    def has_io_bars(self) -> bool:
        return any(b is not None and b.spec.is_io for b in self.bars)
