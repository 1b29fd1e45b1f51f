"""QEMU exits/s under `workbench capture` vs without it, and trace text import in lines/s.

The guest is the MSR probe built with LOOPS `out`s to port 0x80 (each one exit to QEMU)
between two marks it writes to isa-debugcon (QEMU's stdout): the rate is LOOPS over the
time between the marks as this process sees them arrive, so QEMU's and SeaBIOS's start-up
(seconds on a nested host) is not counted. Rounds alternate plain / captured / captured
with kernel events / with Python handling the stops / with QEMU and the capture on one CPU
(taskset) / the stop floor (stop_floor.c, where gcc is there: a tracer that does nothing but
stop each KVM_RUN, sleeping between stops) so machine noise hits all alike; each figure is
the median round.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from workbench.capture import load, probe, tracecmd, tracefs, tracefs_live
from workbench.capture.kernel_events import KernelEvents
from workbench.capture.tracer import ptrace_unavailable_reason

LOOPS = 30_000
ROUNDS = 3
_BOOT, _START, _STOP = b"0000:7c00", b"PK", b"\n"   # SeaBIOS's last line, the probe's marks
TIMEOUT = 600
IMPORT_LINES = 200_000
STOP_FLOOR_SOURCE = Path(__file__).with_name("stop_floor.c")


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


def _capture(out: Path, kernel_events: bool, python_stops: bool = False) -> list[str]:
    flags = ([] if kernel_events else ["--no-kernel-events"]) + (
        ["--python-stops"] if python_stops else [])
    return [sys.executable, "-m", "workbench.cli", "capture", *flags, "-o", str(out), "--"]


def _stop_floor(tmp: Path) -> str | None:
    """stop_floor.c built here: a tracer that only stops each KVM_RUN (None without gcc)."""
    binary = tmp / "stop_floor"
    try:
        subprocess.run(["gcc", "-O2", "-o", str(binary), str(STOP_FLOOR_SOURCE)],
                       check=True, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    return str(binary)


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
        modes["captured_python_stops"] = _capture(out, False, python_stops=True)
        if shutil.which("taskset"):
            modes["captured_one_cpu"] = ["taskset", "-c", "0", *_capture(out, False)]
        floor = _stop_floor(Path(tmp))
        if floor is not None:
            modes["floor"] = [floor, "--"]
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


def _trace_text(lines: int, header: str) -> str:
    body = [f" qemu-system-x86-4242    [001] .....  {100 + i * 1e-5:.6f}: kvm_msr: "
            f"msr_{'read' if i % 2 else 'write'} {0x10 + i % 64:x} = 0x{i:x}\n"
            for i in range(lines)]
    return header + "".join(body)


def _line_by_line(path: Path, header: re.Pattern[str]) -> int:
    """The reader `load` used before its bulk path: every line through KernelEvents.feed."""
    reader = KernelEvents()
    reader.feed_lines(path.read_bytes().decode("utf-8", errors="replace").splitlines(), header)
    return len(reader.events)


def _loaded(path: Path) -> int:
    return len(load(path).msr_accesses())


def _rate(lines: int, read: Callable[[], int]) -> tuple[float, float, int]:
    """(lines/s of wall time, lines/s of this process's CPU time, accesses read)."""
    wall, cpu = time.perf_counter(), time.process_time()
    accesses = read()
    return (lines / (time.perf_counter() - wall), lines / (time.process_time() - cpu), accesses)


def import_lines_per_second(lines: int = IMPORT_LINES) -> dict:
    """tracefs `trace` and `trace-cmd report` text: `workbench.capture.load` against the
    line-by-line reader it replaced, alternating, best of ROUNDS each."""
    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-capture-") as tmp:
        for name, header, pattern in (("tracefs", "# tracer: nop\n#\n", tracefs.HEADER),
                                      ("trace_cmd", "cpus=2\n", tracecmd.HEADER)):
            path = Path(tmp) / f"{name}.txt"
            path.write_text(_trace_text(lines, header))
            runs: dict[str, list[tuple[float, float, int]]] = {"load": [], "line_by_line": []}
            for _ in range(ROUNDS):
                runs["line_by_line"].append(_rate(lines, partial(_line_by_line, path, pattern)))
                runs["load"].append(_rate(lines, partial(_loaded, path)))
            for how, rates in runs.items():
                best = max(rates)
                figures[f"{name}_{how}_lines_per_s"] = best[0]
                figures[f"{name}_{how}_cpu_lines_per_s"] = best[1]
                figures[f"{name}_{how}_accesses"] = best[2]
    return figures


def run(imports_only: bool = False) -> dict:
    return {**({} if imports_only else exits_per_second()), **import_lines_per_second()}


def main() -> None:
    """`python -m benchmarks.bench_capture import`: the text imports only (no QEMU)."""
    imports_only = sys.argv[1:] == ["import"]
    figures = run(imports_only)
    if imports_only:
        pass
    elif "unavailable" in figures:
        print(f"capture: unavailable ({figures['unavailable']})")
    else:
        print(f"QEMU, no capture:                 {figures['plain_exits_per_s']:>10,.0f} exits/s")
        print(f"under capture (ptrace only):      {figures['captured_exits_per_s']:>10,.0f} "
              f"exits/s  ({figures['captured_ratio']:.2f}x)")
        for mode, label in (("captured_with_kernel_events", "under capture (+ tracefs events)"),
                            ("captured_python_stops", "under capture, stops in Python"),
                            ("captured_one_cpu", "under capture, taskset -c 0"),
                            ("floor", "stop floor (stops, nothing else)")):
            if f"{mode}_exits_per_s" in figures:
                print(f"{label + ':':<34}{figures[f'{mode}_exits_per_s']:>10,.0f} exits/s  "
                      f"({figures[f'{mode}_ratio']:.2f}x)")
    for name in ("tracefs", "trace_cmd"):
        for how, what in (("line_by_line", "line by line"), ("load", "load")):
            key = f"{name}_{how}"
            print(f"{name} text import, {what + ':':<22} {figures[key + '_lines_per_s']:>10,.0f} "
                  f"lines/s  ({figures[key + '_cpu_lines_per_s']:,.0f} lines per CPU second)")


if __name__ == "__main__":
    main()
