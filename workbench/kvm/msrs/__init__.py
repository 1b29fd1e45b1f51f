"""KVM's in-kernel MSR emulation: the catalogue of MSRs it knows and their handlers."""

from workbench.kvm.msrs.base import MsrContext, MsrResult
from workbench.kvm.msrs.catalogue import CATALOGUE, KNOWN_NAMES, MsrInfo, lookup, msr_name
from workbench.kvm.msrs.emulate import MsrFile
from workbench.kvm.msrs.numbers import MSR_IA32_TSC, MSR_TSC_AUX

__all__ = [
    "CATALOGUE", "KNOWN_NAMES", "MSR_IA32_TSC", "MSR_TSC_AUX", "MsrContext", "MsrFile",
    "MsrInfo", "MsrResult", "lookup", "msr_name",
]
