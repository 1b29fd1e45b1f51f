"""vfio-pci's virtual BARs: what the user reads at 0x10-0x24 and 0x30, and the saved real ones.

At open vconfig is a copy of the function's own config space, so its BARs start
as whatever the function's BAR registers hold: the host's addresses on a PF and
on an s390 VF (the zPCI firmware emulates its BARs), zeros on an SR-IOV VF. The
fixup (vfio_bar_fixup in drivers/vfio/pci/vfio_pci_config.c) then makes the
copy behave like hardware: the address bits the BAR's size leaves, plus the
type flags, so sizing (write all ones, read back) works on every kind of
function. The real values are saved at open (rbar) to undo a backdoor reset.
"""

from __future__ import annotations

from workbench.values import U32_MAX
from workbench.vfio import config_space as cs
from workbench.vfio.config_space import ConfigSpace
from workbench.vfio.pci import SHADOW_ROM_SIZE, PciFunction
from workbench.vfio.profiles import VfioProfile


def saved_bars(function: PciFunction) -> tuple[int, ...]:
    """rbar: BAR0-5 then the ROM BAR, as the device holds them at open (a VF: zeros)."""
    offsets = [cs.bar_offset(i) for i in range(cs.NUM_BARS)] + [cs.ROM_ADDRESS]
    return tuple(function.config_read(off, 4) for off in offsets)


def vfio_bar_fixup(function: PciFunction, vconfig: ConfigSpace, profile: VfioProfile) -> None:
    """vfio_bar_fixup: each BAR keeps the bits its size leaves and gets its type flags.

    A BAR the host left without a resource reads 0. The ROM BAR keeps its enable
    bit and gets no flags; its size is rom_bar_size's, and without one it reads 0.
    """
    i = 0
    while i < cs.NUM_BARS:
        off = cs.bar_offset(i)
        bar = function.bars[i]
        i += 1
        if bar is None:
            vconfig.write(off, 4, 0)  # unmapped by the host = unimplemented to the user
            continue
        mask = ~(bar.size - 1)
        low = (vconfig.read(off, 4) & mask & U32_MAX) | bar.spec.flags
        vconfig.write(off, 4, low)
        # As the kernel does, the written dword (not the resource) says "64-bit".
        if low & cs.BAR_MEM_TYPE_64 and i < cs.NUM_BARS:
            vconfig.write(off + 4, 4, vconfig.read(off + 4, 4) & (mask >> 32) & U32_MAX)
            i += 1
    size = rom_bar_size(function, profile)
    if not size:
        vconfig.write(cs.ROM_ADDRESS, 4, 0)
    else:
        keep = (~(size - 1) | cs.ROM_ENABLE) & U32_MAX
        vconfig.write(cs.ROM_ADDRESS, 4, vconfig.read(cs.ROM_ADDRESS, 4) & keep)


def rom_bar_size(function: PciFunction, profile: VfioProfile) -> int:
    """The ROM BAR's size in vfio_bar_fixup (0: the user sees no ROM). A ROM resource
    always counts; without one, before 6.14 a shadow ROM (IORESOURCE_ROM_SHADOW) shows
    as 128 KiB, and from 6.14 a ROM from the platform's setup data shows instead, its
    length rounded up to a power of two (commits c5a8b5d740ef and e021e6cbfb5a)."""
    if function.rom is not None:
        return function.rom.size
    if not profile.rom_bar_from_setup_data:
        return SHADOW_ROM_SIZE if function.shadow_rom else 0
    length = function.setup_rom_len
    return 1 << (length - 1).bit_length() if length else 0


def vfio_need_bar_restore(function: PciFunction, rbar: tuple[int, ...]) -> bool:
    """vfio_need_bar_restore: does a BAR0-5 saved non-zero now read differently?

    The ROM BAR and BARs saved as zero (every BAR of an SR-IOV VF) are not compared.
    """
    return any(
        saved and function.config_read(cs.bar_offset(i), 4) != saved
        for i, saved in enumerate(rbar[: cs.NUM_BARS])
    )


def write_saved_bars(function: PciFunction, rbar: tuple[int, ...]) -> None:
    """The writes of vfio_bar_restore: every BAR, then the ROM BAR, from rbar."""
    for i, saved in enumerate(rbar[: cs.NUM_BARS]):
        function.config_write(cs.bar_offset(i), 4, saved)
    function.config_write(cs.ROM_ADDRESS, 4, rbar[cs.NUM_BARS])
