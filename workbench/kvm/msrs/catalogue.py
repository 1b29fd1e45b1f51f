"""The in-kernel MSR catalogue: one row per MSR (or MSR family) KVM emulates.

The rows drive the handlers (msrs/emulate.py picks a read and a write behaviour by name),
the GUI's names and the tests. A row (MsrInfo, msrs/info.py) says what its behaviour names
mean; the rows themselves live by family in rows_core, rows_banks and rows_vendor, and
are put together here with what the development host's kernel did with them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import cache

from workbench.kvm.msrs import numbers as n
from workbench.kvm.msrs.info import MsrInfo
from workbench.kvm.msrs.rows_banks import mce_rows, mtrr_rows, pmu_rows, x2apic_rows
from workbench.kvm.msrs.rows_core import cet_rows, core_rows, rapl_rows, syscall_rows
from workbench.kvm.msrs.rows_vendor import amd_rows, pv_rows, pvm_rows
from workbench.kvm.profiles import KvmProfile

__all__ = [
    "CATALOGUE", "HOST_DIVERGENCES", "KNOWN_NAMES", "PVM_ROWS", "MsrInfo", "lookup",
    "msr_name", "rows_for", "rows_in_force",
]


# What the development host's real kernel (6.18, vendor module kvm_pvm on AMD EPYC, not
# kvm_intel) did differently from this catalogue's VMX rows, guest CPUID = its supported
# CPUID. Every other single-index row gave the modelled result for read, write-back, write
# of ~0 and re-read (tests/kvm/test_msr_catalogue.py keeps those results). The "pvm" vendor
# models each of these (PVM_ROWS, and the vendor checks in the handlers).
HOST_DIVERGENCES: dict[int, str] = {
    n.MSR_IA32_TSC: "guest writes had no visible effect (kvm_pvm); VMX/SVM move the offset",
    n.MSR_IA32_FEAT_CTL: "UNKNOWN: no VMX module on the host (the amd row matches)",
    n.MSR_IA32_SPEC_CTRL: "OK without SPEC_CTRL CPUID, any value accepted, reads 0",
    n.MSR_IA32_PRED_CMD: "any write OK without IBPB CPUID; read UNKNOWN as modelled",
    n.MSR_IA32_UCODE_REV: "reads 0",
    n.MSR_IA32_ARCH_CAPABILITIES: "UNKNOWN although CPUID.7.EDX[29] is set",
    n.MSR_IA32_FLUSH_CMD: "any write OK without FLUSH_L1D CPUID; read UNKNOWN as modelled",
    n.MSR_MISC_FEATURES_ENABLES: "any value stored",
    n.MSR_IA32_SYSENTER_CS: "keeps 64 bits (the amd row matches)",
    n.MSR_IA32_MISC_ENABLE: "resets to 0x1 and stores any value",
    n.MSR_IA32_DEBUGCTLMSR: "any value accepted, reads 0",
    n.MSR_IA32_CR_PAT: "an invalid PAT (~0) was accepted",
    n.MSR_IA32_PERF_CAPABILITIES: "UNKNOWN, also with PDCM in CPUID (kvm.enable_pmu=N)",
    n.MSR_IA32_MCG_EXT_CTL: "UNKNOWN: no VMX module on the host (the amd row matches)",
    n.MSR_IA32_XSS: "read INVAL as modelled; writes UNKNOWN, also with XSAVES in CPUID",
    n.MSR_AMD64_VIRT_SPEC_CTRL: "handled by the host's module: reads 0, writes OK",
}


def _with_host_result(row: MsrInfo) -> MsrInfo:
    if row.checked or row.count != 1:
        return row
    found = HOST_DIVERGENCES.get(row.index, "same result")
    return replace(row, checked=f"host 6.18 (kvm_pvm): {found}")


CATALOGUE: tuple[MsrInfo, ...] = tuple(map(_with_host_result, (
    core_rows() + rapl_rows() + syscall_rows() + pv_rows() + amd_rows() + mtrr_rows()
    + mce_rows() + x2apic_rows() + pmu_rows() + cet_rows()
)))
# kvm_pvm's own rows, consulted before CATALOGUE for vendor "pvm" (see rows_vendor.pvm_rows).
PVM_ROWS: tuple[MsrInfo, ...] = tuple(pvm_rows())

# Well-known MSRs KVM does not emulate: names for the GUI only (access -> UNKNOWN).
KNOWN_NAMES: dict[int, str] = {
    0x06: "IA32_MONITOR_FILTER_SIZE",
    0x33: "MSR_TEST_CTRL",
    n.MSR_CORE_THREAD_COUNT: "MSR_CORE_THREAD_COUNT",
    0x8C: "IA32_SGXLEPUBKEYHASH0",
    0xCF: "IA32_CORE_CAPABILITIES",
    0xE1: "IA32_UMWAIT_CONTROL",
    0xE2: "PKG_CST_CONFIG_CONTROL",
    0xE7: "IA32_MPERF",
    0xE8: "IA32_APERF",
    0x122: "IA32_TSX_CTRL",
    0x19A: "IA32_CLOCK_MODULATION",
    0x19B: "IA32_THERM_INTERRUPT",
    0x19C: "IA32_THERM_STATUS",
    0x1A2: "TEMPERATURE_TARGET",
    0x1B0: "IA32_ENERGY_PERF_BIAS",
    0x1B1: "IA32_PACKAGE_THERM_STATUS",
    0x3F8: "PKG_C3_RESIDENCY",
    0x3F9: "PKG_C6_RESIDENCY",
    0x3FA: "PKG_C7_RESIDENCY",
    n.MSR_CORE_C3_RESIDENCY: "CORE_C3_RESIDENCY",
    n.MSR_CORE_C6_RESIDENCY: "CORE_C6_RESIDENCY",
    n.MSR_CORE_C7_RESIDENCY: "CORE_C7_RESIDENCY",
    0x480: "IA32_VMX_BASIC",
    0x560: "IA32_RTIT_OUTPUT_BASE",
    0x570: "IA32_RTIT_CTL",
    n.MSR_CORE_C1_RES: "CORE_C1_RES",
    0x6E1: "IA32_PKRS",
    0xD90: "IA32_BNDCFGS",
    0xC0000104: "AMD64_TSC_RATIO",
    0xC0010115: "VM_IGNNE",
    0xC0010131: "AMD64_SEV_STATUS",
    0xC0011021: "F15H_IC_CFG",
}


@cache
def _pvm_table() -> dict[int, MsrInfo]:
    return {row.index: row for row in PVM_ROWS}


@cache
def _tables() -> tuple[dict[int, MsrInfo], tuple[MsrInfo, ...]]:
    singles: dict[int, MsrInfo] = {}
    for row in CATALOGUE:
        if row.count == 1:
            singles.setdefault(row.index, row)
    ranges = tuple(row for row in CATALOGUE if row.count > 1)
    return singles, ranges


def rows_for(index: int) -> Iterator[MsrInfo]:
    """Every row covering `index`, exact rows before range rows."""
    singles, ranges = _tables()
    if index in singles:
        yield singles[index]
    yield from (row for row in ranges if row.index <= index <= row.last)


def rows_in_force(vendor: str, profile: KvmProfile) -> Iterator[MsrInfo]:
    """Every row the vendor module and kernel use, PVM's replacing the ones they cover."""
    replaced = _pvm_table() if vendor == "pvm" else {}
    yield from replaced.values()
    yield from (row for row in CATALOGUE
                if row.applies(vendor, profile) and (row.count > 1 or row.index not in replaced))


