"""What makes one real host's KVM answer differently from another's, as plain values.

The sim models KVM's rules; a few answers are facts of the machine underneath instead (the
TSC rate kvm_pvm reports in MSR_PVM_TSC_KHZ, the IA32_ARCH_CAPABILITIES KVM derives from
the host CPU, kvm_pvm's PVM_INFO). Pinning the values read on one development host made
the sim disagree with every other host, so a sim that should mimic a host takes them from
that host at run time (`workbench.kvm.host_traits()`); otherwise it uses the documented
defaults below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workbench.kvm.msrs import numbers as n
from workbench.kvm.msrs.base import DEFAULT_TSC_KHZ

__all__ = ["DEFAULT_TSC_KHZ", "HOST_FACT_MSRS", "HostTraits"]

# MSRs whose value is the host machine's, read by KVM_GET_MSRS on a scratch vCPU where the
# host's module knows them; the sim uses each value in place of its modelled reset value.
HOST_FACT_MSRS = (n.MSR_IA32_ARCH_CAPABILITIES, n.MSR_PVM_INFO)


@dataclass(frozen=True)
class HostTraits:
    """A real host as the sim needs to know it to give the same answers."""

    module: str                                   # the KVM vendor module: intel, amd or pvm
    cpuid: tuple[tuple[int, int, int, int, int, int], ...]
    tsc_khz: int                                  # KVM_GET_TSC_KHZ of a new vCPU
    msrs: Mapping[int, int] = field(default_factory=dict)  # HOST_FACT_MSRS the host knows
    profile: str | None = None  # the sim's profile for the running kernel; None: not modelled

    def sim_vm_args(self) -> dict[str, Any]:
        """Keyword arguments for the sim's create_vm that make the VM behave like this host."""
        return {"vendor": self.module, "profile": self.profile, "cpuid": list(self.cpuid),
                "tsc_khz": self.tsc_khz, "host_msrs": dict(self.msrs)}
