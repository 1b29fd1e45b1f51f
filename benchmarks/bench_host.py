"""User-space MSR exits per second: the sim engine vs the real kernel (/dev/kvm), side by side.

Both engines run the same guest loop (`mov ecx, 0x35; rdmsr; jmp`) with the user-space MSR
mask UNKNOWN, so every iteration is one KVM_EXIT_X86_RDMSR answered through the public API.
Rounds alternate between the engines so machine noise hits both alike; the figure per
engine is the median round.
"""

from __future__ import annotations

import statistics
import time

import workbench.kvm
from workbench.hostkvm import host_unavailable_reason
from workbench.kvm import uapi
from workbench.kvm.guest import Program, assemble

LOOP = "loop:\n    mov ecx, 0x35\n    rdmsr\n    jmp loop\n"
ANSWER = 0x0000_0004_0000_0008
ROUNDS = 7


def _exits_per_second(kvm, program: Program, seconds: float) -> float:
    """Exits per second through one fresh VM of `kvm`, for about `seconds`."""
    with kvm.create_vm() as vm:
        vm.enable_cap(uapi.KVM_CAP_X86_USER_SPACE_MSR, uapi.KVM_MSR_EXIT_REASON_UNKNOWN)
        vcpu = vm.create_vcpu(program)
        exits, began = 0, time.perf_counter()
        deadline = began + seconds
        while True:
            for _ in range(500):
                exit_ = vcpu.run()
                exit_.msr.data = ANSWER
            exits += 500
            now = time.perf_counter()
            if now >= deadline:
                return exits / (now - began)


def run(seconds: float = 5.0) -> dict:
    """Measure for about `seconds` in total; rates are exits/s, `host` None when unavailable."""
    program = assemble(LOOP)
    reason = host_unavailable_reason()
    engines = {"sim": workbench.kvm.open("sim")}
    if reason is None:
        engines["host"] = workbench.kvm.open("host")
    share = seconds / ROUNDS / len(engines)
    rates: dict[str, list[float]] = {name: [] for name in engines}
    try:
        for _ in range(ROUNDS):
            for name, kvm in engines.items():
                rates[name].append(_exits_per_second(kvm, program, share))
    finally:
        for kvm in engines.values():
            kvm.close()
    sim = statistics.median(rates["sim"])
    host = statistics.median(rates["host"]) if reason is None else None
    return {
        "sim_exits_per_s": sim,
        "host_exits_per_s": host,
        "sim_over_host": None if host is None else sim / host,
        "host_unavailable": reason,
    }


def main() -> None:
    figures = run()
    print(f"sim engine (UNKNOWN):  {figures['sim_exits_per_s']:>10,.0f} exits/s")
    if figures["host_exits_per_s"] is None:
        print(f"host engine:           unavailable ({figures['host_unavailable']})")
        return
    print(f"host engine (KVM):     {figures['host_exits_per_s']:>10,.0f} exits/s")
    print(f"ratio sim / host:      {figures['sim_over_host']:.2f}")


if __name__ == "__main__":
    main()
