"""Durable files: an append-only JSON Lines journal, and whole files replaced atomically.

A session's journal is written as it runs, so a crash of the workbench loses at most the
command being applied: every record is one write() of a complete line followed by a
flush, and the data reaches the disk (os.fsync) at most `sync_interval` seconds later, or
at once when `sync_each` is set. A journal that was closed cleanly ends with an "end"
record; one without it is unfinished, and `find_unfinished_journals` offers it for recovery
unless a live journal still holds its lock (flock, released when the writer dies).

Journals embed a scenario's text and every command, so they and every file written here
are created 0600 (directories 0700): only their owner can read them. A temporary file that
a crash left behind is recognised by the same lock and removed by the next write.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path
from typing import IO

import msgspec

from workbench.atomic import in_use

APP_DIR = "kvm-trap-workbench"
SUFFIX = ".jsonl"
FILE_MODE, DIR_MODE = 0o600, 0o700
_TAIL_BYTES = 4096


def journal_dir() -> Path:
    """Where journals live by default: $XDG_STATE_HOME/kvm-trap-workbench/journals."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / APP_DIR / "journals"


def new_journal_path(directory: Path | None = None) -> Path:
    """A fresh, unique journal name (time then pid), so journals sort by age."""
    directory = journal_dir() if directory is None else directory
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return directory / f"session-{stamp}-{os.getpid()}-{time.monotonic_ns() % 10**6}{SUFFIX}"


class Journal:
    """An append-only JSON Lines file; one record per line, flushed on every append."""

    def __init__(self, path: Path, *, sync_each: bool = False, sync_interval: float = 0.1,
                 exclusive: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_EXCL if exclusive else os.O_TRUNC)
        self._file: IO[bytes] = os.fdopen(os.open(self.path, flags, FILE_MODE), "wb")
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        self._encoder = msgspec.json.Encoder()
        self._sync_each, self._interval = sync_each, sync_interval
        self._lock = threading.Lock()
        self._last_sync = time.monotonic()
        self._dirty = False
        self._timer: threading.Timer | None = None

    @property
    def closed(self) -> bool:
        return self._file.closed

    def append(self, record: object) -> None:
        """Write one record (a msgspec Struct or builtins, or a line already encoded, as
        bytes ending in a newline) as one line, then flush."""
        line = record if isinstance(record, bytes) else self._encoder.encode(record) + b"\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            self._dirty = True
            now = time.monotonic()
            if self._sync_each or now - self._last_sync >= self._interval:
                self._sync_locked()
            elif self._timer is None:
                self._timer = threading.Timer(self._interval - (now - self._last_sync),
                                              self._sync_later)
                self._timer.daemon = True
                self._timer.start()

    def _sync_later(self) -> None:
        with self._lock:
            self._timer = None
            if not self._file.closed:
                self._sync_locked()

    def _sync_locked(self) -> None:
        if self._dirty:
            os.fsync(self._file.fileno())
            self._dirty = False
        self._last_sync = time.monotonic()

    def close(self) -> None:
        """Sync what is written and close; an idle timer is cancelled."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if not self._file.closed:
                self._sync_locked()
                self._file.close()


def _last_line(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - _TAIL_BYTES))
        tail = f.read()
    lines = [line for line in tail.split(b"\n") if line.strip()]
    return lines[-1] if lines else b""


def is_finished(path: Path) -> bool:
    """True when the journal's last line is an "end" record (it was closed cleanly)."""
    try:
        record = msgspec.json.decode(_last_line(path))
    except (OSError, msgspec.DecodeError):
        return False
    return isinstance(record, dict) and record.get("kind") == "end"


def find_unfinished_journals(directory: Path | None = None) -> list[Path]:
    """Journals in `directory` (default journal_dir()) that lack an "end" record and that
    no live session is writing: sessions that crashed. Newest first."""
    directory = journal_dir() if directory is None else Path(directory)
    try:
        candidates = [p for p in directory.iterdir() if p.suffix == SUFFIX and p.is_file()]
    except OSError:
        return []
    unfinished = [p for p in candidates if not is_finished(p) and not in_use(p)]
    return sorted(unfinished, key=lambda p: p.stat().st_mtime, reverse=True)
