"""The Statistics dock: per-MSR, per-vCPU, per-exit-reason and per-device counts."""

from workbench.gui.stats.panel import StatsPanel

__all__ = ["StatsPanel"]
