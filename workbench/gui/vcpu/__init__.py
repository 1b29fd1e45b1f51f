"""The vCPU panel: disassembly, registers, breakpoints, the pending exit, handlers, source."""

from workbench.gui.vcpu.panel import VcpuPanel

__all__ = ["VcpuPanel"]
