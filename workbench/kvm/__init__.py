"""KVM engines behind one interface: the simulation ("sim") and the real /dev/kvm ("host").

    kvm = workbench.kvm.open("sim")
    vm = kvm.create_vm(vendor="intel", profile="linux-6.18")
    vcpu = vm.create_vcpu(workbench.kvm.guest.assemble("mov ecx, 0x35; rdmsr; hlt"))
    exit = vcpu.run()

The package face is lazy (workbench.lazy): its names load on first use, so importing a value
module such as workbench.kvm.uapi or workbench.kvm.filter (as the event log does) loads
neither Unicorn, capstone nor the host engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# Eager: the submodule shares its name with host_traits() below, and importing a submodule
# binds it on the package the first time, so it must be loaded before the function is bound.
from workbench.kvm.host_traits import HostTraits
from workbench.lazy import lazy_face

if TYPE_CHECKING:
    from workbench.kvm import guest, uapi
    from workbench.kvm.engine import ClosedError, Kvm, SimOnlyError, Vcpu, Vm
    from workbench.kvm.exits import IoExit, MsrExit, VcpuExit
    from workbench.kvm.filter import MsrFilter, MsrFilterRange
    from workbench.kvm.regs import Regs

ENGINES = ("sim", "host")

# Public name -> the module that defines it (a submodule stands for itself).
_LAZY = {
    "guest": "workbench.kvm.guest",
    "uapi": "workbench.kvm.uapi",
    "IoExit": "workbench.kvm.exits",
    "MsrExit": "workbench.kvm.exits",
    "VcpuExit": "workbench.kvm.exits",
    "MsrFilter": "workbench.kvm.filter",
    "MsrFilterRange": "workbench.kvm.filter",
    "Regs": "workbench.kvm.regs",
    "Kvm": "workbench.kvm.engine",
    "Vm": "workbench.kvm.engine",
    "Vcpu": "workbench.kvm.engine",
    "SimOnlyError": "workbench.kvm.engine",
    "ClosedError": "workbench.kvm.engine",
}

__getattr__, __dir__ = lazy_face(globals(), _LAZY)

__all__ = [
    "ENGINES", "ClosedError", "HostTraits", "IoExit", "Kvm", "MsrExit", "MsrFilter",
    "MsrFilterRange", "Regs", "SimOnlyError", "Vcpu", "VcpuExit", "Vm", "available_engines",
    "guest", "host_cpuid", "host_traits", "open", "uapi",
]


def open(engine: str = "sim") -> Kvm:  # noqa: A001 - mirrors opening /dev/kvm
    """A KVM system handle: "sim" always works, "host" needs a usable /dev/kvm. Both
    engines implement workbench.kvm.Kvm; ask its capabilities, not its engine name."""
    if engine == "sim":
        from workbench.kvm.sim import SimKvm

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
    `traits.sim_vm_args()` to the sim's create_vm to make it answer as this host."""
    from workbench.hostkvm import read_host_traits

    return read_host_traits()
