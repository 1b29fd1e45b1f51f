"""Real VMMs in: captures of a running VMM, kernel and QEMU traces, and "what if" replays.

    cap = workbench.capture.load("qemu.capture")     # or tracefs/trace-cmd/QEMU trace text
    cap.msr_accesses(); cap.user_exits(); cap.config_accesses()
    result = workbench.capture.whatif(cap, profile="linux-5.10")

The package sits between the session and the engines: it parses and replays, the session
shows a loaded capture in every panel.
"""

from __future__ import annotations

from workbench.capture.detect import load
from workbench.capture.errors import CaptureError
from workbench.capture.model import (
    Capture,
    ConfigAccess,
    IoctlRecord,
    MsrAccess,
    MsrExitAnswer,
    SkippedLine,
    UserExit,
)
from workbench.capture.whatif import AccessReport, WhatIfResult, whatif

__all__ = [
    "AccessReport", "WhatIfResult", "whatif",
    "Capture", "CaptureError", "ConfigAccess", "IoctlRecord", "MsrAccess", "MsrExitAnswer",
    "SkippedLine", "UserExit", "load",
]
