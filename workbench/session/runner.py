"""Run a scenario on an engine and describe what happens, one line per exit or event.

This is the loop a VMM runs around KVM_RUN: create the VM as the scenario says, answer each
user-space MSR exit from the scenario's handlers, and stop at HLT, SHUTDOWN or the step
limit. The headless command line prints its lines; the main window shows the same stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
import workbench.kvm
from workbench.kvm import uapi
from workbench.kvm.exits import VcpuExit
from workbench.kvm.msrs.catalogue import msr_name
from workbench.kvm.sim import MsrAccess
from workbench.session.scenario import Handler, Scenario

GP_ERROR = 1  # the value user space puts in kvm_run.msr.error to make the access #GP


@dataclass
class UserSpaceMsrs:
    """The VMM's side of user-space MSR exits: an answer per MSR from the scenario."""

    handlers: dict[int, Handler]
    registers: dict[int, int] = field(default_factory=dict)

    def answer(self, exit_: VcpuExit) -> str:
        """Fill in the exit's answer as a VMM would; return what was decided, for the log."""
        msr = exit_.msr
        write = exit_.exit_reason == uapi.KVM_EXIT_X86_WRMSR
        handler = self.handlers.get(msr.index)
        if handler is None:
            msr.error = GP_ERROR
            return "no handler: user space fails it (#GP)"
        if handler.kind == "fail":
            msr.error = GP_ERROR
            return "handler fails it (#GP)"
        if write:
            if handler.kind == "register":
                self.registers[msr.index] = msr.data
            return "accepted"
        msr.data = self.registers.get(msr.index, handler.value) & (1 << 64) - 1
        return f"answers {msr.data:#x} ({handler.kind})"


def describe_access(access: MsrAccess) -> str:
    """A line for an access KVM handled without user space (sim engine only)."""
    op = "wrmsr" if access.write else "rdmsr"
    name = msr_name(access.index)
    if access.gp:
        reason = uapi.MSR_EXIT_REASON_NAMES.get(access.reason, str(access.reason))
        return f"vcpu{access.vcpu_id} kvm: {op} {access.index:#x} ({name}) {reason} -> #GP"
    return f"vcpu{access.vcpu_id} kvm: {op} {access.index:#x} ({name}) = {access.value:#x}"


def run_scenario(
    scenario: Scenario, engine: str = "sim", max_exits: int = 10_000
) -> Iterator[str]:
    """Yield one line per exit/event of the scenario's vCPUs, then each vCPU's final state."""
    if scenario.programs:
        yield from _run_vcpus(scenario, engine, max_exits)
    if scenario.spec.pci is not None:
        yield from _run_pci(scenario)


def _run_vcpus(scenario: Scenario, engine: str, max_exits: int) -> Iterator[str]:
    pending: list[str] = []
    with workbench.kvm.open(engine) as kvm, kvm.create_vm(
        vendor=scenario.vendor if engine == "sim" else None,
        profile=scenario.profile, irqchip=scenario.irqchip, cpuid=scenario.cpuid,
        **({"ignore_msrs": scenario.ignore_msrs} if engine == "sim" else {}),
    ) as vm:
        if engine == "sim":
            vm.observer = lambda access: (
                None if access.exited else pending.append(describe_access(access)))
        if scenario.user_space_msr_mask is not None:
            vm.enable_cap(uapi.KVM_CAP_X86_USER_SPACE_MSR, scenario.user_space_msr_mask)
        if scenario.msr_filter is not None:
            vm.set_msr_filter(scenario.msr_filter)
        vcpus = [vm.create_vcpu(program) for program in scenario.programs]
        user_space = UserSpaceMsrs(scenario.handlers)
        for vcpu_id, vcpu in enumerate(vcpus):
            for _ in range(max_exits):
                exit_ = vcpu.run()
                yield from pending
                pending.clear()
                line = f"vcpu{vcpu_id} exit {exit_.describe()}"
                if exit_.exit_reason in (uapi.KVM_EXIT_X86_RDMSR, uapi.KVM_EXIT_X86_WRMSR):
                    line += f" -> {user_space.answer(exit_)}"
                yield line
                if exit_.exit_reason in (uapi.KVM_EXIT_HLT, uapi.KVM_EXIT_SHUTDOWN):
                    break
            else:
                yield f"vcpu{vcpu_id} stopped after {max_exits} exits (the step limit)"
            regs = vcpu.get_regs()
            yield (f"vcpu{vcpu_id} final rip={regs.rip:#x} rax={regs.rax:#x} rdx={regs.rdx:#x} "
                   f"#GP={regs.r14}")


def _run_pci(scenario: Scenario) -> Iterator[str]:
    from workbench.vfio.story import run_pci_scenario

    lines: list[str] = []
    run_pci_scenario(scenario.spec.pci, lambda event: lines.append(event.format()))
    yield from lines
