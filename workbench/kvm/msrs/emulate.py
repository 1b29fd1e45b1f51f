"""A vCPU's in-kernel MSR state and KVM's answer to every RDMSR/WRMSR and KVM_GET/SET_MSRS.

The catalogue row for an index (msrs/catalogue.py) names a read and a write behaviour;
this module applies the checks KVM makes before any handler (vendor module, kernel
version, guest CPUID feature, reserved bits) and dispatches. Guest accesses follow
kvm_get_msr / kvm_set_msr with host_initiated = false; host accesses follow
KVM_GET/SET_MSRS. The MSR filter and ignore_msrs are the caller's business.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from workbench.kvm.cpuid import Cpuid
from workbench.kvm.msrs import amd, apic, cet, core, mce, memtype, pmu, pv, pvm
from workbench.kvm.msrs import numbers as n
from workbench.kvm.msrs.base import MsrContext, MsrResult
from workbench.kvm.msrs.catalogue import MsrInfo, lookup, rows_in_force
from workbench.values import U32_MAX, U64_MAX

__all__ = ["MsrContext", "MsrFile", "MsrResult"]

Reader = Callable[["MsrFile", MsrInfo, int, bool], tuple[MsrResult, int]]
Writer = Callable[["MsrFile", MsrInfo, int, int, bool], MsrResult]

READERS: dict[str, Reader] = {
    **core.READERS, **apic.READERS, **memtype.READERS, **mce.READERS, **pmu.READERS,
    **pv.READERS, **pvm.READERS, **amd.READERS, **cet.READERS,
}
WRITERS: dict[str, Writer] = {
    **core.WRITERS, **apic.WRITERS, **memtype.WRITERS, **mce.WRITERS, **pmu.WRITERS,
    **pv.WRITERS, **pvm.WRITERS, **amd.WRITERS, **cet.WRITERS,
}
# Behaviours that check the CPUID themselves (other outcomes than INVALID, or other bits).
_SELF_GATED = frozenset({"pv", "cet", "tsc_aux", "clock_twin", "pv_eoi"})
# Behaviours that check their own reserved bits.
_SELF_RESERVED = frozenset({"pred_cmd", "pv", "clock_twin", "pv_eoi"})
_STORED_KINDS = frozenset({"value", "host", "mcg_ctl", "pv"})
_UNSET = object()


class MsrFile:
    """The MSR state of one vCPU plus KVM's rules for accessing it.

    `clock()` is deterministic guest time in TSC ticks; the TSC is `offset + clock()`.
    All state is a flat {index: value} map (the TSC entry holds the offset), so a
    snapshot is plain data.
    """

    def __init__(self, ctx: MsrContext, clock: Callable[[], int]) -> None:
        self.ctx = ctx
        self.clock = clock
        self.regs: dict[int, int] = {}
        self._rows: dict[int, MsrInfo | None] = {}
        self._reset()

    # --- facts handlers use ---------------------------------------------------------------
    @property
    def cpuid(self) -> Cpuid:
        return self.ctx.cpuid

    def has(self, feature: str) -> bool:
        return self.ctx.cpuid.has(feature)

    @property
    def reserved_gpa_bits(self) -> int:
        """Physical-address bits at and above MAXPHYADDR (kvm_vcpu_reserved_gpa_bits_raw)."""
        return U64_MAX & ~((1 << self.ctx.cpuid.max_phys_addr) - 1)

    def tsc(self) -> int:
        return (self.regs[n.MSR_IA32_TSC] + self.clock()) & U64_MAX

    @property
    def x2apic_mode(self) -> bool:
        both = n.APICBASE_ENABLE | n.APICBASE_EXTD
        return self.regs[n.MSR_IA32_APICBASE] & both == both

    # --- reset ----------------------------------------------------------------------------
    def _reset(self) -> None:
        ctx = self.ctx
        for row in rows_in_force(ctx.vendor, ctx.profile):
            if row.count == 1 and row.reset and row.read in _STORED_KINDS:
                self.regs[row.index] = row.reset
        base = n.APIC_DEFAULT_PHYS_BASE | n.APICBASE_ENABLE
        self.regs.update({
            n.MSR_IA32_TSC: 0,
            n.MSR_IA32_APICBASE: base | (n.APICBASE_BSP if ctx.vcpu_id == 0 else 0),
            n.MSR_IA32_UCODE_REV: core.UCODE_REV[ctx.vendor],
            n.MSR_IA32_ARCH_CAPABILITIES: ctx.host_msrs.get(
                n.MSR_IA32_ARCH_CAPABILITIES, core.ARCH_CAPABILITIES[ctx.vendor]),
            n.MSR_EFER: ctx.boot_efer,
        })
        if ctx.vendor == "amd":
            self.regs[n.MSR_AMD64_OSVW_ID_LENGTH] = 5
        self.regs[n.MSR_IA32_PERF_CAPABILITIES] = pmu.perf_capabilities(self)
        apic.reset_registers(self.regs, bsp=ctx.vcpu_id == 0)
        pmu.reset(self)

    # --- dispatch -------------------------------------------------------------------------
    def info(self, index: int) -> MsrInfo | None:
        """The catalogue row KVM uses for `index` on this vCPU's vendor and kernel."""
        row = self._rows.get(index, _UNSET)
        if row is _UNSET:
            row = self._rows[index] = lookup(index, self.ctx.vendor, self.ctx.profile)
        return row  # type: ignore[return-value]

    def _read(self, index: int, host: bool) -> tuple[MsrResult, int]:
        row = self.info(index & U32_MAX)
        if row is None or row.read == "unsupported":
            return MsrResult.UNSUPPORTED, 0
        if not host and row.feature and row.read not in _SELF_GATED and (
                not self.has(row.feature)):
            return MsrResult.INVALID, 0
        result, value = READERS[row.read](self, row, index & U32_MAX, host)
        return result, (value & U64_MAX) if result == MsrResult.OK else 0

    def _write(self, index: int, value: int, host: bool) -> MsrResult:
        row = self.info(index & U32_MAX)
        value &= U64_MAX
        if row is None or row.write == "unsupported":
            return MsrResult.UNSUPPORTED
        if not host and row.feature and row.write not in _SELF_GATED and (
                not self.has(row.feature)):
            return MsrResult.INVALID
        if value & row.reserved and row.write not in _SELF_RESERVED:
            return MsrResult.INVALID
        return WRITERS[row.write](self, row, index & U32_MAX, value, host)

    # --- the interface ---------------------------------------------------------------------
    def get(self, index: int) -> tuple[MsrResult, int]:
        """A guest RDMSR (host_initiated = false)."""
        return self._read(index, host=False)

    def set(self, index: int, value: int) -> MsrResult:
        """A guest WRMSR (host_initiated = false)."""
        return self._write(index, value, host=False)

    def host_get(self, index: int) -> tuple[MsrResult, int]:
        """KVM_GET_MSRS (host_initiated = true)."""
        return self._read(index, host=True)

    def host_set(self, index: int, value: int) -> MsrResult:
        """KVM_SET_MSRS (host_initiated = true)."""
        return self._write(index, value, host=True)

    def snapshot(self) -> dict[int, int]:
        return dict(self.regs)

    def restore(self, snap: dict[int, int]) -> None:
        self.regs = {int(k): int(v) for k, v in snap.items()}

    def set_cpuid(self, cpuid: Cpuid) -> None:
        """KVM_SET_CPUID2: later accesses follow the new CPUID; state is kept."""
        self.ctx = dataclasses.replace(self.ctx, cpuid=cpuid)
