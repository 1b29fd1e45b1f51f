"""The kernel's tracefs `trace` text (cat /sys/kernel/tracing/trace) -> a Capture."""

from __future__ import annotations

from pathlib import Path

from workbench.capture.kernel_events import KernelEvents
from workbench.capture.model import Capture, SkippedLine


def looks_like(lines: list[str]) -> bool:
    return bool(lines) and lines[0].startswith("# tracer:")


def parse(source: Path, lines: list[str]) -> Capture:
    """Comment lines (`#`) are the header; every other line is an event or is skipped."""
    reader = KernelEvents()
    for number, line in enumerate(lines, start=1):
        if line.startswith("#") or not line.strip():
            continue
        if not reader.feed(number, line):
            reader.skipped.append(SkippedLine(number, "not an event line"))
    return Capture(source=source, format="tracefs", events=reader.events, skipped=reader.skipped,
                   meta={"threads": reader.threads})
