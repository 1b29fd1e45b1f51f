"""Host resource assignment: where the PCI core places each BAR, VF BAR and ROM.

Split from system.py so topology and resource placement are read apart. Placement
is naturally aligned and deterministic (same topology, same addresses), with one
window per BAR type, as a host bridge's apertures would have them.
"""

from __future__ import annotations

from workbench.vfio.pci import ROM_INDEX, Bar, BarSpec, RegisterFile, rom_spec

MEM32_WINDOW = 0xC000_0000
MEM64_WINDOW = 0x40_0000_0000
IO_WINDOW = 0x1000


class ResourceAllocator:
    """Bump allocators for the I/O, 32-bit and 64-bit memory windows."""

    def __init__(self) -> None:
        self._mem32 = MEM32_WINDOW
        self._mem64 = MEM64_WINDOW
        self._io = IO_WINDOW

    def alloc(self, spec: BarSpec, count: int = 1) -> int:
        """Place a BAR (or `count` VF slices of one), naturally aligned."""
        size = spec.size * count
        align = spec.size
        if spec.is_io:
            base = (self._io + align - 1) & ~(align - 1)
            self._io = base + size
        elif spec.is_64:
            base = (self._mem64 + align - 1) & ~(align - 1)
            self._mem64 = base + size
        else:
            base = (self._mem32 + align - 1) & ~(align - 1)
            self._mem32 = base + size
            if self._mem32 > 0xFFFF_FFFF:
                raise ValueError("32-bit memory window exhausted; use smaller or mem64 BARs")
        return base

    def bars(self, specs: list[BarSpec | None], ident: int) -> list[Bar | None]:
        """A function's BAR resources, each backed by its own register file."""
        return [
            None if spec is None else Bar(i, spec, self.alloc(spec), RegisterFile(spec.size, ident))
            for i, spec in enumerate(specs)
        ]

    def rom(self, size: int | None, ident: int) -> Bar | None:
        """An expansion ROM resource (a ROM BAR decodes 32-bit addresses only)."""
        if size is None:
            return None
        spec = rom_spec(size)
        return Bar(ROM_INDEX, spec, self.alloc(spec), RegisterFile(size, ident))
