"""The host engine: the public Kvm / Vm / Vcpu interface over the real /dev/kvm.

    kvm = workbench.kvm.open("host")   # HostUnavailable (an OSError) says why it cannot
"""

from workbench.hostkvm.cpuid import supported_cpuid
from workbench.hostkvm.device import HostUnavailable, host_available, host_unavailable_reason
from workbench.hostkvm.module import host_module
from workbench.hostkvm.traits import read_host_traits
from workbench.hostkvm.vcpu import HostVcpu
from workbench.hostkvm.vm import HostKvm, HostVm, running_profile

__all__ = [
    "HostKvm", "HostUnavailable", "HostVcpu", "HostVm", "host_available", "host_module",
    "host_unavailable_reason", "read_host_traits", "running_profile", "supported_cpuid",
]
