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
from workbench.kvm import MsrFilter, uapi
from workbench.kvm.guest import Program, assemble

FILTER_PORT = 0xF0   # out FILTER_PORT, al: install scenario.filters_on_out[al]
MASK_PORT = 0xF1     # out MASK_PORT, al: KVM_ENABLE_CAP(USER_SPACE_MSR, al)
REPORT_PORT = 0xE0   # the guest reports values; the exit record carries them
END_PORT = 0xEF      # out END_PORT, al: the scenario is over (for irqchip VMs, where hlt waits)
MAX_EXITS = 400

MSR_EXITS = (uapi.KVM_EXIT_X86_RDMSR, uapi.KVM_EXIT_X86_WRMSR)

# MSRs where the sim is known to disagree with this kernel. Each is reported, and pinned by
# an xfail(strict=True) reproducer in test_host_divergences.py; the random tests leave
# them out so that they keep looking for new disagreements instead of re-finding these.
DIVERGENT_MSRS = {
    0x11: "KVM_WALL_CLOCK shares its value with KVM_WALL_CLOCK_NEW on the kernel, not the sim",
    0x12: "KVM_SYSTEM_TIME shares its value with KVM_SYSTEM_TIME_NEW on the kernel, not the sim",
    0x48: "SPEC_CTRL: the kernel reads 0 and accepts 0 without SPEC_CTRL/SSBD in the CPUID; "
          "the sim says INVAL",
    0x49: "PRED_CMD: the kernel accepts writes of 0 and 1 without IBPB in the CPUID; "
          "the sim says INVAL",
    0x8B: "UCODE_REV: the kernel reads 0, the sim 0x100000065",
    0x10A: "ARCH_CAPABILITIES: UNKNOWN on the kernel; the sim reads 0xc000069 and says INVAL "
           "to writes",
    0x10B: "FLUSH_CMD: the kernel accepts a write of 0 without L1D_FLUSH in the CPUID; "
           "the sim says INVAL",
    0x122: "TSX_CTRL: the kernel reads 0 and accepts 0; UNKNOWN on the sim",
    0x1A0: "MISC_ENABLE: reset value 0x1 on the kernel (so writing 0 is fine), 0x1800 on the "
           "sim (so writing 0 changes read-only bits: INVAL)",
    0x140: "MISC_FEATURES_ENABLES: the kernel accepts any value and reads it back; the sim "
           "says INVAL to values other than 0/1",
    0x175: "SYSENTER_ESP: the kernel keeps all 64 bits, the sim (AMD CPUID) only the low 32",
    0x176: "SYSENTER_EIP: the kernel keeps all 64 bits, the sim (AMD CPUID) only the low 32",
    0x1D9: "DEBUGCTL: the kernel accepts any value and reads 0; the sim keeps some bits and "
           "says INVAL to others",
    0x277: "PAT: the kernel accepts any value (also invalid memory types) and reads it back; "
           "INVAL on the sim",
    0x345: "PERF_CAPABILITIES: UNKNOWN on the kernel, INVAL on the sim",
    0xDA0: "XSS write of 0 without XSAVES in the CPUID: UNKNOWN on the kernel, INVAL on the sim",
    0xC0000104: "AMD TSC_RATIO: INVAL on the kernel, UNKNOWN on the sim",
    0xC0010020: "AMD PATCH_LOADER: the kernel accepts a write of 0, UNKNOWN on the sim",
    **{index: "AMD K7 PERFCTR/EVNTSEL (kvm.enable_pmu=N here): the kernel accepts writes and "
              "reads 0; the sim keeps the values"
       for index in range(0xC0010000, 0xC0010008)},
    0xC0010117: "AMD VM_HSAVE_PA: the kernel accepts any value and reads 0; the sim keeps "
                "page-aligned values and says INVAL to others",
    0xC0010114: "AMD VM_CR: UNKNOWN on the kernel; the sim reads 0 and accepts 0",
    0xC001011F: "AMD VIRT_SPEC_CTRL: the kernel reads 0 and accepts 0, INVAL on the sim",
    0xC0010140: "AMD OSVW_ID_LENGTH: the kernel reads 0, the sim 5",
    0xC0011029: "AMD DE_CFG: UNKNOWN on the kernel; the sim reads 0 and accepts 0",
    0x4B564D04: "KVM PV_EOI_EN enabled at a GPA outside guest RAM: INVAL on the kernel, "
                "accepted by the sim",
    **{index: "PVM identification MSRs of this kernel (0x4b564d11 reads 0x4d5650, 'PVM'): "
              "reads succeed; UNKNOWN on the sim"
       for index in range(0x4B564D10, 0x4B564D14)},
    0x4B564DFF: "last MSR of this kernel's PVM range: INVAL on the kernel, UNKNOWN on the sim",
}


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
        self.cpuid = workbench.kvm.host_cpuid()
        self.vendor = _vendor(self.cpuid)

    def run_sim(self, scenario: Scenario, program: Program | None = None) -> Trace:
        program = program or scenario.program()
        vm = self.sim.create_vm(vendor=self.vendor, irqchip=scenario.irqchip, cpuid=self.cpuid)
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


def _vendor(cpuid) -> str:
    for function, _, _, ebx, ecx, edx in cpuid:
        if function == 0:
            name = struct.pack("<III", ebx, edx, ecx)
            return "intel" if name == b"GenuineIntel" else "amd"
    raise AssertionError("host CPUID has no leaf 0")


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
