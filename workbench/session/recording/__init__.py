"""Recordings: a session's scenario and commands as JSON Lines, replayed and verified.

`Recorder` journals a running session (crash-safe, see workbench.session.journal),
`open_recording`/`recover` rebuild a session from a file and `Replay` moves through it,
stopping at the first step whose events differ from the recorded ones.
"""

from __future__ import annotations

from pathlib import Path

from workbench.session.journal import SUFFIX, find_unfinished_journals, journal_dir
from workbench.session.recording.reader import RecordingError, RecordingFile, read_recording
from workbench.session.recording.recorder import Recorder
from workbench.session.recording.records import (
    FORMAT,
    VERSION,
    Bookmark,
    CommandRecord,
    End,
    Header,
)
from workbench.session.recording.replay import Divergence, Replay, open_recording, recover

RECORDING_SUFFIXES = (SUFFIX, ".wbrec")


def is_recording(path: str | Path) -> bool:
    """True for a file to open as a recording rather than a scenario: a JSON Lines name,
    or content that starts with "{" (a TOML scenario cannot). A damaged recording is still
    a recording, so opening it gives the recording reader's message, not TOML's."""
    path = Path(path)
    if path.suffix.lower() in RECORDING_SUFFIXES:
        return True
    try:
        with open(path, "rb") as f:
            start = f.read(256)
    except OSError:
        return False
    return start.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{")


__all__ = [
    "FORMAT",
    "RECORDING_SUFFIXES",
    "VERSION",
    "Bookmark",
    "CommandRecord",
    "Divergence",
    "End",
    "Header",
    "Recorder",
    "RecordingError",
    "RecordingFile",
    "Replay",
    "find_unfinished_journals",
    "is_recording",
    "journal_dir",
    "open_recording",
    "read_recording",
    "recover",
]
