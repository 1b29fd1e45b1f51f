"""KVM engines behind one interface: the simulation ("sim") and the real /dev/kvm ("host").

    kvm = workbench.kvm.open("sim")
    vm = kvm.create_vm(vendor="intel", profile="linux-6.18")
    vcpu = vm.create_vcpu(workbench.kvm.guest.assemble("mov ecx, 0x35; rdmsr; hlt"))
    exit = vcpu.run()
"""

from __future__ import annotations

from typing import Any

from workbench.kvm import guest, uapi
from workbench.kvm.exits import IoExit, MsrExit, VcpuExit
from workbench.kvm.filter import MsrFilter, MsrFilterRange
from workbench.kvm.handles import ClosedError
from workbench.kvm.host_traits import HostTraits
from workbench.kvm.regs import Regs
from workbench.kvm.sim import SimKvm, SimOnlyError

ENGINES = ("sim", "host")

__all__ = [
    "ENGINES", "ClosedError", "HostTraits", "IoExit", "MsrExit", "MsrFilter",
    "MsrFilterRange", "Regs", "SimOnlyError", "VcpuExit", "available_engines", "guest",
    "host_cpuid", "host_traits", "open", "uapi",
]


def open(engine: str = "sim") -> Any:  # noqa: A001 - mirrors opening /dev/kvm
    """A KVM system handle: "sim" always works, "host" needs a usable /dev/kvm."""
    if engine == "sim":
        return SimKvm()
    if engine == "host":
        from workbench.hostkvm import HostKvm

        return HostKvm()
    raise ValueError(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")


def available_engines() -> list[str]:
    """["sim"], plus "host" when /dev/kvm opens and speaks the expected API."""
    from workbench.hostkvm import host_available

    return ["sim", "host"] if host_available() else ["sim"]


def host_cpuid() -> list[tuple[int, int, int, int, int, int]]:
    """The running kernel's KVM_GET_SUPPORTED_CPUID, to make the sim mimic this host."""
    from workbench.hostkvm import supported_cpuid

    return supported_cpuid()


def host_traits() -> HostTraits:
    """This machine's KVM module, CPUID, TSC rate and machine-dependent MSR values: pass
    `traits.sim_vm_args()` to the sim's create_vm to make it answer as this host does."""
    from workbench.hostkvm import read_host_traits

    return read_host_traits()
