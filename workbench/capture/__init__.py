"""Real VMMs in: captures of a running VMM, kernel and QEMU traces, and "what if" replays.

    cap = workbench.capture.load("qemu.capture")     # or tracefs/trace-cmd/QEMU trace text
    cap.msr_accesses(); cap.user_exits(); cap.config_accesses()
    result = workbench.capture.whatif(cap, profile="linux-5.10")

The package sits between the session and the engines: it parses and replays, the session
shows a loaded capture in every panel.
"""

from __future__ import annotations

from workbench.lazy import lazy_face

# Public name -> its module, loaded on first use: the command line imports
# workbench.capture.cli for its arguments, which must not load every reader and replay.
_LAZY = {
    "load": "workbench.capture.detect",
    "CaptureError": "workbench.capture.errors",
    "AccessReport": "workbench.capture.msr_whatif",
    "WhatIfResult": "workbench.capture.msr_whatif",
    "whatif": "workbench.capture.msr_whatif",
    **{name: "workbench.capture.model" for name in (
        "Capture", "ConfigAccess", "IoctlRecord", "MsrAccess", "MsrExitAnswer",
        "SkippedLine", "UserExit")},
}

__getattr__, __dir__ = lazy_face(globals(), _LAZY)

__all__ = [
    "AccessReport", "WhatIfResult", "whatif",
    "Capture", "CaptureError", "ConfigAccess", "IoctlRecord", "MsrAccess", "MsrExitAnswer",
    "SkippedLine", "UserExit", "load",
]
