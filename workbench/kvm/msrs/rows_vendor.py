"""Catalogue rows of vendor and hypervisor MSRs: KVM's paravirtual MSRs, AMD's own, and
kvm_pvm's (which replace the common rows for vendor "pvm")."""

from __future__ import annotations

from typing import Any

from workbench.kvm.msrs import numbers as n
from workbench.kvm.msrs.info import PV_NOTE, ZERO_NOTE, MsrInfo
from workbench.values import U64_MAX


def pv_rows() -> list[MsrInfo]:
    rows = [
        (n.MSR_KVM_WALL_CLOCK_NEW, "KVM_WALL_CLOCK_NEW", "kvm_pv_clocksource2", 0, "wall clock"),
        (n.MSR_KVM_SYSTEM_TIME_NEW, "KVM_SYSTEM_TIME_NEW", "kvm_pv_clocksource2", 0,
         "system time"),
        (n.MSR_KVM_ASYNC_PF_EN, "KVM_ASYNC_PF_EN", "kvm_pv_async_pf", 0x30, "async PF enable"),
        (n.MSR_KVM_STEAL_TIME, "KVM_STEAL_TIME", "kvm_pv_steal_time", 0x3E, "steal time"),
        (n.MSR_KVM_PV_EOI_EN, "KVM_PV_EOI_EN", "kvm_pv_eoi", 0x2, "PV EOI"),
        (n.MSR_KVM_POLL_CONTROL, "KVM_POLL_CONTROL", "kvm_pv_poll_control", ~1 & U64_MAX,
         "host-side halt polling"),
        (n.MSR_KVM_ASYNC_PF_INT, "KVM_ASYNC_PF_INT", "kvm_pv_async_pf_int", ~0xFF & U64_MAX,
         "async PF interrupt vector"),
        (n.MSR_KVM_ASYNC_PF_ACK, "KVM_ASYNC_PF_ACK", "kvm_pv_async_pf_int", 0,
         "async PF acknowledge"),
    ]
    return [
        MsrInfo(index, name, "pv", "pv", feature=feature, reserved=reserved,
                reset=1 if index == n.MSR_KVM_POLL_CONTROL else 0, notes=PV_NOTE,
                description=f"KVM PV {desc}")
        for index, name, feature, reserved, desc in rows
    ]


def amd_rows() -> list[MsrInfo]:
    r = MsrInfo
    return [
        r(n.MSR_AMD64_SYSCFG, "SYSCFG", "const", "unsupported", notes=ZERO_NOTE,
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
          notes=ZERO_NOTE, description="interrupt pending message"),
        r(n.MSR_FAM10H_MMIO_CONF_BASE, "FAM10H_MMIO_CONF_BASE", "const", "zero_only",
          notes="reads 0; writing 0 is accepted, anything else INVALID (kvm_set_msr_common)",
          description="MMCONFIG base"),
        r(n.MSR_K8_TSEG_ADDR, "K8_TSEG_ADDR", "const", "unsupported", notes=ZERO_NOTE,
          description="TSEG base"),
        r(n.MSR_K8_TSEG_MASK, "K8_TSEG_MASK", "const", "unsupported", notes=ZERO_NOTE,
          description="TSEG mask"),
        r(n.MSR_VM_CR, "VM_CR", "value", "vm_cr", vendor="amd", reserved=~0x1F & U64_MAX,
          notes="svm.c svm_set_vm_cr: LOCK/SVMDIS frozen once SVMDIS is set; SVMDIS with "
                "EFER.SVME -> INVALID",
          description="SVM control"),
        r(n.MSR_VM_HSAVE_PA, "VM_HSAVE_PA", "hsave", "hsave",
          notes="amd: page-aligned GPA (6.18 checks guest writes); intel: kvm_get_msr_common "
                "reads 0 and kvm_set_msr_common drops writes",
          description="SVM host save area"),
        r(n.MSR_AMD64_VIRT_SPEC_CTRL, "VIRT_SPEC_CTRL", "value", "store", vendor="amd",
          feature="virt_ssbd", reserved=~(1 << 2) & U64_MAX, notes="only SSBD (bit 2)",
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
          reserved=~(1 << 1) & U64_MAX,
          notes="only LFENCE-serializing (bit 1, when the host has it)",
          description="decode configuration"),
        r(n.MSR_AMD64_BU_CFG2, "BU_CFG2", "const", "ignore", notes="reads 0, writes dropped",
          description="bus unit configuration 2"),
        r(n.MSR_F15H_EX_CFG, "F15H_EX_CFG", "const", "ignore", notes="reads 0, writes dropped",
          description="execution unit configuration"),
    ]


_PVM_SEEN = "observed on the 6.18-fc host with kvm_pvm"


def pvm_rows() -> list[MsrInfo]:
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
          reserved=0x2, notes=PV_NOTE + "; enabling it at a GPA outside guest RAM -> INVALID",
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
