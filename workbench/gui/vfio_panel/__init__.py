"""The VFIO panel (issue 7): PCI topology, config space in three layers, vfio accesses,
and the same PCI commands under linux-5.9 and linux-5.10."""

from workbench.gui.vfio_panel.panel import VfioPanel
from workbench.gui.vfio_panel.profiles import ProfileSideBySide

__all__ = ["ProfileSideBySide", "VfioPanel"]
