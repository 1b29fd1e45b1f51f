"""PCI/SR-IOV device model and vfio-pci config virtualization (issue 4).

Public entry points: PciSystem (topology, profile, events), VfioPciDevice (the
user's view, from PciSystem.vfio_open), MmapFault, TrapEvent/EventKind, and the
scenario support in workbench.vfio.story.
"""

from workbench.vfio.events import (
    ActionKind,
    EventKind,
    EventRecorder,
    PciFlag,
    RestoreReason,
    Site,
    TrapEvent,
)
from workbench.vfio.pci import BarSpec, FunctionKind, PciAddress, PciFunction
from workbench.vfio.profiles import LINUX_5_9, LINUX_5_10, PROFILES, VfioProfile, get_profile
from workbench.vfio.regions import MmapFault, RegionFlags, RegionInfo
from workbench.vfio.sriov import (
    FirmwareVirtualFunction,
    PhysicalFunction,
    VirtualFunction,
)
from workbench.vfio.system import PciSystem
from workbench.vfio.vfio_pci import VfioPciDevice

__all__ = [
    "LINUX_5_9",
    "LINUX_5_10",
    "PROFILES",
    "ActionKind",
    "BarSpec",
    "EventKind",
    "EventRecorder",
    "FirmwareVirtualFunction",
    "FunctionKind",
    "MmapFault",
    "PciAddress",
    "PciFlag",
    "PciFunction",
    "PciSystem",
    "PhysicalFunction",
    "RegionFlags",
    "RegionInfo",
    "RestoreReason",
    "Site",
    "TrapEvent",
    "VfioPciDevice",
    "VfioProfile",
    "VirtualFunction",
    "get_profile",
]
