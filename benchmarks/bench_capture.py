"""QEMU exits/s under `workbench capture` vs without it, and tracefs text import in lines/s.

The guest is the MSR probe built with LOOPS `out`s to port 0x80 (each one exit to QEMU)
between two marks it writes to isa-debugcon (QEMU's stdout): the rate is LOOPS over the
time between the marks as this process sees them arrive, so QEMU's and SeaBIOS's start-up
(seconds on a nested host) is not counted. Rounds alternate plain / captured / captured
with kernel events so machine noise hits all alike; each figure is the median round.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workbench.capture import probe, tracefs_live
from workbench.capture.tracer import ptrace_unavailable_reason

LOOPS = 30_000
ROUNDS = 3
_BOOT, _START, _STOP = b"0000:7c00", b"PK", b"\n"   # SeaBIOS's last line, the probe's marks
TIMEOUT = 600
IMPORT_LINES = 200_000


def _loop_seconds(command: list[str]) -> float:
    """Seconds between the probe's two marks on `command`'s stdout."""
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    seen, began = b"", None
    try:
        while chunk := os.read(proc.stdout.fileno(), 1 << 16):
            seen += chunk
            booted = seen.find(_BOOT)
            if began is None and booted >= 0 and _START in seen[booted:]:
                began = time.perf_counter()
                seen = seen[seen.index(_START, booted) + len(_START):]
            if began is not None and _STOP in seen:
                return time.perf_counter() - began
        raise RuntimeError(f"{command[0]}: the guest never reached its end mark")
    finally:
        proc.wait(timeout=TIMEOUT)
        proc.stdout.close()


def _capture(out: Path, kernel_events: bool) -> list[str]:
    flags = [] if kernel_events else ["--no-kernel-events"]
    return [sys.executable, "-m", "workbench.cli", "capture", *flags, "-o", str(out), "--"]


def exits_per_second(loops: int = LOOPS, rounds: int = ROUNDS) -> dict:
    reason = ptrace_unavailable_reason() or probe.qemu_unavailable_reason()
    if reason is not None:
        return {"unavailable": reason}
    with tempfile.TemporaryDirectory(prefix="bench-capture-") as tmp:
        image = probe.build_image(Path(tmp) / "loop.img", loops)
        qemu = probe.qemu_command(image)
        stdio = qemu.index("null,id=dbg")
        qemu[stdio] = "stdio,id=dbg"
        out = Path(tmp) / "bench.capture"
        modes = {"plain": [], "captured": _capture(out, False)}
        if tracefs_live.unavailable_reason() is None:
            modes["captured_with_kernel_events"] = _capture(out, True)
        rates: dict[str, list[float]] = {mode: [] for mode in modes}
        for _ in range(rounds):
            for mode, prefix in modes.items():
                rates[mode].append(loops / _loop_seconds(prefix + qemu))
    figures: dict = {f"{mode}_exits_per_s": statistics.median(r) for mode, r in rates.items()}
    for mode in modes:
        if mode != "plain":
            figures[f"{mode}_ratio"] = figures[f"{mode}_exits_per_s"] / figures[
                "plain_exits_per_s"]
    return figures


def _tracefs_text(lines: int) -> str:
    body = [f" qemu-system-x86-4242    [001] .....  {100 + i * 1e-5:.6f}: kvm_msr: "
            f"msr_{'read' if i % 2 else 'write'} {0x10 + i % 64:x} = 0x{i:x}\n"
            for i in range(lines)]
    return "# tracer: nop\n#\n" + "".join(body)


def import_lines_per_second(lines: int = IMPORT_LINES) -> dict:
    """tracefs `trace` text through workbench.capture.load, where this build has it."""
    import workbench.capture

    load = getattr(workbench.capture, "load", None)
    if load is None:
        return {"import_unavailable": "workbench.capture.load is not in this build"}
    with tempfile.TemporaryDirectory(prefix="bench-capture-") as tmp:
        path = Path(tmp) / "trace.txt"
        path.write_text(_tracefs_text(lines))
        began = time.perf_counter()
        cap = load(path)
        seconds = time.perf_counter() - began
    return {"import_lines_per_s": lines / seconds, "import_accesses": len(cap.msr_accesses())}


def run() -> dict:
    return {**exits_per_second(), **import_lines_per_second()}


def main() -> None:
    figures = run()
    if "unavailable" in figures:
        print(f"capture: unavailable ({figures['unavailable']})")
    else:
        print(f"QEMU, no capture:                 {figures['plain_exits_per_s']:>10,.0f} exits/s")
        print(f"under capture (ptrace only):      {figures['captured_exits_per_s']:>10,.0f} "
              f"exits/s  ({figures['captured_ratio']:.2f}x)")
        if "captured_with_kernel_events_exits_per_s" in figures:
            print(f"under capture (+ tracefs events): "
                  f"{figures['captured_with_kernel_events_exits_per_s']:>10,.0f} exits/s  "
                  f"({figures['captured_with_kernel_events_ratio']:.2f}x)")
    if "import_lines_per_s" in figures:
        print(f"tracefs text import:              {figures['import_lines_per_s']:>10,.0f} lines/s")
    else:
        print(f"tracefs text import: unavailable ({figures['import_unavailable']})")


if __name__ == "__main__":
    main()
