"""The simulated KVM: system, VM and vCPU handles with the kernel's MSR semantics.

One name for the engine: the handles live in sim_vm (SimKvm, SimVm) and sim_vcpu
(SimVcpu), their checkpoint records in sim_state, an MSR access as the trap log sees it in
msr_exits.
"""

from workbench.kvm.engine import SimOnlyError
from workbench.kvm.msr_exits import MsrAccess
from workbench.kvm.sim_state import PendingExit, VcpuState, VmState
from workbench.kvm.sim_vcpu import INTERCEPT_COST, SimVcpu
from workbench.kvm.sim_vm import SimKvm, SimVm

__all__ = [
    "INTERCEPT_COST", "MsrAccess", "PendingExit", "SimKvm", "SimOnlyError", "SimVcpu", "SimVm",
    "VcpuState", "VmState",
]
