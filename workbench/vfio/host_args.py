"""The host's arguments for a new PCI function, checked before anything is placed: a
ValueError that names the argument, never a half-built topology."""

from __future__ import annotations

from collections.abc import Sequence

from workbench.vfio.pci import ROM_MAX_SIZE, BarSpec, check_bar_layout, rom_spec

# Mellanox ConnectX-5, a common SR-IOV NIC on both x86 and IBM Z.
DEFAULT_VENDOR = 0x15B3
DEFAULT_PF_DEVICE = 0x1017
DEFAULT_VF_DEVICE = 0x1018
DEFAULT_BARS = (BarSpec(0x4000, "mem64"),)


def int_arg(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an int in {low:#x}..{high:#x}, got {value!r}")
    return value


def bar_list(name: str, specs: Sequence[BarSpec | None] | None) -> list[BarSpec | None]:
    """The BAR layout given (a 16 KiB 64-bit BAR 0 when none is), checked."""
    out = list(DEFAULT_BARS if specs is None else specs)
    try:
        check_bar_layout(out)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    return out


def check_ids(vendor_id: int, device_id: int) -> None:
    int_arg("vendor_id", vendor_id, 0, 0xFFFE)
    int_arg("device_id", device_id, 0, 0xFFFF)


def pf_bar_specs(*, vf_device_id: int, total_vfs: int, first_vf_offset: int, vf_stride: int,
                 bars: Sequence[BarSpec | None] | None,
                 vf_bars: Sequence[BarSpec | None] | None, rom_size: int | None,
                 shadow_rom: bool, setup_rom_len: int
                 ) -> tuple[list[BarSpec | None], list[BarSpec | None]]:
    """An SR-IOV PF's arguments beyond its IDs; its BAR layout and its VFs'."""
    int_arg("vf_device_id", vf_device_id, 0, 0xFFFF)
    int_arg("total_vfs", total_vfs, 1, 0xFFFF)
    int_arg("first_vf_offset", first_vf_offset, 1, 0xFFFF)
    int_arg("vf_stride", vf_stride, 1, 0xFFFF)
    pf_specs = bar_list("bars", bars)
    vf_specs = bar_list("vf_bars", vf_bars)
    if any(s is not None and s.is_io for s in vf_specs):
        raise ValueError("vf_bars: VF BARs are memory BARs (SR-IOV has no I/O VF BARs)")
    if rom_size is not None:
        rom_spec(rom_size)
    if not isinstance(shadow_rom, bool):
        raise ValueError(f"shadow_rom must be true or false, not {shadow_rom!r}")
    int_arg("setup_rom_len", setup_rom_len, 0, ROM_MAX_SIZE)
    return pf_specs, vf_specs


def detached_vf_bar_specs(vfn: int, bars: Sequence[BarSpec | None] | None
                          ) -> list[BarSpec | None]:
    """A detached VF's arguments beyond its IDs; its BAR layout."""
    int_arg("vfn", vfn, 1, 0xFFFF)
    specs = bar_list("bars", bars)
    if any(s is not None and s.is_io for s in specs):
        raise ValueError("bars: a VF has no I/O BARs")
    return specs