def single_indices(vendor: str, profile: KvmProfile | None) -> list[int]:
    """The indices of the single-MSR rows a vendor module and kernel use (every vendor
    row's, for a kernel the catalogue has no profile of), ascending."""
    rows = rows_in_force(vendor, profile) if profile is not None else (
        row for row in CATALOGUE if row.vendor in (None, vendor))
    return sorted({row.index for row in rows if row.count == 1})


def lookup(index: int, vendor: str | None = None, profile: KvmProfile | None = None
           ) -> MsrInfo | None:
    """The catalogue row KVM uses for `index` (for that vendor and kernel when given)."""
    if vendor == "pvm" and index in _pvm_table():
        return _pvm_table()[index]
    for row in rows_for(index):
        if vendor is None or profile is None or row.applies(vendor, profile):
            return row
    return None


def _known_name(index: int) -> str | None:
    singles, _ = _tables()
    if index in singles:
        return singles[index].name
    if index in _pvm_table():
        return _pvm_table()[index].name
    if index in KNOWN_NAMES:
        return KNOWN_NAMES[index]
    if n.APIC_BASE_MSR <= index <= n.APIC_BASE_MSR + 0xFF:
        return f"X2APIC_{index:#05x}"
    return None


def msr_name(index: int) -> str:
    """A human name for any MSR index: the catalogue, well-known names, else hex."""
    name = _known_name(index)
    return f"{index:#010x}" if name is None else name


def msr_label(index: int) -> str:
    """The index, then the name when the MSR has one: "0x10 IA32_TSC", "0x1234" (never
    the index twice, as "index name" would say it for an MSR without a name)."""
    name = _known_name(index)
    return f"{index:#x}" if name is None else f"{index:#x} {name}"
