"""Minimal reproducers of every place where the sim disagrees with this kernel.

The kernel is right. Each case runs on both engines and asserts they agree, so each is an
xfail(strict=True): it is visible in every run, and the day the sim is fixed the
unexpected pass says so. The random tests skip these MSRs (host_differential.
DIVERGENT_MSRS) so they keep looking for new disagreements.
"""

from __future__ import annotations

import pytest
from host_differential import (
    DIVERGENT_MSRS,
    HLT,
    Engines,
    Scenario,
    assert_same,
    read_msr,
    write_msr,
)

from workbench.kvm import uapi

pytestmark = [pytest.mark.host, pytest.mark.differential]

ALL_REASONS = uapi.KVM_MSR_EXIT_REASON_VALID_MASK


def _diverges(reason: str):
    return [pytest.mark.kernel_divergence(reason=reason),
            pytest.mark.xfail(strict=True, reason=reason)]


# The value each MSR's reproducer writes.
_WRITE_VALUE = {0x4B564D10: 0x2000}


def _msr_case(index: int) -> Scenario:
    """Read, write, read again, with every failure reason exiting to user space."""
    code = read_msr(index) + write_msr(index, _WRITE_VALUE[index]) + read_msr(index) + HLT
    return Scenario(f"MSR {index:#x}", code, mask=ALL_REASONS)


MSR_CASES = [pytest.param(_msr_case(index), id=f"msr-{index:#x}", marks=_diverges(reason))
             for index, reason in DIVERGENT_MSRS.items()]


@pytest.fixture(scope="module")
def engines():
    engines = Engines()
    yield engines
    engines.close()


@pytest.mark.parametrize("scenario", MSR_CASES)
def test_msr_behaviour(engines, scenario):
    host, sim = engines.both(scenario)
    assert_same(host, sim)
