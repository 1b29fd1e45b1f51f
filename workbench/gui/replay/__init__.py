"""The replay view (issue 7): move through a session's history, bookmark it, jump to the
first #GP, denied MSR or blocked MMIO."""

from workbench.gui.replay.view import ReplayView

__all__ = ["ReplayView"]
