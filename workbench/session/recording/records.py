"""The records of a recording file, one JSON object per line, told apart by "kind".

    {"kind": "header", "format": "workbench-recording", "version": 1, ...}   line 1, once
    {"kind": "command", "step": n, "command": {...}, "digest": "...", ...}    one per command
    {"kind": "bookmark", "step": n, "note": "..."}                            any time; the
                                                   latest per step wins, "" removes it
    {"kind": "end", "steps": n}                                               on a clean close

Known kinds are validated (wrong types are errors) but may carry fields this version does
not know, and readers skip kinds they do not know: a newer workbench can add both.

Each line ends with `"check": "<16 hex>"`, a BLAKE2b hash of the line's bytes without that
field, so `--verify` notices a flipped byte anywhere, even in text replay only shows (event
lines, the scenario's comments). Files from before checks carry none and are read as is.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any

import msgspec

from workbench.session import commands as c

FORMAT = "workbench-recording"
VERSION = 1
EVENT_LINES = 32   # formatted events kept per command: enough for a readable diff

Digest = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{32}$")]
Count = Annotated[int, msgspec.Meta(ge=0)]


class _Record(msgspec.Struct, tag_field="kind", kw_only=True):
    pass


class Header(_Record, tag="header"):
    format: str
    version: int
    app_version: str
    engine: str
    profile: str | None
    vendor: str
    scenario: str                 # the scenario's TOML text: a recording is self-contained
    scenario_name: str = ""
    programs: list[str] = []      # each vCPU's machine code (hex): replay needs no assembler


class CommandRecord(_Record, tag="command"):
    step: Annotated[int, msgspec.Meta(ge=1)]
    command: c.Command
    digest: Digest
    rows: Count
    events: list[str] = []
    error: str | None = None


class Bookmark(_Record, tag="bookmark"):
    step: Count
    note: str


class End(_Record, tag="end"):
    steps: Count


_encoder = msgspec.json.Encoder()
_CHECK = re.compile(rb',"check":"([0-9a-f]{16})"\}\s*$')


def _digest(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=8).hexdigest().encode()


def encode_line(record: _Record | dict[str, Any]) -> bytes:
    """One record as its line, checksum and newline included (a record read back as a dict
    drops its old checksum)."""
    if isinstance(record, dict):
        record = {key: value for key, value in record.items() if key != "check"}
    body = _encoder.encode(record)
    return body[:-1] + b',"check":"' + _digest(body) + b'"}\n'


def line_check(raw: bytes) -> bool | None:
    """None: the line carries no checksum; else whether it matches the line's bytes."""
    match = _CHECK.search(raw)
    if match is None:
        return None
    return _digest(raw[:match.start()] + b"}") == match.group(1)


KNOWN: dict[str, type[_Record]] = {"header": Header, "command": CommandRecord,
                                   "bookmark": Bookmark, "end": End}
