"""Integer widths and the one grammar for numbers a person types or a file holds.

A shared leaf like `workbench.lazy`: every layer (kvm, hostkvm, vfio, session, gui) may
import it, and it imports nothing of the workbench. Scenario files, recordings, the log's
filter box and the GUI's number fields all accept the same spellings, so a value copied
from one place into another is read the same way everywhere.
"""

from __future__ import annotations

import re
from typing import Any

U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1

Number = int | str  # a file field that holds an integer or its spelling

NUMBER_HINT = 'decimal or 0x hex, e.g. 4, "4" or "0x4"'

# Hex with a 0x prefix or decimal (leading zeros allowed: "010" is ten, never octal), an
# optional minus, "_" between digits as in Python literals; any size.
_NUMBER = re.compile(r"-?(0[xX](_?[0-9a-fA-F])+|[0-9](_?[0-9])*)")


def parse_int(text: str) -> int:
    """The number `text` spells (surrounding blanks ignored); ValueError if it is none."""
    stripped = text.strip()
    if not _NUMBER.fullmatch(stripped):
        raise ValueError(f"{text!r} is not a number ({NUMBER_HINT})")
    hexadecimal = "x" in stripped or "X" in stripped
    return int(stripped, 16 if hexadecimal else 10)


def as_int(value: Any, field: str) -> int:
    """An int as given, or one spelled as a string (TOML and JSON hold both); ValueError
    naming `field` for anything else, booleans included."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return parse_int(value)
        except ValueError as exc:
            raise ValueError(f"{field}: {exc}") from None
    raise ValueError(f"{field}: expected an integer, got {type(value).__name__}")
