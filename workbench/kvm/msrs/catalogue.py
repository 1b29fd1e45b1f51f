"""The in-kernel MSR catalogue: one row per MSR (or MSR family) KVM emulates.

The rows drive the handlers (msrs/emulate.py picks a read and a write behaviour by name),
the GUI's names and the tests. `read`/`write` name a behaviour:

  value    the stored value                 store    keep the value (after the checks)
  const    always `reset`                   ignore   accept and drop (kvm_set_msr_common no-ops)
  host     host-initiated only (guest: INVALID)
  unsupported  KVM does not know the MSR in this direction (reason UNKNOWN)
  anything else: a handler of that name in emulate.py's tables.

Guest-initiated accesses also check `feature` (the guest CPUID bit KVM asks for; missing
-> INVALID unless the row says otherwise), `reserved` (bits a guest WRMSR may not set) and
`vendor` (the only vendor module that handles it). `since`/`before` bound the kernels that
handle the row; outside them the index is unknown. `checked` records what the real
kernel on the development machine did with the row (see HOST_DIVERGENCES).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from workbench.kvm.msrs import numbers as n
from workbench.kvm.profiles import KvmProfile


@dataclass(frozen=True)
class MsrInfo:
    index: int
    name: str
    read: str
    write: str
    reset: int | None = 0  # None: depends on the vCPU (see notes)
    reserved: int = 0  # bits a guest WRMSR must leave clear (further rules: notes)
    feature: str | None = None  # Cpuid.has() name KVM checks for guest accesses
    vendor: str | None = None  # "intel" / "amd": handled only by that vendor module
    since: tuple[int, int] | None = None
    before: tuple[int, int] | None = None
    count: int = 1  # a range row covers index .. index + count - 1
    notes: str = ""
    description: str = ""
    checked: str = ""  # real-kernel probe result (linux-6.18 host), "" = not checked

    @property
    def last(self) -> int:
        return self.index + self.count - 1

    def applies(self, vendor: str, profile: KvmProfile) -> bool:
        if self.vendor is not None and self.vendor != vendor:
            return False
        if self.since is not None and not profile.at_least(*self.since):
            return False
        return self.before is None or not profile.at_least(*self.before)


def _bits(*positions: int) -> int:
    return sum(1 << p for p in positions)


_CANONICAL = "non-canonical (48-bit, 57 with LA57 on 6.18) write -> INVALID (__kvm_set_msr)"
_PV = "KVM PV MSR; needs its KVM_FEATURE_* bit only with KVM_CAP_ENFORCE_PV_FEATURE_CPUID"
_ZERO = "kvm_get_msr_common returns 0; no write case (kvm_set_msr_common default)"
_PMU = ("vendor PMU when the guest has one (intel: CPUID 0xA; amd: kvm.enable_pmu), else "
        "reads 0 and writes are accepted and dropped (kvm_get/set_msr_common)")


def _core_rows() -> list[MsrInfo]:
    r = MsrInfo
    return [
        r(n.MSR_IA32_P5_MC_ADDR, "IA32_P5_MC_ADDR", "const", "unsupported",
          notes="get_msr_mce returns 0; set_msr_mce has no case", description="P5 MC address"),
        r(n.MSR_IA32_P5_MC_TYPE, "IA32_P5_MC_TYPE", "const", "unsupported",
          notes="get_msr_mce returns 0; set_msr_mce has no case", description="P5 MC type"),
        r(n.MSR_IA32_TSC, "IA32_TSC", "tsc", "tsc", reset=None,
          notes="reads offset + guest time; guest write moves the offset and adds the delta "
                "to TSC_ADJUST (kvm_set_msr_common MSR_IA32_TSC)",
          description="time-stamp counter"),
        r(n.MSR_KVM_WALL_CLOCK, "KVM_WALL_CLOCK", "pv", "pv", feature="kvm_pv_clocksource",
          notes=_PV + "; VM-wide in the kernel", description="KVM PV wall clock (legacy)"),
        r(n.MSR_KVM_SYSTEM_TIME, "KVM_SYSTEM_TIME", "pv", "pv", feature="kvm_pv_clocksource",
          notes=_PV, description="KVM PV system time (legacy)"),
        r(n.MSR_IA32_PLATFORM_ID, "IA32_PLATFORM_ID", "const", "unsupported", notes=_ZERO,
          description="platform id"),
        r(n.MSR_IA32_APICBASE, "IA32_APIC_BASE", "value", "apic_base", reset=None,
          reserved=0x2FF,
          notes="0xFEE00900 for the BSP (vCPU 0), 0xFEE00800 otherwise; bits above "
                "MAXPHYADDR, 0-7, 9 and EXTD without x2APIC CPUID are reserved; illegal "
                "mode transitions -> INVALID (lapic.c kvm_apic_set_base)",
          description="local APIC base and mode"),
        r(n.MSR_IA32_EBL_CR_POWERON, "IA32_EBL_CR_POWERON", "const", "unsupported",
          notes=_ZERO, description="power-on configuration"),
        r(n.MSR_EBC_FREQUENCY_ID, "EBC_FREQUENCY_ID", "const", "unsupported", reset=1 << 24,
          notes="kvm_get_msr_common returns 1 << 24", description="bus frequency id"),
        r(n.MSR_SMI_COUNT, "SMI_COUNT", "value", "host",
          notes="guest write -> INVALID", description="SMIs taken"),
        r(n.MSR_IA32_FEAT_CTL, "IA32_FEATURE_CONTROL", "value", "feat_ctl", vendor="intel",
          notes="valid bits: LOCK, plus VMXON-outside-SMX with nested VMX; guest writes once "
                "locked -> INVALID (vmx.c is_vmx_feature_control_msr_valid)",
          description="VMX/SGX/LMCE enable and lock"),
        r(n.MSR_IA32_TSC_ADJUST, "IA32_TSC_ADJUST", "value", "tsc_adjust",
          notes="write moves the TSC offset by the delta; without TSC_ADJUST CPUID the "
                "write is accepted and dropped (kvm_set_msr_common)",
          description="TSC adjust"),
        r(n.MSR_IA32_SPEC_CTRL, "IA32_SPEC_CTRL", "value", "spec_ctrl", feature="spec_ctrl",
          notes="bits the host CPU accepts (kvm_spec_ctrl_test_value), else INVALID; a "
                "non-zero guest write passes the MSR through (vmx/svm_set_msr)",
          description="speculation control"),
        r(n.MSR_IA32_PRED_CMD, "IA32_PRED_CMD", "unsupported", "pred_cmd", feature="ibpb",
          reserved=~1 & n.U64,
          notes="write-only; bit 0 IBPB (bit 7 SBPB needs SBPB CPUID); 6.18: "
                "kvm_set_msr_common, 5.10: vmx/svm_set_msr (first non-zero write passes "
                "it through)",
          description="prediction command"),
        r(n.MSR_IA32_UCODE_WRITE, "IA32_BIOS_UPDT_TRIG", "unsupported", "ignore",
          notes="kvm_set_msr_common accepts and drops writes", description="microcode load"),
        r(n.MSR_IA32_UCODE_REV, "IA32_BIOS_SIGN_ID", "value", "ucode_rev", reset=None,
          notes="0x100000000 (intel) / 0x01000065 (amd); guest writes accepted and "
                "dropped, host writes set it",
          description="microcode revision"),
        r(n.MSR_IA32_SMBASE, "IA32_SMBASE", "host", "host",
          notes="host-initiated only (kvm_get/set_msr_common)", description="SMRAM base"),
        r(n.MSR_FSB_FREQ, "FSB_FREQ", "const", "unsupported", reset=3,
          notes="kvm_get_msr_common returns 3", description="front-side bus frequency"),
        r(n.MSR_PLATFORM_INFO, "PLATFORM_INFO", "value", "host", reset=1 << 31,
          notes="CPUID-faulting supported (bit 31); guest write -> INVALID",
          description="platform information"),
        r(n.MSR_MTRRcap, "MTRRcap", "const", "unsupported", reset=0x508,
          notes="8 variable MTRRs, fixed and WC (mtrr.c kvm_mtrr_get_msr); read-only",
          description="MTRR capabilities"),
        r(n.MSR_IA32_ARCH_CAPABILITIES, "IA32_ARCH_CAPABILITIES", "value", "host",
          reset=None, feature="arch_capabilities",
          notes="guest write -> INVALID; value from kvm_get_arch_capabilities",
          description="speculation-related capabilities"),
        r(n.MSR_IA32_FLUSH_CMD, "IA32_FLUSH_CMD", "unsupported", "flush_cmd",
          feature="flush_l1d", reserved=~1 & n.U64, since=(6, 5),
          notes="write-only, 0 or 1 (L1D flush); unknown before 6.5",
          description="L1D flush command"),
        r(n.MSR_IA32_BBL_CR_CTL3, "IA32_BBL_CR_CTL3", "const", "ignore",
          reset=0xBE702111, notes="fixed value; writes dropped (kvm_set_msr_common)",
          description="L2 cache control"),
        r(n.MSR_MISC_FEATURES_ENABLES, "MISC_FEATURES_ENABLES", "value", "store",
          reserved=~1 & n.U64, notes="only CPUID faulting (bit 0)",
          description="CPUID faulting enable"),
        r(n.MSR_IA32_SYSENTER_CS, "IA32_SYSENTER_CS", "value", "sysenter_cs",
          notes="VMX keeps 32 bits (VMCS field), SVM 64", description="SYSENTER CS"),
        r(n.MSR_IA32_SYSENTER_ESP, "IA32_SYSENTER_ESP", "value", "sysenter",
          notes="made canonical, never faults; SVM on 6.18 keeps only 32 bits unless the "
                "guest CPUID is Intel-compatible (svm_set_msr)",
          description="SYSENTER stack"),
        r(n.MSR_IA32_SYSENTER_EIP, "IA32_SYSENTER_EIP", "value", "sysenter",
          notes="as SYSENTER_ESP", description="SYSENTER entry point"),
        r(n.MSR_IA32_MCG_CAP, "IA32_MCG_CAP", "value", "unsupported",
          reset=n.KVM_MAX_MCE_BANKS,
          notes="32 banks until KVM_X86_SETUP_MCE; no write case",
          description="machine-check capabilities"),
        r(n.MSR_IA32_MCG_STATUS, "IA32_MCG_STATUS", "value", "store",
          description="machine-check status"),
        r(n.MSR_IA32_MCG_CTL, "IA32_MCG_CTL", "mcg_ctl", "mcg_ctl",
          notes="needs MCG_CAP.CTL_P (never set by default) -> INVALID",
          description="machine-check global control"),
        r(n.MSR_IA32_PERF_STATUS, "IA32_PERF_STATUS", "const", "unsupported",
          reset=1000 | 4 << 40, notes="kvm_get_msr_common returns a fixed value",
          description="performance status"),
        r(n.MSR_IA32_PERF_CTL, "IA32_PERF_CTL", "const", "unsupported", notes=_ZERO,
          description="performance control"),
        r(n.MSR_IA32_MISC_ENABLE, "IA32_MISC_ENABLE", "value", "misc_enable", reset=0x1800,
          notes="BTS/PEBS-unavailable bits are read-only for the guest on 6.18 (INVALID "
                "when changed), EMON is kept; 5.10 stores any value",
          description="miscellaneous enables"),
        r(n.MSR_IA32_XFD, "IA32_XFD", "value", "xfd", feature="xfd", since=(5, 17),
          notes="only dynamic XSAVE features (AMX tile data) may be set",
          description="extended feature disable"),
        r(n.MSR_IA32_XFD_ERR, "IA32_XFD_ERR", "value", "xfd", feature="xfd", since=(5, 17),
          notes="as IA32_XFD", description="XFD error"),
        r(n.MSR_IA32_DEBUGCTLMSR, "IA32_DEBUGCTL", "value", "debugctl",
          notes="intel: LBR/BTF dropped, other unsupported bits INVALID; amd: BTF dropped "
                "(6.18), bits above 5 INVALID",
          description="debug control"),
        r(n.MSR_IA32_LASTBRANCHFROMIP, "IA32_LASTBRANCHFROMIP", "const", "unsupported",
          notes=_ZERO, description="last branch from"),
        r(n.MSR_IA32_LASTBRANCHTOIP, "IA32_LASTBRANCHTOIP", "const", "unsupported",
          notes=_ZERO, description="last branch to"),
        r(n.MSR_IA32_LASTINTFROMIP, "IA32_LASTINTFROMIP", "const", "unsupported",
          notes=_ZERO, description="last interrupt from"),
        r(n.MSR_IA32_LASTINTTOIP, "IA32_LASTINTTOIP", "const", "unsupported",
          notes=_ZERO, description="last interrupt to"),
        r(n.MSR_IA32_POWER_CTL, "IA32_POWER_CTL", "value", "store",
          description="power control"),
        r(n.MSR_IA32_CR_PAT, "IA32_PAT", "value", "pat", reset=0x0007040600070406,
          notes="each byte must be a valid memory type (0, 1, 4-7), else INVALID "
                "(kvm_pat_valid)",
          description="page attribute table"),
        r(n.MSR_IA32_MCG_EXT_CTL, "IA32_MCG_EXT_CTL", "host", "host", vendor="intel",
          notes="needs FEATURE_CONTROL.LMCE (impossible without MCG_CAP.LMCE_P)",
          description="local machine-check enable"),
        r(n.MSR_IA32_TSC_DEADLINE, "IA32_TSC_DEADLINE", "tsc_deadline", "tsc_deadline",
          notes="reads 0 and writes are dropped unless the in-kernel LAPIC is enabled "
                "with LVTT in TSC-deadline mode (lapic.c kvm_get/set_lapic_tscdeadline_msr)",
          description="TSC deadline"),
        r(n.MSR_IA32_XSS, "IA32_XSS", "value", "xss", feature="xsaves",
          notes="bits beyond CPUID 0xD.1 ECX:EDX and KVM's supported XSS -> INVALID "
                "(5.10 supports none)",
          description="supervisor XSAVE features"),
        r(n.MSR_IA32_PERF_CAPABILITIES, "IA32_PERF_CAPABILITIES", "value", "host",
          reset=None, feature="pdcm",
          notes="guest write -> INVALID; 0x2000 (full-width writes) with a PMU",
          description="performance monitoring capabilities"),
    ]


def _rapl_rows() -> list[MsrInfo]:
    names = {
        n.MSR_RAPL_POWER_UNIT: "RAPL_POWER_UNIT",
        n.MSR_PKG_ENERGY_STATUS: "PKG_ENERGY_STATUS",
        n.MSR_DRAM_ENERGY_STATUS: "DRAM_ENERGY_STATUS",
        n.MSR_PP0_ENERGY_STATUS: "PP0_ENERGY_STATUS",
        n.MSR_PP1_ENERGY_STATUS: "PP1_ENERGY_STATUS",
    }
    return [MsrInfo(i, name, "const", "unsupported", notes=_ZERO, description="RAPL")
            for i, name in names.items()]


def _syscall_rows() -> list[MsrInfo]:
    r = MsrInfo
    return [
        r(n.MSR_EFER, "EFER", "value", "efer", reset=None,
          notes="reserved bits and features the CPUID lacks (NX, LM, SVME, FFXSR, AUTOIBRS) "
                "-> INVALID; LME cannot change while paging; LMA is kept (set_efer)",
          description="extended features enable"),
        r(n.MSR_STAR, "STAR", "value", "store", description="SYSCALL target (legacy)"),
        r(n.MSR_LSTAR, "LSTAR", "value", "canonical", notes=_CANONICAL,
          description="SYSCALL target (64-bit)"),
        r(n.MSR_CSTAR, "CSTAR", "value", "canonical", notes=_CANONICAL,
          description="SYSCALL target (compat)"),
        r(n.MSR_SYSCALL_MASK, "SFMASK", "value", "store", description="SYSCALL flag mask"),
        r(n.MSR_FS_BASE, "FS_BASE", "value", "canonical", notes=_CANONICAL,
          description="FS base"),
        r(n.MSR_GS_BASE, "GS_BASE", "value", "canonical", notes=_CANONICAL,
          description="GS base"),
        r(n.MSR_KERNEL_GS_BASE, "KERNEL_GS_BASE", "value", "canonical", notes=_CANONICAL,
          description="SWAPGS shadow"),
        r(n.MSR_TSC_AUX, "TSC_AUX", "tsc_aux", "tsc_aux",
          notes="needs RDTSCP or RDPID (5.10: RDTSCP) both ways; upper 32 bits reserved for "
                "Intel-compatible guests, dropped otherwise (6.18 __kvm_set_msr)",
          description="RDTSCP/RDPID auxiliary value"),
    ]


def _pv_rows() -> list[MsrInfo]:
    rows = [
        (n.MSR_KVM_WALL_CLOCK_NEW, "KVM_WALL_CLOCK_NEW", "kvm_pv_clocksource2", 0, "wall clock"),
        (n.MSR_KVM_SYSTEM_TIME_NEW, "KVM_SYSTEM_TIME_NEW", "kvm_pv_clocksource2", 0,
         "system time"),
        (n.MSR_KVM_ASYNC_PF_EN, "KVM_ASYNC_PF_EN", "kvm_pv_async_pf", 0x30, "async PF enable"),
        (n.MSR_KVM_STEAL_TIME, "KVM_STEAL_TIME", "kvm_pv_steal_time", 0x3E, "steal time"),
        (n.MSR_KVM_PV_EOI_EN, "KVM_PV_EOI_EN", "kvm_pv_eoi", 0x2, "PV EOI"),
        (n.MSR_KVM_POLL_CONTROL, "KVM_POLL_CONTROL", "kvm_pv_poll_control", ~1 & n.U64,
         "host-side halt polling"),
        (n.MSR_KVM_ASYNC_PF_INT, "KVM_ASYNC_PF_INT", "kvm_pv_async_pf_int", ~0xFF & n.U64,
         "async PF interrupt vector"),
        (n.MSR_KVM_ASYNC_PF_ACK, "KVM_ASYNC_PF_ACK", "kvm_pv_async_pf_int", 0,
         "async PF acknowledge"),
    ]
    return [
        MsrInfo(index, name, "pv", "pv", feature=feature, reserved=reserved,
                reset=1 if index == n.MSR_KVM_POLL_CONTROL else 0, notes=_PV,
                description=f"KVM PV {desc}")
        for index, name, feature, reserved, desc in rows
    ]


def _amd_rows() -> list[MsrInfo]:
    r = MsrInfo
    return [
        r(n.MSR_AMD64_SYSCFG, "SYSCFG", "const", "unsupported", notes=_ZERO,
          description="AMD system configuration"),
        r(n.MSR_K7_HWCR, "HWCR", "value", "hwcr",
          notes="kvm_set_msr_common, both vendors: bits 3, 6, 8 ignored; McStatusWrEn (18) "
                "and TscFreqSel (24, 6.18) kept; others INVALID; 5.10: only 0 or bit 18, "
                "and writing 0 keeps the old value",
          description="AMD hardware configuration"),
        r(n.MSR_K7_CLK_CTL, "K7_CLK_CTL", "const", "ignore", reset=0x20000000,
          notes="fixed value; writes dropped (kvm_set_msr_common)",
          description="clock control"),
        r(n.MSR_AMD64_NB_CFG, "NB_CFG", "const", "ignore", notes="reads 0, writes dropped",
          description="northbridge configuration"),
        r(n.MSR_K8_INT_PENDING_MSG, "K8_INT_PENDING_MSG", "const", "unsupported",
          notes=_ZERO, description="interrupt pending message"),
        r(n.MSR_FAM10H_MMIO_CONF_BASE, "FAM10H_MMIO_CONF_BASE", "const", "zero_only",
          notes="reads 0; writing 0 is accepted, anything else INVALID (kvm_set_msr_common)",
          description="MMCONFIG base"),
        r(n.MSR_K8_TSEG_ADDR, "K8_TSEG_ADDR", "const", "unsupported", notes=_ZERO,
          description="TSEG base"),
        r(n.MSR_K8_TSEG_MASK, "K8_TSEG_MASK", "const", "unsupported", notes=_ZERO,
          description="TSEG mask"),
        r(n.MSR_VM_CR, "VM_CR", "value", "vm_cr", vendor="amd", reserved=~0x1F & n.U64,
          notes="svm.c svm_set_vm_cr: LOCK/SVMDIS frozen once SVMDIS is set; SVMDIS with "
                "EFER.SVME -> INVALID",
          description="SVM control"),
        r(n.MSR_VM_HSAVE_PA, "VM_HSAVE_PA", "hsave", "hsave",
          notes="amd: page-aligned GPA (6.18 checks guest writes); intel: kvm_get_msr_common "
                "reads 0 and kvm_set_msr_common drops writes",
          description="SVM host save area"),
        r(n.MSR_AMD64_VIRT_SPEC_CTRL, "VIRT_SPEC_CTRL", "value", "store", vendor="amd",
          feature="virt_ssbd", reserved=~(1 << 2) & n.U64, notes="only SSBD (bit 2)",
          description="virtualized speculation control"),
        r(n.MSR_AMD64_OSVW_ID_LENGTH, "OSVW_ID_LENGTH", "value", "store", feature="osvw",
          reset=None, notes="guest-writable; length from the host (amd)",
          description="OS visible workaround length"),
        r(n.MSR_AMD64_OSVW_STATUS, "OSVW_STATUS", "value", "store", feature="osvw",
          description="OS visible workaround status"),
        r(n.MSR_AMD64_DC_CFG, "DC_CFG", "const", "ignore", notes="reads 0, writes dropped",
          description="data cache configuration"),
        r(n.MSR_AMD64_TW_CFG, "TW_CFG", "const", "ignore", since=(6, 2),
          notes="reads 0, writes dropped (added for Windows guests)",
          description="table walker configuration"),
        r(n.MSR_AMD64_DE_CFG, "DE_CFG", "value", "store", vendor="amd",
          reserved=~(1 << 1) & n.U64,
          notes="only LFENCE-serializing (bit 1, when the host has it)",
          description="decode configuration"),
        r(n.MSR_AMD64_BU_CFG2, "BU_CFG2", "const", "ignore", notes="reads 0, writes dropped",
          description="bus unit configuration 2"),
        r(n.MSR_F15H_EX_CFG, "F15H_EX_CFG", "const", "ignore", notes="reads 0, writes dropped",
          description="execution unit configuration"),
    ]


def _mtrr_rows() -> list[MsrInfo]:
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


def _mce_rows() -> list[MsrInfo]:
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


def _x2apic_rows() -> list[MsrInfo]:
    note = ("INVALID unless the in-kernel LAPIC is in x2APIC mode (lapic.c "
            "kvm_x2apic_msr_read/write); never filtered")
    rows = [MsrInfo(n.APIC_BASE_MSR, "x2APIC", "x2apic", "x2apic", count=0x100,
                    notes=note + "; unnamed registers -> INVALID",
                    description="x2APIC register space")]
    rows += [MsrInfo(n.APIC_BASE_MSR + off, f"X2APIC_{name}", "x2apic", "x2apic", reset=None,
                     notes=note, description=f"x2APIC {name}")
             for off, name in sorted(_X2APIC_REGS.items())]
    return rows


def _pmu_rows() -> list[MsrInfo]:
    rows = []
    for i in range(8):
        legacy = i < 2
        rows.append(MsrInfo(n.MSR_IA32_PERFCTR0 + i, f"IA32_PMC{i}", "pmu", "pmu",
                            notes=_PMU if legacy else "intel PMU counter; unknown without",
                            description=f"{'P6 ' if legacy else ''}GP counter {i}"))
        rows.append(MsrInfo(n.MSR_IA32_EVNTSEL0 + i, f"IA32_PERFEVTSEL{i}", "pmu", "pmu",
                            notes=_PMU if legacy else "intel PMU event select; unknown without",
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
        rows.append(MsrInfo(n.MSR_K7_EVNTSEL0 + i, f"K7_EVNTSEL{i}", "pmu", "pmu", notes=_PMU,
                            description=f"AMD legacy event select {i}"))
        rows.append(MsrInfo(n.MSR_K7_PERFCTR0 + i, f"K7_PERFCTR{i}", "pmu", "pmu", notes=_PMU,
                            description=f"AMD legacy counter {i}"))
    return rows


def _cet_rows() -> list[MsrInfo]:
    note = ("6.18 CET virtualization: CPUID lacking -> unknown (KVM_MSR_RET_UNSUPPORTED); "
            "unknown before 6.18")
    rows = [
        MsrInfo(n.MSR_IA32_U_CET, "IA32_U_CET", "cet", "cet", since=(6, 18), notes=note,
                description="user CET configuration"),
        MsrInfo(n.MSR_IA32_S_CET, "IA32_S_CET", "cet", "cet", since=(6, 18), notes=note,
                description="supervisor CET configuration"),
    ]
    rows += [MsrInfo(n.MSR_IA32_PL0_SSP + i, f"IA32_PL{i}_SSP", "cet", "cet", since=(6, 18),
                     notes=note + "; canonical, 4-byte aligned",
                     description=f"ring-{i} shadow stack pointer") for i in range(4)]
    rows.append(MsrInfo(n.MSR_IA32_INT_SSP_TAB, "IA32_INTERRUPT_SSP_TABLE_ADDR", "cet", "cet",
                        since=(6, 18), notes=note + "; canonical",
                        description="interrupt SSP table"))
    return rows


_PVM_SEEN = "observed on the 6.18-fc host with kvm_pvm"


def _pvm_rows() -> list[MsrInfo]:
    """kvm_pvm's answers where they differ from the rows above (lookup prefers these for
    vendor "pvm"). Rows that only differ by vendor need none: the VMX-only and SVM-only
    rows are unknown to PVM, and the handlers' vendor checks give PVM the common-code
    result (64-bit SYSENTER MSRs, VM_HSAVE_PA reading 0, OSVW_ID_LENGTH 0, no PMU)."""
    def r(index: int, name: str, read: str, write: str, notes: str, **kw: Any) -> MsrInfo:
        return MsrInfo(index, name, read, write, vendor="pvm", notes=f"{notes} ({_PVM_SEEN})",
                       checked=_PVM_SEEN, **kw)

    return [
        r(n.MSR_IA32_TSC, "IA32_TSC", "tsc", "pvm_tsc", reset=None,
          notes="guest writes leave the TSC running as before and add (value - TSC) to "
                "TSC_ADJUST; host writes change nothing",
          description="time-stamp counter"),
        r(n.MSR_KVM_WALL_CLOCK, "KVM_WALL_CLOCK", "clock_twin", "clock_twin",
          feature="kvm_pv_clocksource", notes="same value as KVM_WALL_CLOCK_NEW",
          description="KVM PV wall clock (legacy)"),
        r(n.MSR_KVM_SYSTEM_TIME, "KVM_SYSTEM_TIME", "clock_twin", "clock_twin",
          feature="kvm_pv_clocksource", notes="same value as KVM_SYSTEM_TIME_NEW",
          description="KVM PV system time (legacy)"),
        r(n.MSR_IA32_TSC_ADJUST, "IA32_TSC_ADJUST", "value", "store",
          notes="any value kept, with or without TSC_ADJUST CPUID; the TSC does not move",
          description="TSC adjust"),
        r(n.MSR_IA32_SPEC_CTRL, "IA32_SPEC_CTRL", "const", "ignore",
          notes="reads 0 and drops any write, whatever the CPUID says",
          description="speculation control"),
        r(n.MSR_IA32_PRED_CMD, "IA32_PRED_CMD", "unsupported", "ignore",
          notes="write-only; any value accepted without IBPB CPUID",
          description="prediction command"),
        r(n.MSR_IA32_UCODE_REV, "IA32_BIOS_SIGN_ID", "const", "ignore",
          notes="reads 0; writes dropped", description="microcode revision"),
        r(n.MSR_IA32_ARCH_CAPABILITIES, "IA32_ARCH_CAPABILITIES", "unsupported",
          "unsupported", notes="unknown, although the CPUID advertises it",
          description="speculation-related capabilities"),
        r(n.MSR_IA32_FLUSH_CMD, "IA32_FLUSH_CMD", "unsupported", "ignore",
          notes="write-only; any value accepted without FLUSH_L1D CPUID",
          description="L1D flush command"),
        r(n.MSR_IA32_TSX_CTRL, "IA32_TSX_CTRL", "const", "ignore",
          notes="reads 0; writes dropped", description="TSX control"),
        r(n.MSR_MISC_FEATURES_ENABLES, "MISC_FEATURES_ENABLES", "value", "store",
          notes="any value kept", description="CPUID faulting enable"),
        r(n.MSR_IA32_MISC_ENABLE, "IA32_MISC_ENABLE", "value", "store", reset=0x1,
          notes="resets to 0x1 (fast strings); any value kept",
          description="miscellaneous enables"),
        r(n.MSR_IA32_DEBUGCTLMSR, "IA32_DEBUGCTL", "const", "ignore",
          notes="reads 0; any write accepted and dropped", description="debug control"),
        r(n.MSR_IA32_CR_PAT, "IA32_PAT", "value", "store", reset=0x0007040600070406,
          notes="any value kept, invalid memory types too",
          description="page attribute table"),
        r(n.MSR_IA32_PERF_CAPABILITIES, "IA32_PERF_CAPABILITIES", "unsupported",
          "unsupported", notes="unknown, also with PDCM in the CPUID (kvm.enable_pmu=N)",
          description="performance monitoring capabilities"),
        r(n.MSR_IA32_XSS, "IA32_XSS", "invalid", "unsupported",
          notes="reads INVALID, writes unknown, also with XSAVES in the CPUID",
          description="supervisor XSAVE features"),
        r(n.MSR_TSC_AUX, "TSC_AUX", "invalid", "invalid",
          notes="INVALID both ways, also with RDTSCP or RDPID in the CPUID",
          description="RDTSCP/RDPID auxiliary value"),
        r(n.MSR_AMD64_TSC_RATIO, "AMD64_TSC_RATIO", "invalid", "invalid",
          notes="INVALID both ways", description="TSC frequency ratio"),
        r(n.MSR_AMD64_PATCH_LOADER, "AMD64_PATCH_LOADER", "unsupported", "ignore",
          notes="write-only; any value accepted", description="microcode patch loader"),
        r(n.MSR_AMD64_VIRT_SPEC_CTRL, "VIRT_SPEC_CTRL", "const", "ignore",
          notes="reads 0 and drops any write, with or without VIRT_SSBD CPUID",
          description="virtualized speculation control"),
        r(n.MSR_KVM_PV_EOI_EN, "KVM_PV_EOI_EN", "pv", "pv_eoi", feature="kvm_pv_eoi",
          reserved=0x2, notes=_PV + "; enabling it at a GPA outside guest RAM -> INVALID",
          description="KVM PV PV EOI"),
        r(n.MSR_PVM_GPA, "PVM_GPA", "const", "pvm_gpa",
          notes="reads 0; writing 0 is accepted, a GPA outside guest RAM -> INVALID, a "
                "non-zero one inside it stops the guest (not modelled)",
          description="PVM guest-physical address register"),
        r(n.MSR_PVM_SIGNATURE, "PVM_SIGNATURE", "const", "unsupported", reset=0x4D5650,
          notes="reads 'PVM'; writes unknown", description="PVM signature"),
        r(n.MSR_PVM_INFO, "PVM_INFO", "const", "unsupported", reset=0x1FF,
          notes="reads 0x1ff on the EPYC development host (the host's value where the sim "
                "mimics a host); writes unknown", description="PVM information"),
        r(n.MSR_PVM_TSC_KHZ, "PVM_TSC_KHZ", "tsc_khz", "unsupported", reset=None,
          notes="reads the VM's TSC frequency in kHz (KVM_GET_TSC_KHZ); writes unknown",
          description="PVM TSC frequency"),
        r(n.MSR_PVM_LAST, "PVM_LAST", "invalid", "invalid",
          notes="INVALID both ways; the indices between it and PVM_TSC_KHZ are unknown",
          description="last MSR of the PVM range"),
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
    _core_rows() + _rapl_rows() + _syscall_rows() + _pv_rows() + _amd_rows() + _mtrr_rows()
    + _mce_rows() + _x2apic_rows() + _pmu_rows() + _cet_rows()
)))
# kvm_pvm's own rows, consulted before CATALOGUE for vendor "pvm" (see _pvm_rows).
PVM_ROWS: tuple[MsrInfo, ...] = tuple(_pvm_rows())

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


def lookup(index: int, vendor: str | None = None, profile: KvmProfile | None = None
           ) -> MsrInfo | None:
    """The catalogue row KVM uses for `index` (for that vendor and kernel when given)."""
    if vendor == "pvm" and index in _pvm_table():
        return _pvm_table()[index]
    for row in rows_for(index):
        if vendor is None or profile is None or row.applies(vendor, profile):
            return row
    return None


def msr_name(index: int) -> str:
    """A human name for any MSR index: the catalogue, well-known names, else hex."""
    singles, _ = _tables()
    if index in singles:
        return singles[index].name
    if index in _pvm_table():
        return _pvm_table()[index].name
    if index in KNOWN_NAMES:
        return KNOWN_NAMES[index]
    if n.APIC_BASE_MSR <= index <= n.APIC_BASE_MSR + 0xFF:
        return f"X2APIC_{index:#05x}"
    return f"{index:#010x}"
