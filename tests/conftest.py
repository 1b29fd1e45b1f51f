"""Shared fixtures and the `host` marker: tests that need /dev/kvm skip, with the reason,
wherever it cannot be opened."""

import pytest

import workbench.kvm
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
