"""The sim's vCPU: Unicorn runs the guest; every instruction KVM would intercept comes back
here and is handled as arch/x86/kvm/x86.c does: RDMSR/WRMSR in msr_exits
(kvm_emulate_rdmsr/wrmsr: the filter, the in-kernel handler, then user space or a #GP), the
rest in insn_exits. User space answers through the exit record and the answer takes effect
on the next run(), exactly as with kvm_run.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.kvm.engine import ClosedError
from workbench.kvm.exits import ExitKind, VcpuExit
from workbench.kvm.guest.assembler import Program
from workbench.kvm.guest.cpu import RIP, GuestCpu, Special, SpecialInsn, Stop
from workbench.kvm.guest.layout import GUEST_MEM_SIZE, check_ram_range
from workbench.kvm.guest.sregs import runtime_sregs
from workbench.kvm.handles import Closed
from workbench.kvm.insn_exits import (
    complete_fast_pio_in,
    emulate_rdtsc,
    kvm_emulate_cpuid,
    kvm_emulate_halt,
    kvm_fast_pio,
    pvm_emulation_failure,
)
from workbench.kvm.intercepts import InterceptState, is_intercepted, msr_bitmap
from workbench.kvm.intercepts import has_msr_bitmap as vendor_has_msr_bitmap
from workbench.kvm.msr_exits import complete_userspace_msr, kvm_emulate_rdmsr, kvm_emulate_wrmsr
from workbench.kvm.msrs.emulate import MsrContext, MsrFile, MsrResult
from workbench.kvm.msrs.numbers import MSR_EFER, MSR_IA32_APICBASE, MSR_IA32_SPEC_CTRL
from workbench.kvm.regs import Regs, Sregs
from workbench.kvm.sim_state import PendingExit, VcpuState, export_vcpu_state, import_vcpu_state

if TYPE_CHECKING:
    from workbench.kvm.sim_vm import SimVm

_TICKS_PER_EXIT = 1000  # guest time, in TSC ticks, that one intercepted instruction costs
INTERCEPT_COST = 1000   # instruction budget one intercepted instruction spends


class SimVcpu:
    """A vCPU: Unicorn for the guest, KVM's rules for every intercepted instruction."""

    can_step = True
    can_breakpoint = True
    can_budget = True
    can_read_state = True
    msr_file_note = ""

    def __init__(self, vm: SimVm, vcpu_id: int, program: Program) -> None:
        self.vm = vm
        self.vcpu_id = vcpu_id
        self.program = program
        self.cpu = GuestCpu(program, trap_soft_ints=vm.vendor == "pvm")
        self.ticks = 0
        self.msrs = MsrFile(
            MsrContext(vm.vendor, vm.profile, vm.cpuid, vm.irqchip, vcpu_id,
                       tsc_khz=vm.tsc_khz, host_msrs=vm.host_msrs), self._clock
        )
        self.intercepts = InterceptState(cstate_in_guest=vm.cstate_in_guest)
        self.pending: VcpuExit | None = None
        self.shutdown_reason: str | None = None
        # Sim-only guest debugging: stop (KVM_EXIT_DEBUG) before the guest touches these
        # MSRs; address breakpoints live in the guest CPU (set_breakpoint).
        self.msr_breakpoints: set[int] = set()
        self._passed_msr_break: int | None = None
        self._bitmap: np.ndarray | None = None
        self._bitmap_generation = vm.filter_generation
        # Sim-only bound on one run(), in guest instructions (0 = unbounded): each stretch
        # between two intercepts runs at most what is left, and each intercept KVM handles
        # itself costs INTERCEPT_COST. A run that spends it returns KVM_EXIT_INTR, as a
        # watchdog's signal would, but at a deterministic place.
        self.instruction_budget = 0

    def _clock(self) -> int:
        return self.ticks

    # --- registers ------------------------------------------------------------------------
    def get_regs(self) -> Regs:
        return Regs.from_mapping(self.cpu.get_regs())

    def set_regs(self, regs: Regs | dict[str, int]) -> None:
        values = regs.as_dict() if isinstance(regs, Regs) else dict(regs)
        self.cpu.set_regs(values)

    def get_tsc_khz(self) -> int:
        """KVM_GET_TSC_KHZ."""
        return self.msrs.ctx.tsc_khz

    def get_msr(self, index: int) -> int:
        """KVM_GET_MSRS: host-initiated, never filtered."""
        result, value = self.msrs.host_get(index)
        if result != MsrResult.OK:
            raise OSError(errno.EINVAL, f"KVM_GET_MSRS: MSR {index:#x} cannot be read")
        return value

    def set_msr(self, index: int, value: int) -> None:
        """KVM_SET_MSRS: host-initiated, never filtered."""
        if self.msrs.host_set(index, value) != MsrResult.OK:
            raise OSError(errno.EINVAL, f"KVM_SET_MSRS: MSR {index:#x} rejects {value:#x}")

    def get_sregs(self) -> Sregs:
        """KVM_GET_SREGS: the runtime's long mode (Unicorn never walks its tables), with
        EFER and the APIC base from the MSR file and FS/GS base as the guest set them."""
        base, arch = runtime_sregs(), self.cpu.arch_state()
        return replace(
            base, efer=self.get_msr(MSR_EFER), apic_base=self.get_msr(MSR_IA32_APICBASE),
            fs=replace(base.fs, base=arch["fs_base"]), gs=replace(base.gs, base=arch["gs_base"]),
        )

    def msr_file(self) -> dict[int, int]:
        """Every MSR the MSR file holds, as KVM_GET_MSRS reads it (the TSC, not its offset)."""
        out = {}
        for index in sorted(self.msrs.regs):
            result, value = self.msrs.host_get(index)
            if result == MsrResult.OK:
                out[index] = value
        return out

    def read_memory(self, address: int, size: int) -> bytes:
        check_ram_range(address, size)
        return self.cpu.read_memory(address, size)

    # --- running -------------------------------------------------------------------------------
    # Each intercepted instruction is handled by a method returning either the exit to give
    # user space, or the address to resume the guest at (the instruction retired or took a
    # #GP inside "KVM"); resuming passes that address to emu_start instead of writing RIP.

    def run(self) -> VcpuExit:
        """KVM_RUN: consume the pending answer, then run until the next exit."""
        if self.shutdown_reason is not None:
            return VcpuExit.of(ExitKind.SHUTDOWN, self.cpu.reg(RIP))
        resume = self._complete_pending() if self.pending is not None else None
        cpu = self.cpu
        budget = self.instruction_budget
        while True:
            stop = cpu.run(resume, budget)
            if stop.__class__ is not SpecialInsn:
                return self._stopped(stop)
            if budget:
                budget -= INTERCEPT_COST
                if budget <= 0:
                    return self._stopped(Stop.BUDGET)
            self.ticks += _TICKS_PER_EXIT
            outcome = self._intercept(stop)
            if outcome.__class__ is not int:
                return outcome
            resume = outcome

    def step(self) -> VcpuExit | None:
        """Execute exactly one guest instruction (sim only); its exit, or None."""
        if self.shutdown_reason is not None:
            return VcpuExit.of(ExitKind.SHUTDOWN, self.cpu.reg(RIP))
        if self.pending is not None:
            self.cpu.set_reg(RIP, self._complete_pending())
            return None
        stop = self.cpu.step()
        self.ticks += 1
        if stop is Stop.STEPPED:
            return None
        if stop.__class__ is not SpecialInsn:
            return self._stopped(stop)
        self.ticks += _TICKS_PER_EXIT
        outcome = self._intercept(stop)
        if isinstance(outcome, int):
            self.cpu.set_reg(RIP, outcome)
            return None
        return outcome

    def pause(self) -> None:
        """Interrupt a run() in another thread; it returns KVM_EXIT_INTR (as on a signal)."""
        self.cpu.pause()

    def cancel_pause(self) -> None:
        """Forget a pause() that no run has consumed yet."""
        self.cpu.cancel_pause()

    def set_breakpoint(self, address: int, enabled: bool = True) -> None:
        """Stop with KVM_EXIT_DEBUG before the instruction at `address` (sim only)."""
        self.cpu.set_breakpoint(address, enabled)

    def set_msr_breakpoint(self, index: int, enabled: bool = True) -> None:
        """Stop with KVM_EXIT_DEBUG before the guest reads or writes MSR `index` (sim only)."""
        if enabled:
            self.msr_breakpoints.add(index)
        else:
            self.msr_breakpoints.discard(index)

    def breakpoints(self) -> tuple[frozenset[int], frozenset[int]]:
        """(addresses, MSR indices) this vCPU stops at."""
        return self.cpu.breakpoints, frozenset(self.msr_breakpoints)

    def _stopped(self, stop: Stop) -> VcpuExit:
        if stop is Stop.PAUSED or stop is Stop.BUDGET:
            return VcpuExit.of(ExitKind.INTR, self.cpu.reg(RIP))
        if stop is Stop.BREAKPOINT:
            return VcpuExit.debug(self.cpu.reg(RIP))
        self.shutdown_reason = self.cpu.fault or "shutdown"
        return VcpuExit.of(ExitKind.SHUTDOWN, self.cpu.reg(RIP))

    def _intercept(self, insn: SpecialInsn) -> VcpuExit | int:
        kind = insn.kind
        if kind is Special.RDMSR:
            return kvm_emulate_rdmsr(self, insn)
        if kind is Special.WRMSR:
            return kvm_emulate_wrmsr(self, insn)
        if kind is Special.HLT:
            return kvm_emulate_halt(self, insn)
        if kind is Special.OUT or kind is Special.IN:
            return kvm_fast_pio(self, insn)
        if kind is Special.CPUID:
            return kvm_emulate_cpuid(self, insn)
        if kind is Special.SOFT_INT or (kind is Special.RDTSCP and self.vm.vendor == "pvm"):
            return pvm_emulation_failure(self, insn)
        return emulate_rdtsc(self, insn)

    @property
    def has_msr_bitmap(self) -> bool:
        """False for kvm_pvm, which traps every MSR access (msr_bitmap() raises NoMsrBitmap)."""
        return vendor_has_msr_bitmap(self.vm.vendor)

    def passes_through(self, index: int, write: bool) -> bool:
        """Whether the intercept bitmap lets this access reach the MSR with no VM exit."""
        vendor = self.vm.vendor
        return vendor_has_msr_bitmap(vendor) and not is_intercepted(self.msr_bitmap(), vendor,
                                                                    index, write)

    def _complete_pending(self) -> int:
        """complete_userspace_io: apply user space's answer to the pending MSR or IN exit;
        return where the guest resumes."""
        exit_ = self.pending
        self.pending = None
        insn = self.cpu.specials[exit_.rip]
        kind = exit_.kind
        if kind.is_msr:
            return complete_userspace_msr(self, exit_, insn)
        if kind is ExitKind.IO_IN:
            return complete_fast_pio_in(self, exit_, insn)
        return insn.address + insn.size

    # --- checkpoints (sim only) ------------------------------------------------------------------
    def save_state(self) -> VcpuState:
        return VcpuState(
            context=self.cpu.save_context(),
            memory=self.cpu.read_memory(0, GUEST_MEM_SIZE),
            msrs=self.msrs.snapshot(),
            intercepts=replace(self.intercepts),
            pending=None if self.pending is None else PendingExit.of(self.pending),
            shutdown_reason=self.shutdown_reason,
            ticks=self.ticks,
            breakpoints=self.cpu.breakpoint_state(),
            msr_breakpoints=(frozenset(self.msr_breakpoints), self._passed_msr_break),
        )

    def restore_state(self, state: VcpuState) -> None:
        self.cpu.restore_context(state.context)
        self.cpu.write_memory(0, state.memory)
        self.msrs.restore(state.msrs)
        self.intercepts = replace(state.intercepts)
        self.pending = None if state.pending is None else state.pending.to_exit()
        self.shutdown_reason = state.shutdown_reason
        self.ticks = state.ticks
        self.cpu.restore_breakpoint_state(state.breakpoints)
        indices, self._passed_msr_break = state.msr_breakpoints
        self.msr_breakpoints = set(indices)
        self._bitmap = None

    def export_state(self) -> dict[str, Any]:
        """This vCPU's state as plain data for a file (workbench.kvm.sim_state)."""
        return export_vcpu_state(self)

    def import_state(self, data: dict[str, Any]) -> None:
        """Inverse of export_state; ValueError for data that does not fit this vCPU."""
        import_vcpu_state(self, data)

    def state_parts(self) -> Iterator[bytes]:
        """The MSR file, the intercept bitmap and guest RAM, for a session's state digest."""
        yield repr(sorted(self.msrs.snapshot().items())).encode()
        if self.has_msr_bitmap:
            yield self.msr_bitmap().tobytes()
        yield self.cpu.read_memory(0, GUEST_MEM_SIZE)

    def close(self) -> None:
        """Release the guest CPU; any later call raises ClosedError (idempotent)."""
        if not self.closed:
            self.cpu.close()
        self.cpu = self.msrs = Closed(f"vCPU {self.vcpu_id}")  # type: ignore[assignment]

    @property
    def closed(self) -> bool:
        return isinstance(self.cpu, Closed)

    # --- inspection (sim only) ------------------------------------------------------------------
    def msr_bitmap(self) -> np.ndarray:
        """The VMX MSR bitmap / SVM MSRPM of this vCPU (bit set = intercept), read-only;
        intercepts.NoMsrBitmap for kvm_pvm, which has none.

        Recomputed after a filter change as KVM_REQ_MSR_FILTER_CHANGED does; 6.18's
        recalc re-derives SPEC_CTRL passthrough from its current value."""
        if self.closed:
            raise ClosedError(f"vCPU {self.vcpu_id} is closed")
        vm = self.vm
        if self._bitmap is None or self._bitmap_generation != vm.filter_generation:
            if (self._bitmap_generation != vm.filter_generation
                    and vm.profile.recalc_msr_intercepts):
                _, spec_ctrl = self.msrs.host_get(MSR_IA32_SPEC_CTRL)
                self.intercepts.spec_ctrl_passthrough = bool(spec_ctrl)
            bitmap = msr_bitmap(vm.vendor, vm.profile, vm.cpuid, vm.msr_allowed, self.intercepts)
            bitmap.flags.writeable = False
            self._bitmap, self._bitmap_generation = bitmap, vm.filter_generation
        return self._bitmap

