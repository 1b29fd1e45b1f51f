"""Shared by the MSR catalogue tests: an MsrFile on a chosen vendor, kernel and CPUID."""

from workbench.kvm.cpuid import Cpuid, default_cpuid, feature_bit
from workbench.kvm.msrs import MsrContext, MsrFile, MsrResult
from workbench.kvm.profiles import LINUX_5_10, LINUX_6_18

OK, INVALID, UNSUPPORTED = MsrResult.OK, MsrResult.INVALID, MsrResult.UNSUPPORTED
PROFILES = [LINUX_6_18, LINUX_5_10]
VENDORS = ["intel", "amd"]


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def make(vendor="intel", profile=LINUX_6_18, cpuid=None, irqchip=False, vcpu_id=0, clock=None,
         **extra):
    cpuid = default_cpuid(vendor) if cpuid is None else cpuid
    ctx = MsrContext(vendor, profile, cpuid, irqchip, vcpu_id, **extra)
    return MsrFile(ctx, clock or Clock())


def without(cpuid: Cpuid, *features: str) -> Cpuid:
    """The same CPUID with the named leaf bits cleared."""
    rows = [list(t) for t in cpuid.to_tuples()]
    for feat in features:
        leaf, sub, reg, bit = feature_bit(feat)
        for row in rows:
            if row[0] == leaf and (row[1] == sub or leaf not in (7, 0xD)):
                row[2 + "abcd".index(reg[1])] &= ~(1 << bit)
    return Cpuid(map(tuple, rows))


def with_bits(cpuid: Cpuid, leaf: int, sub: int, reg: str, bit: int) -> Cpuid:
    rows = [list(t) for t in cpuid.to_tuples()]
    for row in rows:
        if row[0] == leaf and row[1] == sub:
            row[2 + "abcd".index(reg[1])] |= 1 << bit
    return Cpuid(map(tuple, rows))
