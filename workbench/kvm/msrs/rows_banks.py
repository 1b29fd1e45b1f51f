"""Catalogue rows of the MSR families that come in banks or blocks: MTRRs, MCE banks,
x2APIC registers, PMU counters and event selects."""

from __future__ import annotations

from workbench.kvm.msrs import numbers as n
from workbench.kvm.msrs.info import PMU_NOTE, MsrInfo


def mtrr_rows() -> list[MsrInfo]:
    rows = []
    for i in range(n.KVM_NR_VAR_MTRR):
        rows.append(MsrInfo(n.MTRR_PHYS_BASE0 + 2 * i, f"MTRRphysBase{i}", "mtrr", "mtrr",
                            notes="type in 0,1,4,5,6; bits 8-11 and above MAXPHYADDR reserved",
                            description=f"variable MTRR {i} base"))
        rows.append(MsrInfo(n.MTRR_PHYS_BASE0 + 2 * i + 1, f"MTRRphysMask{i}", "mtrr", "mtrr",
                            notes="bits 0-10 and above MAXPHYADDR reserved",
                            description=f"variable MTRR {i} mask"))
    fixed = {n.MSR_MTRRfix64K_00000: "MTRRfix64K_00000",
             n.MSR_MTRRfix16K_80000: "MTRRfix16K_80000",
             n.MSR_MTRRfix16K_A0000: "MTRRfix16K_A0000"}
    for i in range(8):
        fixed[n.MSR_MTRRfix4K_C0000 + i] = f"MTRRfix4K_{0xC0000 + i * 0x8000:05X}"
    rows += [MsrInfo(i, name, "mtrr", "mtrr", notes="every byte a valid memory type",
                     description="fixed-range MTRR") for i, name in fixed.items()]
    rows.append(MsrInfo(n.MSR_MTRRdefType, "MTRRdefType", "mtrr", "mtrr",
                        notes="bits other than 0-7, 10, 11 reserved; type valid",
                        description="default memory type"))
    # Indices inside the MTRR window that name no MTRR fail in kvm_mtrr_get/set_msr
    # (INVALID), not as unknown: 5.10 sends all of 0x200-0x2FF there, 6.18 0x200-0x26F.
    rows.append(MsrInfo(n.MTRR_PHYS_BASE0, "MTRR window", "mtrr", "mtrr", count=0x70,
                        notes="unnamed index in the MTRR window -> INVALID",
                        description="MTRR window"))
    rows.append(MsrInfo(0x270, "MTRR window", "mtrr", "mtrr", count=0x90, before=(6, 0),
                        notes="5.10: 0x200-0x2FF all go to kvm_mtrr_get/set_msr",
                        description="MTRR window"))
    return rows


def mce_rows() -> list[MsrInfo]:
    rows = []
    for bank in range(n.KVM_MAX_MCE_BANKS):
        base = n.MSR_IA32_MC0_CTL + 4 * bank
        for off, reg, note in (
            (0, "CTL", "only 0 or all ones (bits 0 and 10 may be clear)"),
            (1, "STATUS", "guest may write only 0 unless an AMD-compatible guest set "
                          "HWCR.McStatusWrEn"),
            (2, "ADDR", ""),
            (3, "MISC", ""),
        ):
            rows.append(MsrInfo(base + off, f"MC{bank}_{reg}", "mce_bank", "mce_bank",
                                notes=note, description=f"machine-check bank {bank} {reg}"))
        rows.append(MsrInfo(n.MSR_IA32_MC0_CTL2 + bank, f"MC{bank}_CTL2", "mce_ctl2",
                            "mce_ctl2", since=(6, 2),
                            notes="needs MCG_CAP.CMCI_P (never set by default) -> INVALID",
                            description=f"machine-check bank {bank} CMCI control"))
    return rows


