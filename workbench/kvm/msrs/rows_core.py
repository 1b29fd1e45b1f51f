"""Catalogue rows of the architectural MSRs: core, RAPL, SYSCALL/segment bases, CET."""

from __future__ import annotations

from workbench.kvm.msrs import numbers as n
from workbench.kvm.msrs.info import CANONICAL_NOTE, PV_NOTE, ZERO_NOTE, MsrInfo
from workbench.values import U64_MAX


def core_rows() -> list[MsrInfo]:
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
          notes=PV_NOTE + "; VM-wide in the kernel", description="KVM PV wall clock (legacy)"),
        r(n.MSR_KVM_SYSTEM_TIME, "KVM_SYSTEM_TIME", "pv", "pv", feature="kvm_pv_clocksource",
          notes=PV_NOTE, description="KVM PV system time (legacy)"),
        r(n.MSR_IA32_PLATFORM_ID, "IA32_PLATFORM_ID", "const", "unsupported", notes=ZERO_NOTE,
          description="platform id"),
        r(n.MSR_IA32_APICBASE, "IA32_APIC_BASE", "value", "apic_base", reset=None,
          reserved=0x2FF,
          notes="0xFEE00900 for the BSP (vCPU 0), 0xFEE00800 otherwise; bits above "
                "MAXPHYADDR, 0-7, 9 and EXTD without x2APIC CPUID are reserved; illegal "
                "mode transitions -> INVALID (lapic.c kvm_apic_set_base)",
          description="local APIC base and mode"),
        r(n.MSR_IA32_EBL_CR_POWERON, "IA32_EBL_CR_POWERON", "const", "unsupported",
          notes=ZERO_NOTE, description="power-on configuration"),
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
          reserved=~1 & U64_MAX,
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
          feature="flush_l1d", reserved=~1 & U64_MAX, since=(6, 4),
          notes="write-only, 0 or 1 (L1D flush); unknown before 6.4 (da3db168fb67)",
          description="L1D flush command"),
        r(n.MSR_IA32_BBL_CR_CTL3, "IA32_BBL_CR_CTL3", "const", "ignore",
          reset=0xBE702111, notes="fixed value; writes dropped (kvm_set_msr_common)",
          description="L2 cache control"),
        r(n.MSR_MISC_FEATURES_ENABLES, "MISC_FEATURES_ENABLES", "value", "store",
          reserved=~1 & U64_MAX, notes="only CPUID faulting (bit 0)",
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
        r(n.MSR_IA32_PERF_CTL, "IA32_PERF_CTL", "const", "unsupported", notes=ZERO_NOTE,
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
          notes=ZERO_NOTE, description="last branch from"),
        r(n.MSR_IA32_LASTBRANCHTOIP, "IA32_LASTBRANCHTOIP", "const", "unsupported",
          notes=ZERO_NOTE, description="last branch to"),
        r(n.MSR_IA32_LASTINTFROMIP, "IA32_LASTINTFROMIP", "const", "unsupported",
          notes=ZERO_NOTE, description="last interrupt from"),
        r(n.MSR_IA32_LASTINTTOIP, "IA32_LASTINTTOIP", "const", "unsupported",
          notes=ZERO_NOTE, description="last interrupt to"),
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


def rapl_rows() -> list[MsrInfo]:
    names = {
        n.MSR_RAPL_POWER_UNIT: "RAPL_POWER_UNIT",
        n.MSR_PKG_ENERGY_STATUS: "PKG_ENERGY_STATUS",
        n.MSR_DRAM_ENERGY_STATUS: "DRAM_ENERGY_STATUS",
        n.MSR_PP0_ENERGY_STATUS: "PP0_ENERGY_STATUS",
        n.MSR_PP1_ENERGY_STATUS: "PP1_ENERGY_STATUS",
    }
    return [MsrInfo(i, name, "const", "unsupported", notes=ZERO_NOTE, description="RAPL")
            for i, name in names.items()]


def syscall_rows() -> list[MsrInfo]:
    r = MsrInfo
    return [
        r(n.MSR_EFER, "EFER", "value", "efer", reset=None,
          notes="reserved bits and features the CPUID lacks (NX, LM, SVME, FFXSR, AUTOIBRS) "
                "-> INVALID; LME cannot change while paging; LMA is kept (set_efer)",
          description="extended features enable"),
        r(n.MSR_STAR, "STAR", "value", "store", description="SYSCALL target (legacy)"),
        r(n.MSR_LSTAR, "LSTAR", "value", "canonical", notes=CANONICAL_NOTE,
          description="SYSCALL target (64-bit)"),
        r(n.MSR_CSTAR, "CSTAR", "value", "canonical", notes=CANONICAL_NOTE,
          description="SYSCALL target (compat)"),
        r(n.MSR_SYSCALL_MASK, "SFMASK", "value", "store", description="SYSCALL flag mask"),
        r(n.MSR_FS_BASE, "FS_BASE", "value", "canonical", notes=CANONICAL_NOTE,
          description="FS base"),
        r(n.MSR_GS_BASE, "GS_BASE", "value", "canonical", notes=CANONICAL_NOTE,
          description="GS base"),
        r(n.MSR_KERNEL_GS_BASE, "KERNEL_GS_BASE", "value", "canonical", notes=CANONICAL_NOTE,
          description="SWAPGS shadow"),
        r(n.MSR_TSC_AUX, "TSC_AUX", "tsc_aux", "tsc_aux",
          notes="needs RDTSCP or RDPID (5.10: RDTSCP) both ways; upper 32 bits reserved for "
                "Intel-compatible guests, dropped otherwise (6.18 __kvm_set_msr)",
          description="RDTSCP/RDPID auxiliary value"),
    ]


def cet_rows() -> list[MsrInfo]:
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
