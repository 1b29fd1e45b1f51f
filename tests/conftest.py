"""Shared fixtures (a sim engine, children that cannot outlive their test), the `host`
marker (tests that need /dev/kvm skip, with the reason, wherever it cannot be opened), and
two guards every test runs under."""

import faulthandler
import gc
import os
import subprocess
import sys

import pytest

import workbench.kvm
from tests import children
from workbench.hostkvm import host_unavailable_reason
from workbench.hostkvm.traits import differential_unavailable_reason


@pytest.fixture
def sim():
    return workbench.kvm.open("sim")


def pytest_collection_modifyitems(config, items):
    host = host_unavailable_reason()
    differential = differential_unavailable_reason()
    for item in items:
        if host is not None and item.get_closest_marker("host") is not None:
            item.add_marker(pytest.mark.skip(reason=f"host engine unavailable: {host}"))
        elif differential is not None and item.get_closest_marker("differential"):
            item.add_marker(pytest.mark.skip(reason=differential))


def pytest_addoption(parser):
    parser.addoption("--update-screenshots", action="store_true", default=False,
                     help="rewrite the golden PNGs under tests/screenshots/ instead of "
                          "comparing with them")


@pytest.fixture
def spawn():
    """spawn(argv, **popen_args): a child (tests/children.py) whose whole process group is
    killed when the test ends, however it ends."""
    started: list[subprocess.Popen] = []

    def start(argv, **popen_args) -> subprocess.Popen:
        started.append(children.start(argv, **popen_args))
        return started[-1]

    yield start
    for process in started:
        children.end(process)


# A test still running after this long is stuck: every thread's stack is printed and the
# worker exits, so pytest-xdist reports that test as crashed and goes on, rather than the
# whole run waiting for CI's limit. faulthandler's watchdog is a C thread: it fires even
# when the stuck threads hold the GIL (a Qt-mutex-against-GIL deadlock did once).
HANG_SECONDS = 300
_HANG_FD = pytest.StashKey[int]()


def pytest_configure(config):
    try:
        stderr = sys.stderr.fileno()
    except (AttributeError, OSError):   # pytest-xdist's worker replaces sys.stderr
        stderr = sys.__stderr__.fileno()
    config.stash[_HANG_FD] = os.dup(stderr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True,
                                      file=item.config.stash[_HANG_FD])
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(autouse=True)
def _collect_garbage_in_the_main_thread():
    """Once a GUI test has made the application, automatic collection is off for the
    worker (workbench.gui.gc_thread) and only Qt's event loop collects: tests that never
    run that loop get the same collection here, between tests, in the main thread."""
    yield
    if not gc.isenabled():
        sys.modules["workbench.gui.gc_thread"].collect_due()
