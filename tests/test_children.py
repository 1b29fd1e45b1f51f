"""A test's children end with it, and so does whatever they started (a VMM, `sleep`)."""

import subprocess
import time
from pathlib import Path

from tests import children

HANG_GUARD = 10


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":   # killed; its parent, the ended child, is gone and cannot reap it
            return True
        time.sleep(0.02)
    return False


def test_ending_a_child_ends_what_it_started_and_closes_its_pipes():
    process = children.start(["sh", "-c", "sleep 600 & echo $!; wait"],
                             stdout=subprocess.PIPE, text=True)
    grandchild = int(process.stdout.readline())
    children.end(process)
    assert process.returncode is not None and process.stdout.closed
    assert _gone(grandchild)
