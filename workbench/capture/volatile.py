"""Which replayed values the replay itself changes: the CPU mode it runs in, and time.

A capture's guest may have run in real mode; the replay runs in the guest runtime's 64-bit
long mode, so EFER reads back with LME/LMA (and the runtime's SCE/NXE) set, and a write of a
real-mode EFER is refused. Counters that advance with time never read back the same. Such
differences are reported as volatile, not as differences from the kernel.
"""

from __future__ import annotations

from workbench.capture.model import MsrAccess

MSR_EFER = 0xC0000080
_EFER_MODE_BITS = (1 << 0) | (1 << 8) | (1 << 10) | (1 << 11)   # SCE, LME, LMA, NXE
TIMED_MSRS = {0x10: "the TSC advances with time", 0xE7: "MPERF advances with time",
              0xE8: "APERF advances with time", 0x3B: "TSC_ADJUST follows the TSC"}


def why_volatile(access: MsrAccess, replay_value: int | None, replay_gp: bool) -> str | None:
    """Why the replay may differ from the capture for this access, or None if it may not."""
    if access.index in TIMED_MSRS:
        return TIMED_MSRS[access.index]
    if access.index != MSR_EFER:
        return None
    if access.write and replay_gp != access.gp:
        return "EFER: the replay runs in long mode, where this write's mode bits are refused"
    if (not access.write and access.value is not None and replay_value is not None
            and (access.value ^ replay_value) & ~_EFER_MODE_BITS == 0):
        return "EFER: the replay runs in long mode (LME/LMA set)"
    return None
