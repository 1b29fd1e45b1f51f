"""Children a test starts, in their own process group so the whole group can be ended:
whatever a child started (a traced VMM, its `sleep`, QEMU) goes with it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


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
