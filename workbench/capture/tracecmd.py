"""`trace-cmd report` text -> a Capture.

The report opens with `cpus=N` (and, in newer trace-cmd, `version = N`), may say `CPU N is
empty` or `CPU:N [LOST N EVENTS]`, and prefixes each event with its instance name when it was
recorded into one (`trace-cmd extract -B NAME`); events print as in tracefs.
"""

from __future__ import annotations

import re
from pathlib import Path

from workbench.capture.kernel_events import KernelEvents
from workbench.capture.model import Capture
from workbench.capture.msr_lines import feed_text

HEADER = re.compile(r"^(?:cpus=\d+|version = \S+|CPU \d+ is empty|CPU:\d+ \[LOST \d+ EVENTS\]"
                     r"|trace-cmd: .*|\s*$)")


def looks_like(lines: list[str]) -> bool:
    """`cpus=N` near the top: `version = N` alone would also match a scenario file."""
    return any(re.match(r"^cpus=\d+\s*$", line) for line in lines[:10])


def parse(source: Path, text: str) -> Capture:
    reader = KernelEvents()
    feed_text(reader, text, HEADER)
    return Capture(source=source, format="trace-cmd", events=reader.events,
                   skipped=reader.skipped, meta={"threads": reader.threads})