_X2APIC_REGS = {
    0x02: "ID", 0x03: "VERSION", 0x08: "TPR", 0x0A: "PPR", 0x0B: "EOI", 0x0D: "LDR",
    0x0F: "SIVR", 0x28: "ESR", 0x2F: "LVT_CMCI", 0x30: "ICR", 0x32: "LVT_TIMER",
    0x33: "LVT_THERMAL", 0x34: "LVT_PMI", 0x35: "LVT_LINT0", 0x36: "LVT_LINT1",
    0x37: "LVT_ERROR", 0x38: "INIT_COUNT", 0x39: "CUR_COUNT", 0x3E: "DIV_CONF", 0x3F: "SELF_IPI",
    **{0x10 + i: f"ISR{i}" for i in range(8)},
    **{0x18 + i: f"TMR{i}" for i in range(8)},
    **{0x20 + i: f"IRR{i}" for i in range(8)},
}


def x2apic_rows() -> list[MsrInfo]:
    note = ("INVALID unless the in-kernel LAPIC is in x2APIC mode (lapic.c "
            "kvm_x2apic_msr_read/write); never filtered")
    rows = [MsrInfo(n.APIC_BASE_MSR, "x2APIC", "x2apic", "x2apic", count=0x100,
                    notes=note + "; unnamed registers -> INVALID",
                    description="x2APIC register space")]
    rows += [MsrInfo(n.APIC_BASE_MSR + off, f"X2APIC_{name}", "x2apic", "x2apic", reset=None,
                     notes=note, description=f"x2APIC {name}")
             for off, name in sorted(_X2APIC_REGS.items())]
    return rows


def pmu_rows() -> list[MsrInfo]:
    rows = []
    for i in range(8):
        legacy = i < 2
        rows.append(MsrInfo(n.MSR_IA32_PERFCTR0 + i, f"IA32_PMC{i}", "pmu", "pmu",
                            notes=PMU_NOTE if legacy else "intel PMU counter; unknown without",
                            description=f"{'P6 ' if legacy else ''}GP counter {i}"))
        rows.append(MsrInfo(n.MSR_IA32_EVNTSEL0 + i, f"IA32_PERFEVTSEL{i}", "pmu", "pmu",
                            notes=PMU_NOTE if legacy else "intel PMU event select; unknown without",
                            description=f"{'P6 ' if legacy else ''}event select {i}"))
        rows.append(MsrInfo(n.MSR_IA32_PMC0 + i, f"IA32_A_PMC{i}", "pmu", "pmu",
                            vendor="intel",
                            notes="full-width counter; needs PERF_CAPABILITIES.FW_WRITES",
                            description=f"full-width GP counter {i}"))
    for i in range(3):
        rows.append(MsrInfo(n.MSR_CORE_PERF_FIXED_CTR0 + i, f"IA32_FIXED_CTR{i}", "pmu",
                            "pmu", vendor="intel", description=f"fixed counter {i}"))
    rows += [
        MsrInfo(n.MSR_CORE_PERF_FIXED_CTR_CTRL, "IA32_FIXED_CTR_CTRL", "pmu", "pmu",
                vendor="intel", description="fixed counter control"),
        MsrInfo(n.MSR_CORE_PERF_GLOBAL_STATUS, "IA32_PERF_GLOBAL_STATUS", "pmu", "pmu",
                vendor="intel", notes="guest write -> INVALID", description="PMU status"),
        MsrInfo(n.MSR_CORE_PERF_GLOBAL_CTRL, "IA32_PERF_GLOBAL_CTRL", "pmu", "pmu",
                vendor="intel", reset=None,
                notes="6.18 resets it to all GP counters enabled", description="PMU enables"),
        MsrInfo(n.MSR_CORE_PERF_GLOBAL_OVF_CTRL, "IA32_PERF_GLOBAL_OVF_CTRL", "pmu", "pmu",
                vendor="intel", notes="write clears status bits; 6.18 reads 0",
                description="PMU status clear"),
    ]
    for i in range(4):
        rows.append(MsrInfo(n.MSR_K7_EVNTSEL0 + i, f"K7_EVNTSEL{i}", "pmu", "pmu", notes=PMU_NOTE,
                            description=f"AMD legacy event select {i}"))
        rows.append(MsrInfo(n.MSR_K7_PERFCTR0 + i, f"K7_PERFCTR{i}", "pmu", "pmu", notes=PMU_NOTE,
                            description=f"AMD legacy counter {i}"))
    return rows
