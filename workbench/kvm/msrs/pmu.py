"""Performance-monitoring MSRs: the vendor PMU KVM gives a vCPU, or the legacy fallback.

Intel (vmx/pmu_intel.c): the architectural PMU described by guest CPUID leaf 0xA (KVM caps
it at version 2). AMD (svm/pmu.c): four legacy K7 counters (six with PERFCTR_CORE)
whenever kvm.enable_pmu is on. Legacy P6 (0xC1/0xC2, 0x186/0x187) and K7
(0xC0010000-7) indices that no PMU claims read 0 and drop writes (x86.c
kvm_get/set_msr_common); other PMU indices are unknown. Counters do not count in the sim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.kvm.msrs import numbers as n
from workbench.kvm.msrs.base import MsrResult

if TYPE_CHECKING:
    from workbench.kvm.msrs.catalogue import MsrInfo
    from workbench.kvm.msrs.emulate import MsrFile

OK, INVALID, UNSUPPORTED = MsrResult.OK, MsrResult.INVALID, MsrResult.UNSUPPORTED

PMU_CAP_FW_WRITES = 1 << 13
_INTEL_EVENTSEL_RESERVED = 0xFFFFFFFF00200000
_AMD_EVENTSEL_RESERVED = 0xFFFFFFF000280000
_LEGACY = frozenset({n.MSR_IA32_PERFCTR0, n.MSR_IA32_PERFCTR1, n.MSR_IA32_EVNTSEL0,
                     n.MSR_IA32_EVNTSEL1, *range(n.MSR_K7_EVNTSEL0, n.MSR_K7_PERFCTR0 + 4)})


@dataclass(frozen=True)
class PmuShape:
    """What the vCPU's PMU looks like (kvm_pmu_refresh for the vendor)."""

    vendor: str | None  # None: no PMU
    version: int = 0
    gp: int = 0
    gp_width: int = 48
    fixed: int = 0
    fixed_width: int = 48

    @property
    def gp_mask(self) -> int:
        return (1 << self.gp_width) - 1

    @property
    def fixed_mask(self) -> int:
        return (1 << self.fixed_width) - 1

    @property
    def global_ctrl_valid(self) -> int:
        return (1 << self.gp) - 1 | ((1 << self.fixed) - 1) << 32


def shape(f: MsrFile) -> PmuShape:
    # kvm_pvm gives the guest no PMU: K7 counters read 0 and drop writes, PERF_CAPABILITIES
    # is unknown (observed on the 6.18-fc host with kvm_pvm, where kvm.enable_pmu=N).
    if not f.ctx.enable_pmu or f.ctx.vendor == "pvm":
        return PmuShape(None)
    if f.ctx.vendor == "amd":
        return PmuShape("amd", 1, 6 if f.has("perfctr_core") else 4)
    leaf = f.cpuid.get(0xA)
    if leaf is None or leaf.eax & 0xFF == 0:
        return PmuShape(None)
    version = min(leaf.eax & 0xFF, 2)
    fixed = min(leaf.edx & 0x1F, 3) if version > 1 else 0
    return PmuShape("intel", version, min(leaf.eax >> 8 & 0xFF, 8),
                    min(leaf.eax >> 16 & 0xFF, 48) or 48, fixed,
                    min(leaf.edx >> 5 & 0xFF, 48) or 48)


def perf_capabilities(f: MsrFile) -> int:
    """vmx_get_perf_capabilities(): full-width writes when there is an Intel PMU."""
    return PMU_CAP_FW_WRITES if shape(f).vendor == "intel" else 0


def reset(f: MsrFile) -> None:
    s = shape(f)
    if s.vendor == "intel" and f.ctx.profile.at_least(6, 8):
        f.regs[n.MSR_CORE_PERF_GLOBAL_CTRL] = (1 << s.gp) - 1


