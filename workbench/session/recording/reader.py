"""Read a recording or journal: every valid record up to the first bad line, and what is
wrong with that line (file:line: field: message), never a traceback.

A journal may have been cut short by a crash, so a bad line does not throw the good ones
away: the caller gets the valid prefix plus `problem`. Only a file whose header cannot be
used raises RecordingError. A command record whose step is not the next one rewrites
history from there (the user stepped back and did something else while recording).
Nothing may follow the "end" record. Every line's checksum (see records.py) is checked,
and every command is validated (validate.py) before replay may apply it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from workbench.session.limits import MAX_RECORDING_BYTES, read_bounded
from workbench.session.recording.records import (
    FORMAT,
    KNOWN,
    VERSION,
    Bookmark,
    CommandRecord,
    End,
    Header,
    line_check,
)
from workbench.session.recording.validate import check_command


class RecordingError(ValueError):
    """A file that cannot be used as a recording; the message names the line and field."""


@dataclass
class RecordingFile:
    path: Path
    header: Header
    commands: list[CommandRecord] = field(default_factory=list)
    bookmarks: dict[int, str] = field(default_factory=dict)
    finished: bool = False        # the last record is an "end" matching the commands
    problem: str | None = None    # why reading stopped before the end of the file


class _BadLine(Exception):
    def __init__(self, field: str, message: str, unparsed: bool = False) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.unparsed = unparsed   # not even JSON: on a file's last line, a cut-off write


def _decode(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadLine("", f"not UTF-8 text (byte {raw[exc.start]:#04x} at column "
                           f"{exc.start + 1})", unparsed=True) from None
    try:
        record = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise _BadLine("", f"not JSON ({exc})", unparsed=True) from None
    except RecursionError:
        raise _BadLine("", "arrays or objects nest too deeply") from None
    if not isinstance(record, dict):
        raise _BadLine("$", f"expected a JSON object, got {type(record).__name__}")
    if not isinstance(record.get("kind"), str):
        raise _BadLine("$.kind", f"expected a string, got {record.get('kind')!r:.60}")
    return record


def _checked(raw: bytes, required: bool) -> bool:
    """Whether the line carries a checksum; _BadLine if it does not match (or is missing
    where the header promised one)."""
    check = line_check(raw)
    if check is False:
        raise _BadLine("$.check", "the line does not match its checksum: the file is damaged")
    if check is None and required:
        raise _BadLine("$.check", "missing (the header has one, so every line must)")
    return bool(check)


def _convert(record: dict[str, Any], kind: type) -> Any:
    try:
        parsed = msgspec.convert(record, kind)
        if isinstance(parsed, CommandRecord):
            check_command(parsed.command)
        return parsed
    except msgspec.ValidationError as exc:
        message, sep, where = str(exc).rpartition(" - at ")
        raise _BadLine(where.strip("`") if sep else "$", message if sep else str(exc)) from None
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise _BadLine(field, message) from None
    except RecursionError:
        raise _BadLine("", "arrays or objects nest too deeply") from None


def _header(record: dict[str, Any]) -> Header:
    if record.get("kind") != "header":
        raise _BadLine("$.kind", f"the first record must be the header, got "
                                 f"{record.get('kind')!r}")
    if record.get("format") != FORMAT:
        raise _BadLine("$.format", f"{record.get('format')!r} is not {FORMAT!r}")
    version = record.get("version")
    if version != VERSION:
        raise _BadLine("$.version", f"version {version!r} is not supported (this workbench "
                                    f"reads version {VERSION})")
    return _convert(record, Header)


def read_recording(path: str | Path) -> RecordingFile:
    """Read `path`; RecordingError if it has no usable header."""
    path = Path(path)
    try:
        data = read_bounded(path, MAX_RECORDING_BYTES)
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    lines = data.split(b"\n")
    cut_short = not data.endswith(b"\n")   # the last piece has no newline: maybe half-written
    if not data.strip():
        raise RecordingError(f"{path}: empty file, no header record")
    try:
        recording = RecordingFile(path, _header(_decode(lines[0])))
        checked = _checked(lines[0], False)
    except _BadLine as exc:
        if cut_short and len(lines) == 1 and exc.unparsed:
            raise RecordingError(f"{path}:1: the header line is cut short ({exc})") from None
        raise RecordingError(f"{path}:1: {exc}") from None
    last_end: int | None = None
    for number, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        try:
            record = _decode(raw)
            _checked(raw, checked)
            kind = KNOWN.get(record["kind"])
            if kind is None:
                continue  # a kind from a newer workbench
            if last_end is not None:
                raise _BadLine("$.kind", f"a {record['kind']!r} record after the end record")
            last_end = _take(recording, _convert(record, kind))
        except _BadLine as exc:
            if cut_short and number == len(lines) and exc.unparsed:
                recording.problem = (f"{path}:{number}: the last line is cut short (the "
                                     f"recording stopped mid-write; {exc})")
            else:
                recording.problem = f"{path}:{number}: {exc}"
            break
    recording.finished = recording.problem is None and last_end == len(recording.commands)
    count = len(recording.commands)
    recording.bookmarks = {s: n for s, n in sorted(recording.bookmarks.items()) if s <= count}
    return recording


def _take(recording: RecordingFile, record: Any) -> int | None:
    """Add one valid record; the step count if it was an "end" record."""
    commands = recording.commands
    match record:
        case CommandRecord():
            if record.step > len(commands) + 1:
                raise _BadLine("$.step", f"step {record.step} follows step {len(commands)}")
            del commands[record.step - 1:]
            commands.append(record)
        case Bookmark():
            if record.note:
                recording.bookmarks[record.step] = record.note
            else:
                recording.bookmarks.pop(record.step, None)
        case End():
            if record.steps != len(commands):
                raise _BadLine("$.steps", f"the end record says {record.steps} steps, the "
                                          f"file holds {len(commands)}")
            return record.steps
        case Header():
            raise _BadLine("$.kind", "a second header")
    return None
