"""The kernel's tracefs `trace` text (cat /sys/kernel/tracing/trace) -> a Capture."""

from __future__ import annotations

import re
from pathlib import Path

from workbench.capture.kernel_events import KernelEvents
from workbench.capture.model import Capture
from workbench.capture.msr_lines import feed_text

# Comment lines (`#`) are the header; blank lines say nothing.
HEADER = re.compile(r"#|\s*$")


def looks_like(lines: list[str]) -> bool:
    return bool(lines) and lines[0].startswith("# tracer:")


def parse(source: Path, text: str) -> Capture:
    """Every line but the header's is an event or is skipped."""
    reader = KernelEvents()
    feed_text(reader, text, HEADER)
    return Capture(source=source, format="tracefs", events=reader.events, skipped=reader.skipped,
                   meta={"threads": reader.threads})
