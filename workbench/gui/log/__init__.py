"""The trap log: a lazy table model over the session's event log, and its panel."""

from workbench.gui.log.model import TrapLogModel
from workbench.gui.log.panel import TrapLogPanel

__all__ = ["TrapLogModel", "TrapLogPanel"]
