"""A test's children end with it, and so does whatever they started (a VMM, `sleep`)."""

import subprocess

from tests import children

HANG_GUARD = 10


def test_ending_a_child_ends_what_it_started_and_closes_its_pipes():
    process = children.start(["sh", "-c", "sleep 600 & echo $!; wait"],
                             stdout=subprocess.PIPE, text=True)
    grandchild = int(process.stdout.readline())
    children.end(process)
    assert process.returncode is not None and process.stdout.closed
    assert children.gone(grandchild, HANG_GUARD)
