"""The bounds every number read from a scenario or recording file is checked against
before any work starts, and the one safe way to read such a file.

A file is data from a stranger: a count or repeat in it must not make the workbench loop
for hours or allocate gigabytes, and naming a FIFO or /dev/zero must not block it. These
limits are documented in the README ("Limits"); each is far above what a useful scenario
or recording needs.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

MAX_SCENARIO_BYTES = 1 << 20          # a scenario file (TOML): 1 MiB
MAX_RECORDING_BYTES = 256 << 20       # a recording or journal (JSON Lines): 256 MiB
MAX_VCPUS = 64                        # [[vcpus]] in a scenario
MAX_PCI_REPEAT = 100_000              # `repeat` of one [pci] action
MAX_PCI_OFFSET = 1 << 32              # a [pci] `offset` is below 4 GiB
MAX_EXITS = 1_000_000                 # `max_exits` / `interrupt.exits` of one recorded command
MAX_NESTING = 32                      # arrays/inline tables inside each other in TOML


class FileRefused(OSError):
    """A file the workbench will not read (not a regular file, or too large)."""


def read_bounded(path: str | Path, limit: int) -> bytes:
    """The bytes of `path` if it is a regular file of at most `limit` bytes; FileRefused
    (or another OSError) otherwise. Opens without blocking, so a FIFO is refused at once."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"not a regular file (a {_kind(info.st_mode)})")
        if info.st_size > limit:
            raise FileRefused(f"{info.st_size} bytes, more than the limit of {limit}")
        chunks, size = [], 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise FileRefused(f"more than the limit of {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    kinds = [(stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR,
             "character device"), (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")]
    return next((name for test, name in kinds if test(mode)), "special file")


_TOML_TOKENS = re.compile(r'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|'
                          r"'[^'\n]*'|#[^\n]*|[\[\]{}\n]", re.S)


def too_deep(text: str, limit: int = MAX_NESTING) -> int:
    """The 1-based line where TOML arrays/inline tables nest deeper than `limit` (outside
    strings and comments), 0 if none: checked before the parser recurses that deep."""
    depth, line = 0, 1
    for match in _TOML_TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return line
        elif token in ("]", "}"):
            depth -= 1
        else:
            line += token.count("\n")
    return 0
