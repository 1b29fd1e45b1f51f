"""Shared fixtures: a fresh sim VM per test, and the guest runtime's helpers."""

import pytest

import workbench.kvm
from workbench.kvm import uapi


@pytest.fixture
def sim():
    return workbench.kvm.open("sim")


def run_to(vcpu, *reasons):
    """Run until an exit whose reason is in `reasons`, returning every exit on the way."""
    seen = []
    for _ in range(1000):
        exit_ = vcpu.run()
        seen.append(exit_)
        if exit_.exit_reason in reasons:
            return seen
    raise AssertionError(f"no exit in {reasons} after 1000 exits: {seen[-5:]}")


HLT = uapi.KVM_EXIT_HLT


def pytest_addoption(parser):
    parser.addoption("--update-screenshots", action="store_true", default=False,
                     help="rewrite the golden PNGs under tests/screenshots/ instead of "
                          "comparing with them")
