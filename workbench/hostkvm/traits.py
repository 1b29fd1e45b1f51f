"""Read this machine's HostTraits: what the sim needs to answer as this host does."""

from __future__ import annotations

from functools import cache

from workbench.hostkvm.cpuid import supported_cpuid
from workbench.hostkvm.module import host_module
from workbench.hostkvm.vm import HostKvm, running_profile
from workbench.kvm.guest.assembler import Program
from workbench.kvm.host_traits import HOST_FACT_MSRS, HostTraits
from workbench.kvm.profiles import PROFILES

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
    profile = running_profile()
    return HostTraits(host_module(), rows, tsc_khz, msrs,  # type: ignore[arg-type]
                      profile if profile in PROFILES else None)


def differential_unavailable_reason() -> str | None:
    """Why the sim cannot be held to this host (None when it can): no usable /dev/kvm, or a
    running kernel the sim has no profile for."""
    from workbench.hostkvm.device import host_unavailable_reason

    if (reason := host_unavailable_reason()) is not None:
        return f"host engine unavailable: {reason}"
    if (profile := running_profile()) not in PROFILES:
        return (f"the host runs {profile}, which the sim does not model "
                f"(profiles: {', '.join(PROFILES)})")
    return None
