"""Running one scenario on both engines and reducing each run to what must agree.

A scenario is data: guest code, the user-space MSR mask, filters (the initial one, and
ones the guest asks for mid-run with `out 0xf0, al`), mask changes (`out 0xf1, al`) and
user space's answers to MSR exits, consumed in order. The trace is the exit sequence
(VcpuExit.key()), the #GP count (R14) and the final registers.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import workbench.kvm
from workbench.hostkvm import host_module
from workbench.kvm import MsrFilter, uapi
from workbench.kvm.guest import Program, assemble

FILTER_PORT = 0xF0   # out FILTER_PORT, al: install scenario.filters_on_out[al]
MASK_PORT = 0xF1     # out MASK_PORT, al: KVM_ENABLE_CAP(USER_SPACE_MSR, al)
REPORT_PORT = 0xE0   # the guest reports values; the exit record carries them
END_PORT = 0xEF      # out END_PORT, al: the scenario is over (for irqchip VMs, where hlt waits)
MAX_EXITS = 400

MSR_EXITS = (uapi.KVM_EXIT_X86_RDMSR, uapi.KVM_EXIT_X86_WRMSR)

# MSRs where the sim (vendor = this host's KVM module) is known to disagree with the kernel,
# per module. Each is reported, and pinned by an xfail(strict=True) reproducer in
# test_host_divergences.py; the random tests leave them out so that they keep looking for
# new disagreements instead of re-finding these.
DIVERGENCES_BY_MODULE: dict[str, dict[int, str]] = {"pvm": {
    0x4B564D10: "PVM_GPA: a write of a non-zero GPA inside guest RAM makes the kernel stop "
                "running the guest normally (SHUTDOWN, or no further exit); the sim accepts it",
}}


def _running_module() -> str | None:
    try:
        return host_module()
    except OSError:
        return None


DIVERGENT_MSRS = DIVERGENCES_BY_MODULE.get(_running_module() or "", {})


@dataclass(frozen=True)
class Answer:
    """User space's reply to one MSR exit: `data` for RDMSR, `error` != 0 injects #GP."""

    data: int = 0
    error: int = 0


@dataclass(frozen=True)
class Scenario:
    name: str
    code: str | bytes
    mask: int | None = None
    filter: MsrFilter | None = None
    filters_on_out: Mapping[int, MsrFilter | None] = field(default_factory=dict)
    answers: Sequence[Answer] = ()
    irqchip: bool = False
    known_divergence: str | None = None  # a reported disagreement this scenario shows

    def program(self) -> Program:
        if isinstance(self.code, bytes):
            return Program(self.code)
        return assemble(self.code)


@dataclass
class Trace:
    exits: list[tuple[int, ...]]
    gp_count: int
    regs: dict[str, int] | None  # None after SHUTDOWN (see compare_regs)
    errors: list[int | None] = field(default_factory=list)  # errno of each set/enable

    def comparable(self) -> tuple:
        return (self.exits, self.gp_count, self.regs, self.errors)


def _call(errors: list[int | None], action, *args) -> None:
    try:
        action(*args)
    except OSError as exc:
        errors.append(exc.errno)
    else:
        errors.append(None)


def execute(vm, program: Program, scenario: Scenario) -> Trace:
    """Run `scenario` on a fresh `vm` until HLT, SHUTDOWN or MAX_EXITS exits."""
    errors: list[int | None] = []
    if scenario.mask is not None:
        _call(errors, vm.enable_cap, uapi.KVM_CAP_X86_USER_SPACE_MSR, scenario.mask)
    if scenario.filter is not None:
        _call(errors, vm.set_msr_filter, scenario.filter)
    vcpu = vm.create_vcpu(program)
    answers = iter(scenario.answers)
    exits: list[tuple[int, ...]] = []
    for _ in range(MAX_EXITS):
        exit_ = vcpu.run()
        exits.append(exit_.key())
        reason = exit_.exit_reason
        if reason in MSR_EXITS:
            answer = next(answers, Answer())
            exit_.msr.data, exit_.msr.error = answer.data, answer.error
        elif reason == uapi.KVM_EXIT_IO and exit_.io.direction == uapi.KVM_EXIT_IO_OUT:
            if exit_.io.port == FILTER_PORT:
                _call(errors, vm.set_msr_filter, scenario.filters_on_out[exit_.io.data])
            elif exit_.io.port == MASK_PORT:
                _call(errors, vm.enable_cap, uapi.KVM_CAP_X86_USER_SPACE_MSR, exit_.io.data)
            elif exit_.io.port == END_PORT:
                break
        elif reason != uapi.KVM_EXIT_IO:
            break
    regs = vcpu.get_regs().as_dict()
    gp_count = regs["r14"]
    if exits[-1][0] == uapi.KVM_EXIT_SHUTDOWN:
        # After a triple fault the registers are wherever exception delivery stopped: the
        # kernel shows the state inside the #GP handler or at the faulting instruction with
        # RF set, the sim the faulting instruction. Nothing runs afterwards, so only the
        # exit itself is compared.
        regs = None
    return Trace(exits, gp_count, regs, errors)


