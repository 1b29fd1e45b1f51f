"""The timeline: a KernelShark/Perfetto-style view of the event log, one lane per vCPU,
PCI device and the VM, drawn at the level of detail the zoom needs (see panel.py)."""

from workbench.gui.timeline.panel import TimelinePanel

__all__ = ["TimelinePanel"]
