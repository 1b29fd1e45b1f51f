"""Shared fixtures and the `host` marker: tests that need /dev/kvm skip, with the reason,
wherever it cannot be opened."""

import pytest

import workbench.kvm
from workbench.hostkvm import host_unavailable_reason


@pytest.fixture
def sim():
    return workbench.kvm.open("sim")


def pytest_collection_modifyitems(config, items):
    reason = host_unavailable_reason()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=f"host engine unavailable: {reason}")
    for item in items:
        if item.get_closest_marker("host") is not None:
            item.add_marker(skip)


def pytest_addoption(parser):
    parser.addoption("--update-screenshots", action="store_true", default=False,
                     help="rewrite the golden PNGs under tests/screenshots/ instead of "
                          "comparing with them")
