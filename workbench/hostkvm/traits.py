"""Read this machine's HostTraits: what the sim needs to answer as this host does."""

from __future__ import annotations

from functools import cache

from workbench.hostkvm.cpuid import supported_cpuid
from workbench.hostkvm.module import host_module
from workbench.hostkvm.vm import HostKvm
from workbench.kvm.guest.assembler import Program
from workbench.kvm.host_traits import HOST_FACT_MSRS, HostTraits

_HLT = b"\xf4"


@cache
def read_host_traits() -> HostTraits:
    """KVM_GET_TSC_KHZ and KVM_GET_MSRS of HOST_FACT_MSRS on a scratch vCPU (an MSR the
    module does not know is left out, so the sim keeps its model there). Cached: none of
    it changes while the workbench runs."""
    with HostKvm() as kvm, kvm.create_vm() as vm:
        vcpu = vm.create_vcpu(Program(_HLT))
        msrs: dict[int, int] = {}
        for index in HOST_FACT_MSRS:
            try:
                msrs[index] = vcpu.get_msr(index)
            except OSError:
                continue
        tsc_khz = vcpu.get_tsc_khz()
    rows = tuple(tuple(row) for row in supported_cpuid())
    return HostTraits(host_module(), rows, tsc_khz, msrs)  # type: ignore[arg-type]
