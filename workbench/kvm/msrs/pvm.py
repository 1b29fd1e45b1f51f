"""Handlers for the MSRs that kvm_pvm (PVM, an out-of-tree vendor module) treats its own way.

PVM's sources are not public, so every rule here is what the 6.18-fc development host with
kvm_pvm answered to guest RDMSR/WRMSR (guest CPUID = its supported CPUID, user-space MSR
mask 0x7); the rows that use these handlers are catalogue.PVM_ROWS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.kvm.guest.layout import GUEST_MEM_SIZE
from workbench.kvm.msrs import numbers as n
from workbench.kvm.msrs import pv
from workbench.kvm.msrs.base import MsrResult
from workbench.values import U64_MAX

if TYPE_CHECKING:
    from workbench.kvm.msrs.catalogue import MsrInfo
    from workbench.kvm.msrs.emulate import MsrFile

OK, INVALID = MsrResult.OK, MsrResult.INVALID

# The legacy KVM clock MSRs read and write the same state as their _NEW twins.
_CLOCK_TWIN = {n.MSR_KVM_WALL_CLOCK: n.MSR_KVM_WALL_CLOCK_NEW,
               n.MSR_KVM_SYSTEM_TIME: n.MSR_KVM_SYSTEM_TIME_NEW}
_KVM_MSR_ENABLED = 1


def _outside_ram(gpa: int) -> bool:
    return gpa >= GUEST_MEM_SIZE


def read_invalid(f: MsrFile, info: MsrInfo, index: int, host: bool) -> tuple[MsrResult, int]:
    """Known to PVM but refused (TSC_RATIO, TSC_AUX, XSS reads, 0x4B564DFF)."""
    return INVALID, 0


def write_invalid(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                  ) -> MsrResult:
    return INVALID


def write_tsc(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    """The guest's TSC keeps running as before: a guest write only adds (value - TSC) to
    IA32_TSC_ADJUST (twice for two equal writes), a host write changes nothing."""
    if not host:
        adjust = n.MSR_IA32_TSC_ADJUST
        f.regs[adjust] = (f.regs.get(adjust, 0) + value - f.tsc()) & U64_MAX
    return OK


def read_clock_twin(f: MsrFile, info: MsrInfo, index: int, host: bool
                    ) -> tuple[MsrResult, int]:
    """KVM_WALL_CLOCK / KVM_SYSTEM_TIME read what the _NEW MSR holds, and vice versa."""
    return pv.read_pv(f, info, _CLOCK_TWIN[index], host)


def write_clock_twin(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                     ) -> MsrResult:
    return pv.write_pv(f, info, _CLOCK_TWIN[index], value, host)


def write_pv_eoi(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    """Enabling PV EOI at a GPA outside guest RAM fails (no memslot to cache)."""
    if value & _KVM_MSR_ENABLED and _outside_ram(value & ~_KVM_MSR_ENABLED):
        return INVALID
    return pv.write_pv(f, info, index, value, host)


def write_pvm_gpa(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                  ) -> MsrResult:
    """0x4B564D10 takes a GPA: 0 is accepted, one outside guest RAM fails. A non-zero one
    inside it makes the host stop running the guest normally (SHUTDOWN or no further exit),
    which the sim does not model: it accepts the write and keeps reading 0."""
    return INVALID if _outside_ram(value) else OK


READERS = {"invalid": read_invalid, "clock_twin": read_clock_twin}
WRITERS = {
    "invalid": write_invalid, "pvm_tsc": write_tsc, "clock_twin": write_clock_twin,
    "pv_eoi": write_pv_eoi, "pvm_gpa": write_pvm_gpa,
}
