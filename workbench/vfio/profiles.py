"""Kernel profiles for the PCI core and vfio-pci: the behaviours that differ by release.

Code asks the profile a question instead of comparing version strings. The one
difference the model has is commit "vfio/pci: Decouple PCI_COMMAND_MEMORY bit checks
from is_virtfn" (v5.10): vfio-pci's MSE emulation moved from pdev->is_virtfn to the new
pdev->no_command_memory, which the IOV core sets in pci_iov_add_virtfn and s390 sets in
pcibios_bus_add_device for every VF. Like the KVM profiles, each switch is derived from
the rows of ../shared/spec/kernel-versions.md and names the commit that set it: the D3hot
gate of 5.19 (row 11c: no memory access while the device is in D3hot, mmaps zapped on
the way in) and the ROM BAR fixup of 6.14 (row 11e: the shadow-ROM case gone, a ROM from
platform setup data shown at the ROM BAR) are modelled like the 5.10 decoupling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.kvm.changes import (
    Change,
    Setting,
    Step,
    build_profile,
    find_profile,
    switch_settings,
)
from workbench.vfio.events import Site

if TYPE_CHECKING:
    from workbench.vfio.pci import PciFunction

_BEFORE = Change("11a", "Linux 5.9 as released (MSE emulation keyed on is_virtfn)", None,
                 "v5.9")
_DECOUPLE = Change("11a", "vfio/pci: Decouple PCI_COMMAND_MEMORY bit checks from is_virtfn",
                   "515ecd5368f1", "v5.10",
                   note="with 'PCI/IOV: Mark VFs as not implementing PCI_COMMAND_MEMORY' "
                        "(12856e7acde4) and, for s390, 08b6e22b850c")

BASELINE: dict[str, tuple[Any, Change]] = {
    "has_no_command_memory": (False, _BEFORE),
    "zpci_link_site": (Site.ZPCI_BUS_SETUP_VIRTFN, Change(
        "12b", "s390 PF/VF linking in pci_bus.c", None, "v5.8", inferred=True)),
    "d3hot_gate": (False, Change("11c", "vfio-pci before 5.19: no power-state check in "
                                        "__vfio_pci_memory_enabled", None, "v5.9")),
    "rom_bar_from_setup_data": (False, Change(
        "11e", "vfio_bar_fixup with its shadow-ROM case", None, "v5.9")),
}
STEPS: tuple[Step, ...] = (
    Step("has_no_command_memory", True, (5, 10), _DECOUPLE),
    Step("zpci_link_site", Site.ZPCI_IOV_SETUP_VIRTFN, (5, 10), Change(
        "12b", "s390/pci: consolidate SR-IOV specific code", "abb95b7550f8", "v5.10")),
    Step("d3hot_gate", True, (5, 19), Change(
        "11c", "vfio/pci: Invalidate mmaps and block the access in D3hot power state",
        "2b2c651baf1c", "v5.19")),
    Step("rom_bar_from_setup_data", True, (6, 14), Change(
        "11e", "vfio/pci: Remove shadow ROM specific code paths", "c5a8b5d740ef", "v6.14",
        note="and 'vfio/pci: Expose setup ROM at ROM bar when needed' (e021e6cbfb5a)")),
)

# Rows of the spec that are the same in every profile (row, behaviour, change); several
# rest on facts the spec only inferred, which the explanation and the GUI flag.
INVARIANTS: tuple[tuple[str, str, Change], ...] = (
    ("11b", "vfio-pci split into vfio_pci_core (renames only; the MSE code is unchanged)",
     Change("11b", "vfio/pci: Rename vfio_pci.c to vfio_pci_core.c", "1cbd70fe3787", "v5.15",
            inferred=True, note="hashes read, release inferred")),
    ("11d", "mmaps zapped through unmap_mapping_range() (same MSE semantics)", Change(
        "11d", "vfio/pci: Use unmap_mapping_range()", "aac6db75a9fc", "v6.10",
        inferred=True)),
    ("11f", "vfio_need_bar_restore and the MSE parts of vfio_basic_config_read/write, "
            "as in v5.10", Change("11f", "no change found after v5.10", None, "v5.10",
                                  inferred=True, note="absence of evidence")),
    ("12a", "s390: every VF, detached ones too, has no_command_memory (from v5.10)",
     Change("12a", "s390/pci: Mark all VFs as not implementing PCI_COMMAND_MEMORY",
            "08b6e22b850c", "v5.10")),
)
# Rows outside what the model can show.
NOT_MODELLED: tuple[tuple[str, str, Change], ...] = (
    ("12c", "s390 isolated-VF bus placement (own domain, devfn 0) from v6.13; "
            "no_command_memory unchanged", Change(
        "12c", "s390/pci: Ignore RID for isolated VFs", "25f39d3dcb48", "v6.13",
        inferred=True, note="release inferred from the AUTOSEL date")),
)


@dataclass(frozen=True)
class VfioProfile:
    name: str
    version: tuple[int, int]
    # struct pci_dev has no_command_memory and vfio-pci keys its MSE logic on it.
    has_no_command_memory: bool
    # Where s390 links a VF to a PF it can see (renamed between the releases).
    zpci_link_site: Site
    # __vfio_pci_memory_enabled also wants current_state < D3hot, and a write of D3hot to
    # PMCSR zaps the user's mmaps first (5.19).
    d3hot_gate: bool
    # vfio_bar_fixup without a ROM resource: a 128 KiB shadow-ROM BAR before 6.14, from
    # 6.14 the platform's setup-data ROM (pdev->rom, romlen rounded up to a power of two).
    rom_bar_from_setup_data: bool
    stable: bool = False
    origin: Mapping[str, Change] = field(default_factory=dict, compare=False, repr=False)

    def mse_key(self, function: PciFunction) -> bool:
        """The "key" of the spec's table: does vfio-pci emulate MSE for this function?"""
        if self.has_no_command_memory:
            return function.no_command_memory
        return function.is_virtfn

    def settings(self) -> list[Setting]:
        """Every switch with its value and the change that set it, then the rows the
        model does not have (modelled=False)."""
        return switch_settings(self, BASELINE, NOT_MODELLED)


def _profile(version: tuple[int, int], stable: bool = False) -> VfioProfile:
    return build_profile(VfioProfile, version, stable, BASELINE, STEPS)


LINUX_5_9 = _profile((5, 9))
LINUX_5_10 = _profile((5, 10))

PROFILES: dict[str, VfioProfile] = {p.name: p for p in (
    LINUX_5_9, LINUX_5_10, _profile((5, 10), stable=True), _profile((5, 15)),
    _profile((6, 1)), _profile((6, 6)), _profile((6, 12)), _profile((6, 18)))}
DEFAULT_PROFILE = LINUX_5_10
PLATFORMS = ("x86", "s390")


def get_profile(name: str | VfioProfile | None) -> VfioProfile:
    """Look a profile up by name; None means the default (linux-5.10)."""
    return find_profile("vfio", name, PROFILES, DEFAULT_PROFILE, VfioProfile)


def check_platform(platform: object) -> str:
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r} (known: {', '.join(PLATFORMS)})")
    return str(platform)
