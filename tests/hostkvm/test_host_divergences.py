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

from workbench.hostkvm import host_unavailable_reason
from workbench.kvm import uapi

_reason = host_unavailable_reason()
if _reason is not None:
    pytest.skip(f"host engine unavailable: {_reason}", allow_module_level=True)

pytestmark = pytest.mark.host

ALL_REASONS = uapi.KVM_MSR_EXIT_REASON_VALID_MASK


def _diverges(reason: str):
    return [pytest.mark.kernel_divergence(reason=reason),
            pytest.mark.xfail(strict=True, reason=reason)]


# The value each MSR's reproducer writes where 0 does not show the disagreement.
_WRITE_VALUE = {0x140: 0x1000, 0x175: 2**64 - 1, 0x176: 2**64 - 1, 0x1D9: 1, 0x277: 0x1000,
                **dict.fromkeys(range(0xC0010000, 0xC0010008), 1), 0xC0010117: 1,
                0x4B564D04: 0x4000_0001}


def _msr_case(index: int) -> Scenario:
    """Read, write, read again, with every failure reason exiting to user space."""
    value = _WRITE_VALUE.get(index, 0)
    code = read_msr(index) + write_msr(index, value) + read_msr(index) + HLT
    return Scenario(f"MSR {index:#x}", code, mask=ALL_REASONS)


_ALIASES = {0x11: 0x4B564D00, 0x12: 0x4B564D01}  # legacy KVM clock MSR -> its _NEW twin


def _alias_case(legacy: int) -> Scenario:
    """Write the _NEW MSR (to a GPA outside guest RAM), read the legacy one."""
    code = write_msr(_ALIASES[legacy], 0x4000_0000) + read_msr(legacy) + HLT
    return Scenario(f"MSR {legacy:#x} after {_ALIASES[legacy]:#x}", code, mask=ALL_REASONS)


MSR_CASES = [
    pytest.param(_alias_case(index) if index in _ALIASES else _msr_case(index),
                 id=f"msr-{index:#x}", marks=_diverges(reason))
    for index, reason in DIVERGENT_MSRS.items()
]


@pytest.fixture(scope="module")
def engines():
    engines = Engines()
    yield engines
    engines.close()


@pytest.mark.parametrize("scenario", MSR_CASES)
def test_msr_behaviour(engines, scenario):
    host, sim = engines.both(scenario)
    assert_same(host, sim)


@pytest.mark.parametrize("code", [
    pytest.param("int3\nhlt", id="int3", marks=_diverges(
        "int3 (no IDT gate): KVM_EXIT_INTERNAL_ERROR (emulation failure) on this kernel, "
        "SHUTDOWN on the sim")),
    pytest.param("rdtscp\nhlt", id="rdtscp", marks=_diverges(
        "rdtscp with RDTSCP absent from the guest CPUID: KVM_EXIT_INTERNAL_ERROR "
        "(emulation failure) on this kernel; the sim executes it and reaches the hlt")),
])
def test_instruction_outcome(engines, code):
    host, sim = engines.both(Scenario(code, code))
    assert host.exits == sim.exits
