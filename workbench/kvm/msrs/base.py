"""Result codes and the per-vCPU facts every MSR handler reads."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from workbench.kvm.cpuid import Cpuid
from workbench.kvm.msrs.numbers import EFER_LMA, EFER_LME
from workbench.kvm.profiles import KvmProfile

# The KVM vendor modules the sim models: kvm_intel (VMX), kvm_amd (SVM) and kvm_pvm (PVM,
# out of tree, as on the 6.18-fc development host).
VENDORS = ("intel", "amd", "pvm")
# The sim's TSC rate when nobody says otherwise (KVM_GET_TSC_KHZ, MSR_PVM_TSC_KHZ): 2 GHz, a
# round figure; a sim that mimics a real host takes that host's rate (host_traits.py).
DEFAULT_TSC_KHZ = 2_000_000


class MsrResult(enum.IntEnum):
    """What kvm_get_msr / kvm_set_msr return (arch/x86/kvm/x86.h).

    OK = 0; INVALID = 1 (known MSR, bad access: reason INVAL); UNSUPPORTED =
    KVM_MSR_RET_UNSUPPORTED on 6.18, KVM_MSR_RET_INVALID on 5.10 (reason UNKNOWN).
    """

    OK = 0
    INVALID = 1
    UNSUPPORTED = 2


@dataclass
class MsrContext:
    """Per-vCPU facts fixed at vCPU creation (the CPUID can be replaced via set_cpuid)."""

    vendor: str  # the KVM vendor module (one of VENDORS): independent of the CPUID
    profile: KvmProfile
    cpuid: Cpuid
    irqchip: bool  # in-kernel irqchip, hence an in-kernel local APIC
    vcpu_id: int = 0  # vCPU 0 is the BSP
    # Module parameter kvm.enable_pmu (default Y; Y means the guest gets a vendor PMU).
    enable_pmu: bool = True
    # KVM_CAP_ENFORCE_PV_FEATURE_CPUID (default off: PV MSRs work whatever the CPUID says).
    enforce_pv_cpuid: bool = False
    # EFER as the guest runtime leaves it after entering long mode (via KVM_SET_SREGS).
    boot_efer: int = EFER_LME | EFER_LMA
    tsc_khz: int = DEFAULT_TSC_KHZ
    # Values of machine-dependent MSRs read from a real host (host_traits.HOST_FACT_MSRS):
    # they replace the modelled reset value of those rows.
    host_msrs: Mapping[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.vendor not in VENDORS:
            raise ValueError(f"vendor must be one of {', '.join(VENDORS)}, not {self.vendor!r}")
