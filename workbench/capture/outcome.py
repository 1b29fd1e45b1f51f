"""How a captured VMM ended, for the capture's end record and the command's message."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field


@dataclass
class Outcome:
    """How the VMM ended, for the capture's end record and the command's message."""

    exit_status: int | None = None
    signal: int | None = None
    interrupted: bool = False
    error: str | None = None
    events: list[dict] = field(default_factory=list)   # without a sink given to the Tracer

    def describe(self) -> str:
        if self.error:
            return self.error
        if self.signal is not None:
            return f"the VMM was killed by signal {signal.Signals(self.signal).name}"
        return f"the VMM exited with status {self.exit_status}"
