"""The kernel's kvm events for a captured VMM's threads, from a private tracefs instance.

A tracing instance (instances/workbench-capture-PID) has its own buffer, event switches,
trace clock and pid filter, so the capture never touches the global tracing state other
tools use; removing the instance at the end restores everything. The instance's clock is
"mono", the CLOCK_MONOTONIC the ptrace side stamps its events with, so both merge in order.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from workbench.capture.kernel_events import split_line

TRACEFS = Path("/sys/kernel/tracing")
EVENTS = ("kvm_msr", "kvm_inj_exception", "kvm_userspace_exit", "kvm_pio", "kvm_mmio")
_PREFIX = "workbench-capture-"
# The instance's buffer, per CPU: 16 MiB (~150,000 events, seconds of a VMM exiting flat
# out) where CPUs are few, 64 MiB in all where they are many, never below the default.
BUFFER_KB = max(1408, min(16384, 65536 // (os.cpu_count() or 1)))
DRAIN_SECONDS = 0.1


def unavailable_reason(root: Path = TRACEFS) -> str | None:
    """Why kernel events cannot be captured here, or None when they can."""
    if os.geteuid() != 0:
        return "tracefs needs root"
    if not (root / "events").is_dir():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["mount", "-t", "tracefs", "nodev", str(root)], check=False,
                           capture_output=True, timeout=10)
    if not (root / "instances").is_dir():
        return f"tracefs is not mounted at {root}"
    missing = [e for e in EVENTS if not (root / "events" / "kvm" / e).is_dir()]
    if missing:
        return f"tracefs has no kvm event(s) {', '.join(missing)} (is the kvm module loaded?)"
    return None


def parse_line(line: str) -> dict[str, object] | None:
    """One trace_pipe line as a capture event, or None for anything else."""
    e = split_line(line)
    if e is None or e.event not in EVENTS:
        return None
    return {"t": e.seconds, "tid": e.tid, "ev": "trace", "event": e.event, "text": e.text}


class LiveTrace:
    """Trace the kvm events of `pid` and its threads while the capture runs."""

    def __init__(self, root: Path = TRACEFS):
        self.root = root
        self.dir = root / "instances" / f"{_PREFIX}{os.getpid()}"
        self._spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _parse; raw text
        self._pipe: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, pid: int) -> None:
        _remove_stale(self.root)
        self.dir.mkdir(exist_ok=True)
        self._write("trace_clock", "mono")
        self._write("options/event-fork", "1")
        self._write("set_event_pid", str(pid))
        self._write("buffer_size_kb", str(BUFFER_KB))
        for event in EVENTS:
            self._write(f"events/kvm/{event}/enable", "1")
        self._pipe = os.open(self.dir / "trace_pipe", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._drain, name="tracefs", daemon=True)
        self._thread.start()

    def stop(self) -> Iterator[dict[str, object]]:
        """Stop tracing, read what is left and remove the instance; the events, in order.

        The drain thread only copies text while the VMM runs, so it takes little CPU from
        it; the lines are parsed here, afterwards."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        with contextlib.suppress(OSError):
            for event in EVENTS:
                self._write(f"events/kvm/{event}/enable", "0")
        if self._pipe is not None:
            self._read_available()
            os.close(self._pipe)
            self._pipe = None
        with contextlib.suppress(OSError):
            self.dir.rmdir()
        self._spool.seek(0)
        return self._parse()

    def _parse(self) -> Iterator[dict[str, object]]:
        with self._spool:
            for line in self._spool:
                event = parse_line(line.decode(errors="replace"))
                if event is not None:
                    yield event

    def _write(self, name: str, value: str) -> None:
        (self.dir / name).write_text(value)

    def _drain(self) -> None:
        """Empty the pipe every DRAIN_SECONDS (the buffer holds far more than that): woken
        by each event instead, this thread took a core from the VMM it traces."""
        while not self._stop.wait(DRAIN_SECONDS):
            self._read_available()

    def _read_available(self) -> None:
        while True:
            try:
                chunk = os.read(self._pipe, 1 << 16)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EINTR):
                    return
                raise
            if not chunk:
                return
            self._spool.write(chunk)


def _remove_stale(root: Path) -> None:
    """Instances left by a capture process that was killed (SIGKILL skips its cleanup)."""
    for instance in (root / "instances").glob(f"{_PREFIX}*"):
        owner = instance.name[len(_PREFIX):]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            with contextlib.suppress(OSError):
                instance.rmdir()