class Engines:
    """One sim and one host handle; VMs are created per scenario and always closed."""

    def __init__(self) -> None:
        self.host = workbench.kvm.open("host")
        self.sim = workbench.kvm.open("sim")
        self.traits = workbench.kvm.host_traits()
        self.vendor = self.traits.module

    def run_sim(self, scenario: Scenario, program: Program | None = None) -> Trace:
        program = program or scenario.program()
        vm = self.sim.create_vm(irqchip=scenario.irqchip, **self.traits.sim_vm_args())
        with vm:
            return execute(vm, program, scenario)

    def run_host(self, scenario: Scenario, program: Program | None = None) -> Trace:
        program = program or scenario.program()
        with self.host.create_vm(irqchip=scenario.irqchip) as vm:
            return execute(vm, program, scenario)

    def both(self, scenario: Scenario) -> tuple[Trace, Trace]:
        program = scenario.program()
        return self.run_host(scenario, program), self.run_sim(scenario, program)

    def close(self) -> None:
        self.host.close()
        self.sim.close()


def explain(host: Trace, sim: Trace) -> str:
    """The first point where the traces part, for assertion messages."""
    for i, (h, s) in enumerate(zip(host.exits, sim.exits, strict=False)):
        if h != s:
            return f"exit {i}: kernel {h} vs sim {s}"
    if len(host.exits) != len(sim.exits):
        return f"exit count: kernel {len(host.exits)} vs sim {len(sim.exits)}"
    if host.errors != sim.errors:
        return f"ioctl errnos: kernel {host.errors} vs sim {sim.errors}"
    if host.gp_count != sim.gp_count:
        return f"#GP count: kernel {host.gp_count} vs sim {sim.gp_count}"
    if host.regs != sim.regs and host.regs and sim.regs:
        diff = {k: (hex(v), hex(sim.regs[k])) for k, v in host.regs.items() if sim.regs[k] != v}
        return f"registers (kernel, sim): {diff}"
    return "traces agree"


def assert_same(host: Trace, sim: Trace) -> None:
    assert host.comparable() == sim.comparable(), explain(host, sim)


# --- hand-encoded guest code, so generated programs need no assembler ----------------------
def mov_ecx(value: int) -> bytes:
    return b"\xb9" + struct.pack("<I", value & 0xFFFFFFFF)


def mov_eax(value: int) -> bytes:
    return b"\xb8" + struct.pack("<I", value & 0xFFFFFFFF)


def mov_edx(value: int) -> bytes:
    return b"\xba" + struct.pack("<I", value & 0xFFFFFFFF)


RDMSR = b"\x0f\x32"
WRMSR = b"\x0f\x30"
HLT = b"\xf4"
# Report EDX:EAX after a read: out REPORT_PORT, eax; mov eax, edx; out REPORT_PORT+1, eax.
REPORT = bytes([0xE7, REPORT_PORT, 0x89, 0xD0, 0xE7, REPORT_PORT + 1])


def out_al(port: int, value: int) -> bytes:
    """mov al, value; out port, al."""
    return bytes([0xB0, value & 0xFF, 0xE6, port])


def read_msr(index: int) -> bytes:
    return mov_ecx(index) + RDMSR + REPORT


def write_msr(index: int, value: int) -> bytes:
    return mov_ecx(index) + mov_eax(value) + mov_edx(value >> 32) + WRMSR
