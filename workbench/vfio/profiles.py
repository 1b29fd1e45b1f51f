"""Kernel profiles for the PCI core and vfio-pci: the behaviours that differ by release.

Code asks the profile a question instead of comparing version strings. The one
difference that matters here is commit "vfio/pci: Decouple PCI_COMMAND_MEMORY bit
checks from is_virtfn" (v5.10): vfio-pci's MSE emulation moved from
pdev->is_virtfn to the new pdev->no_command_memory, which the IOV core sets in
pci_iov_add_virtfn and s390 sets in pcibios_bus_add_device for every VF.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.vfio.events import Site

if TYPE_CHECKING:
    from workbench.vfio.pci import PciFunction


@dataclass(frozen=True)
class VfioProfile:
    name: str
    version: tuple[int, int]
    # struct pci_dev has no_command_memory and vfio-pci keys its MSE logic on it.
    has_no_command_memory: bool
    # Where s390 links a VF to a PF it can see (renamed between the releases).
    zpci_link_site: Site

    def mse_key(self, function: PciFunction) -> bool:
        """The "key" of the spec's table: does vfio-pci emulate MSE for this function?"""
        if self.has_no_command_memory:
            return function.no_command_memory
        return function.is_virtfn


LINUX_5_9 = VfioProfile(
    name="linux-5.9",
    version=(5, 9),
    has_no_command_memory=False,
    zpci_link_site=Site.ZPCI_BUS_SETUP_VIRTFN,
)

LINUX_5_10 = VfioProfile(
    name="linux-5.10",
    version=(5, 10),
    has_no_command_memory=True,
    zpci_link_site=Site.ZPCI_IOV_SETUP_VIRTFN,
)

PROFILES: dict[str, VfioProfile] = {p.name: p for p in (LINUX_5_10, LINUX_5_9)}
DEFAULT_PROFILE = LINUX_5_10
PLATFORMS = ("x86", "s390")


def get_profile(name: str | VfioProfile | None) -> VfioProfile:
    """Look a profile up by name; None means the default (linux-5.10)."""
    if name is None:
        return DEFAULT_PROFILE
    if isinstance(name, VfioProfile):
        return name
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        known = ", ".join(PROFILES)
        raise ValueError(f"unknown vfio profile {name!r} (known: {known})") from None


def check_platform(platform: object) -> str:
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r} (known: {', '.join(PLATFORMS)})")
    return str(platform)
