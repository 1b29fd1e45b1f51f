"""Children a test starts, in their own process group so the whole group can be ended:
whatever a child started (a traced VMM, its `sleep`, QEMU) goes with it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def start(argv: list[str], **popen_args) -> subprocess.Popen:
    return subprocess.Popen(argv, start_new_session=True, **popen_args)


def end(process: subprocess.Popen) -> None:
    """Kill the child's group, reap the child and close its pipes. A hang guard's
    TimeoutExpired or a failed assertion must leave nothing running: orphans hold the
    shared CPUs, and a pipe one of them holds open keeps its reader waiting."""
    with contextlib.suppress(ProcessLookupError):   # every member has exited and been reaped
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


def gone(pid: int, within: float) -> bool:
    """Whether process `pid` ends within `within` seconds: exited, or dead and waiting for a
    parent that no longer exists to reap it (a zombie)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False