def _slot(f: MsrFile, s: PmuShape, index: int) -> tuple[str, int] | None:
    """Which PMU register `index` is for this vCPU, or None."""
    if s.vendor == "amd":
        if n.MSR_K7_EVNTSEL0 <= index < n.MSR_K7_EVNTSEL0 + 4:
            return "evtsel_amd", index - n.MSR_K7_EVNTSEL0
        if n.MSR_K7_PERFCTR0 <= index < n.MSR_K7_PERFCTR0 + 4:
            return "ctr", index - n.MSR_K7_PERFCTR0
        return None
    if s.vendor != "intel":
        return None
    for base, kind, count in (
        (n.MSR_IA32_PERFCTR0, "ctr", s.gp),
        (n.MSR_IA32_EVNTSEL0, "evtsel", s.gp),
        (n.MSR_CORE_PERF_FIXED_CTR0, "fixed", s.fixed),
    ):
        if base <= index < base + count:
            return kind, index - base
    if n.MSR_IA32_PMC0 <= index < n.MSR_IA32_PMC0 + s.gp and (
            f.has("pdcm") and f.regs.get(n.MSR_IA32_PERF_CAPABILITIES, 0) & PMU_CAP_FW_WRITES):
        return "fullwidth", index - n.MSR_IA32_PMC0
    if s.version >= 2 and index in (n.MSR_CORE_PERF_FIXED_CTR_CTRL,
                                    n.MSR_CORE_PERF_GLOBAL_STATUS,
                                    n.MSR_CORE_PERF_GLOBAL_CTRL,
                                    n.MSR_CORE_PERF_GLOBAL_OVF_CTRL):
        return "global", 0
    return None


def read_pmu(f: MsrFile, info: MsrInfo, index: int, host: bool) -> tuple[MsrResult, int]:
    s = shape(f)
    slot = _slot(f, s, index)
    if slot is None:
        return (OK, 0) if index in _LEGACY else (UNSUPPORTED, 0)
    if slot[0] == "fullwidth":
        return OK, f.regs.get(n.MSR_IA32_PERFCTR0 + slot[1], 0)
    if index == n.MSR_CORE_PERF_GLOBAL_OVF_CTRL and f.ctx.profile.at_least(6, 0):
        return OK, 0
    return OK, f.regs.get(index, 0)


def write_pmu(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    s = shape(f)
    slot = _slot(f, s, index)
    if slot is None:
        return OK if index in _LEGACY else UNSUPPORTED
    kind, i = slot
    if kind == "ctr":
        if s.vendor == "intel" and not host and value & 0x80000000:
            value |= ~0xFFFFFFFF  # legacy counter writes sign-extend bit 31
        f.regs[index] = value & s.gp_mask
    elif kind == "fullwidth":
        if value & ~s.gp_mask:
            return INVALID
        f.regs[n.MSR_IA32_PERFCTR0 + i] = value
    elif kind == "fixed":
        f.regs[index] = value & s.fixed_mask
    elif kind == "evtsel":
        if value & _INTEL_EVENTSEL_RESERVED:
            return INVALID
        f.regs[index] = value
    elif kind == "evtsel_amd":
        if not f.ctx.profile.at_least(6, 0) and value & _AMD_EVENTSEL_RESERVED:
            return INVALID
        f.regs[index] = value & ~_AMD_EVENTSEL_RESERVED
    else:
        return _write_global(f, s, index, value, host)
    return OK


def _write_global(f: MsrFile, s: PmuShape, index: int, value: int, host: bool) -> MsrResult:
    if index == n.MSR_CORE_PERF_FIXED_CTR_CTRL:
        valid = sum(0xB << (4 * i) for i in range(s.fixed))
        if value & ~valid:
            return INVALID
    elif index == n.MSR_CORE_PERF_GLOBAL_STATUS:
        if not host:
            return INVALID  # read-only for the guest
    elif index == n.MSR_CORE_PERF_GLOBAL_CTRL:
        if value & ~s.global_ctrl_valid:
            return INVALID
    else:  # GLOBAL_OVF_CTRL: clear the status bits written
        if value & ~(s.global_ctrl_valid | 3 << 62):
            return INVALID
        status = n.MSR_CORE_PERF_GLOBAL_STATUS
        f.regs[status] = f.regs.get(status, 0) & ~value
    f.regs[index] = value
    return OK


READERS = {"pmu": read_pmu}
WRITERS = {"pmu": write_pmu}
