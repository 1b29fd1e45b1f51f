"""The simulated KVM: system, VM and vCPU handles with the kernel's MSR semantics.

The flow of a guest RDMSR/WRMSR follows arch/x86/kvm/x86.c (kvm_emulate_rdmsr/wrmsr,
kvm_msr_user_space, complete_userspace_rdmsr): the filter first (kvm_msr_allowed), then the
in-kernel handler, then either an exit to user space (when the failure's reason is in the
KVM_CAP_X86_USER_SPACE_MSR mask) or a #GP. User space answers through the exit record and
the answer takes effect on the next run(), exactly as with kvm_run.
"""

from __future__ import annotations

import base64
import binascii
import errno
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from workbench.kvm import uapi
from workbench.kvm.cpuid import Cpuid, default_cpuid
from workbench.kvm.exits import IoExit, MsrExit, VcpuExit
from workbench.kvm.filter import NO_FILTER, InstalledFilter, MsrFilter, install_filter
from workbench.kvm.guest.assembler import Program
from workbench.kvm.guest.cpu import (
    R14,
    R15,
    RAX,
    RBX,
    RCX,
    RDX,
    RIP,
    GuestCpu,
    Special,
    SpecialInsn,
    Stop,
)
from workbench.kvm.guest.layout import GP_VECTOR, GUEST_MEM_SIZE
from workbench.kvm.handles import Closed, ClosedError, as_program
from workbench.kvm.intercepts import InterceptState, has_msr_bitmap, is_intercepted, msr_bitmap
from workbench.kvm.msrs.base import DEFAULT_TSC_KHZ, VENDORS
from workbench.kvm.msrs.emulate import MsrContext, MsrFile, MsrResult
from workbench.kvm.msrs.numbers import (
    MSR_IA32_PRED_CMD,
    MSR_IA32_SPEC_CTRL,
    MSR_IA32_TSC,
    MSR_IA32_XFD,
    MSR_TSC_AUX,
)
from workbench.kvm.profiles import KvmProfile, get_profile
from workbench.kvm.regs import Regs

_PASSTHROUGH_ON_WRITE = {
    MSR_IA32_SPEC_CTRL: "spec_ctrl_passthrough",
    MSR_IA32_PRED_CMD: "pred_cmd_passthrough",
    MSR_IA32_XFD: "xfd_passthrough",
}
_U32 = 0xFFFF_FFFF
_TICKS_PER_EXIT = 1000  # guest time, in TSC ticks, that one intercepted instruction costs
INTERCEPT_COST = 1000   # instruction budget one intercepted instruction spends

# The CPU model a VM gets when create_vm names no CPUID: kvm_pvm's is the AMD EPYC it runs on.
_DEFAULT_CPU_MODEL = {"intel": "intel", "amd": "amd", "pvm": "amd"}


class SimOnlyError(RuntimeError):
    """Raised by the host engine for the sim's inspection-only methods."""


@dataclass(frozen=True, slots=True)
class MsrAccess:
    """One guest RDMSR/WRMSR as KVM saw it, for the trap log (issued to `vm.observer`)."""

    vcpu_id: int
    rip: int
    index: int
    write: bool
    value: int           # written value, or the value read (0 when it failed)
    allowed: bool        # the filter's decision
    result: int          # MsrResult of the in-kernel handler (OK when filtered out)
    reason: int = 0      # KVM_MSR_EXIT_REASON_* of the failure, 0 on success
    exited: bool = False  # went to user space
    gp: bool = False     # #GP injected
    passthrough: bool = False  # the intercept bitmap let it reach the MSR with no VM exit


class PendingExit(NamedTuple):
    """An exit user space has not answered yet, as a checkpoint keeps it: the VcpuExit is
    kvm_run, which user space writes its answer into, so the checkpoint holds its values."""

    exit_reason: int
    rip: int
    msr: MsrExit  # copies that nothing else holds: of() and to_exit() copy again
    io: IoExit

    @classmethod
    def of(cls, exit_: VcpuExit) -> PendingExit:
        return cls(exit_.exit_reason, exit_.rip, replace(exit_.msr), replace(exit_.io))

    def to_exit(self) -> VcpuExit:
        return VcpuExit(self.exit_reason, replace(self.msr), replace(self.io), self.rip)


@dataclass(frozen=True)
class VcpuState:
    """Everything a sim vCPU holds, for checkpoints: restoring it resumes bit for bit."""

    context: object                  # unicorn.UcContext
    memory: bytes
    msrs: dict[int, int]
    intercepts: InterceptState
    pending: PendingExit | None
    shutdown_reason: str | None
    ticks: int
    breakpoints: tuple[frozenset[int], int | None] = (frozenset(), None)
    msr_breakpoints: tuple[frozenset[int], int | None] = (frozenset(), None)


@dataclass(frozen=True)
class VmState:
    filter: InstalledFilter
    filter_generation: int
    user_space_msr_mask: int
    vcpus: tuple[VcpuState, ...]


class SimKvm:
    """The sim's `/dev/kvm` handle."""

    engine = "sim"
    closed = False

    def _check_open(self) -> None:
        if self.closed:
            raise ClosedError("the /dev/kvm handle is closed")

    def check_extension(self, cap: int) -> int:
        self._check_open()
        return 1 if cap in (
            uapi.KVM_CAP_X86_USER_SPACE_MSR, uapi.KVM_CAP_X86_MSR_FILTER, uapi.KVM_CAP_IRQCHIP,
        ) else 0

    def create_vm(
        self,
        vendor: str | None = None,
        profile: str | None = None,
        irqchip: bool = False,
        cpuid: Iterable | Cpuid | None = None,
        *,
        ignore_msrs: bool = False,
        cstate_in_guest: bool = False,
        tsc_khz: int | None = None,
        host_msrs: Mapping[int, int] | None = None,
    ) -> SimVm:
        """KVM_CREATE_VM; `tsc_khz` and `host_msrs` carry a real host's machine-dependent
        values (workbench.kvm.host_traits) where the sim should answer as that host."""
        self._check_open()
        vendor = vendor or "intel"
        if vendor not in VENDORS:
            raise ValueError(f"vendor: {vendor!r} is not one of {', '.join(VENDORS)}")
        if cpuid is None:
            cpuid = default_cpuid(_DEFAULT_CPU_MODEL[vendor])
        elif not isinstance(cpuid, Cpuid):
            cpuid = Cpuid.from_tuples(cpuid)
        if tsc_khz is not None and not 0 < tsc_khz < 1 << 32:
            raise ValueError(f"tsc_khz: {tsc_khz} is not a frequency in kHz (1 .. 2^32-1)")
        vm = SimVm(vendor, get_profile(profile), irqchip, cpuid, ignore_msrs, cstate_in_guest)
        vm.tsc_khz = tsc_khz or DEFAULT_TSC_KHZ
        vm.host_msrs = dict(host_msrs or {})
        return vm

    def close(self) -> None:
        """Refuse further use, as the host does; VMs made from it live on, as in KVM."""
        self.closed = True

    def __enter__(self) -> SimKvm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SimVm:
    """A VM: the filter, the user-space MSR mask and the vCPUs that share them."""

    def __init__(
        self,
        vendor: str,
        profile: KvmProfile,
        irqchip: bool,
        cpuid: Cpuid,
        ignore_msrs: bool = False,
        cstate_in_guest: bool = False,
    ) -> None:
        self.vendor = vendor
        self.profile = profile
        self.irqchip = irqchip
        self.cpuid = cpuid
        self.ignore_msrs = ignore_msrs
        self.cstate_in_guest = cstate_in_guest
        self.user_space_msr_mask = 0
        self.filter: InstalledFilter = NO_FILTER
        self.filter_generation = 0
        self.vcpus: list[SimVcpu] = []
        self.observer: Callable[[MsrAccess], None] | None = None
        self._allowed_cache: dict[tuple[int, int], bool] = {}
        self.tsc_khz = DEFAULT_TSC_KHZ
        self.host_msrs: dict[int, int] = {}
        self.closed = False

    def _check_open(self) -> None:
        if self.closed:
            raise ClosedError("the VM is closed")

    # --- ioctls ---------------------------------------------------------------------------
    def enable_cap(self, cap: int, *args: int) -> None:
        """KVM_ENABLE_CAP on the VM (kvm_vm_ioctl_enable_cap)."""
        self._check_open()
        values = list(args) + [0] * (4 - len(args))
        if len(args) > 4 or any(not 0 <= a < 1 << 64 for a in values):
            raise OSError(errno.EINVAL, "args: at most four u64 arguments")
        if cap != uapi.KVM_CAP_X86_USER_SPACE_MSR:
            raise OSError(errno.EINVAL, f"cap {cap}: not a VM capability the sim can enable")
        mask = values[0]
        if self.profile.strict_user_space_msr_mask and mask & ~uapi.KVM_MSR_EXIT_REASON_VALID_MASK:
            raise OSError(
                errno.EINVAL, f"args[0]: mask {mask:#x} has bits outside INVAL|UNKNOWN|FILTER"
            )
        self.user_space_msr_mask = mask

    def set_msr_filter(self, msr_filter: MsrFilter | None) -> None:
        """KVM_X86_SET_MSR_FILTER; None clears the filter (DEFAULT_ALLOW, no ranges)."""
        self._check_open()
        new, error = install_filter(msr_filter or MsrFilter(), self.filter, self.profile)
        if new is not self.filter:
            self.filter = new
            self.filter_generation += 1
            self._allowed_cache.clear()
        if error is not None:
            raise error

    def create_vcpu(self, program: Program | bytes | str) -> SimVcpu:
        self._check_open()
        vcpu = SimVcpu(self, len(self.vcpus), as_program(program))
        self.vcpus.append(vcpu)
        return vcpu

    # --- inspection (sim only) ----------------------------------------------------------------
    def msr_allowed(self, index: int, write: bool) -> bool:
        self._check_open()
        access = uapi.KVM_MSR_FILTER_WRITE if write else uapi.KVM_MSR_FILTER_READ
        key = (index, access)
        allowed = self._allowed_cache.get(key)
        if allowed is None:
            allowed = self.filter.allowed(index, access, self.profile)
            self._allowed_cache[key] = allowed
        return allowed

    def filter_map(self, first: int, count: int, write: bool) -> np.ndarray:
        self._check_open()
        access = uapi.KVM_MSR_FILTER_WRITE if write else uapi.KVM_MSR_FILTER_READ
        return self.filter.allowed_map(first, count, access, self.profile)

    def save_state(self) -> VmState:
        self._check_open()
        return VmState(self.filter, self.filter_generation, self.user_space_msr_mask,
                       tuple(vcpu.save_state() for vcpu in self.vcpus))

    def restore_state(self, state: VmState) -> None:
        self._check_open()
        if len(state.vcpus) != len(self.vcpus):
            raise ValueError(f"state has {len(state.vcpus)} vCPUs, the VM {len(self.vcpus)}")
        self.filter, self.filter_generation = state.filter, state.filter_generation
        self.user_space_msr_mask = state.user_space_msr_mask
        self._allowed_cache.clear()
        for vcpu, vcpu_state in zip(self.vcpus, state.vcpus, strict=True):
            vcpu.restore_state(vcpu_state)

    def close(self) -> None:
        """Close the vCPUs and refuse further use (idempotent)."""
        for vcpu in self.vcpus:
            vcpu.close()
        self.vcpus.clear()
        self.closed = True

    def __enter__(self) -> SimVm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def inflate_memory(encoded: str) -> bytes:
    """Guest RAM from export_state's base64 zlib text, inflated with a bound (a few KB of
    zlib can claim gigabytes); ValueError unless it is exactly GUEST_MEM_SIZE bytes."""
    try:
        inflate = zlib.decompressobj()
        memory = inflate.decompress(base64.b64decode(encoded, validate=True), GUEST_MEM_SIZE + 1)
    except (TypeError, zlib.error, binascii.Error) as exc:
        raise ValueError(f"memory: {exc}") from None
    if len(memory) != GUEST_MEM_SIZE or not inflate.eof:
        raise ValueError(f"memory: does not inflate to exactly {GUEST_MEM_SIZE} bytes")
    return memory


class SimVcpu:
    """A vCPU: Unicorn for the guest, KVM's rules for every intercepted instruction."""

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

    # --- running -------------------------------------------------------------------------------
    # Each intercepted instruction is handled by a method returning either the exit to give
    # user space, or the address to resume the guest at (the instruction retired or took a
    # #GP inside "KVM"); resuming passes that address to emu_start instead of writing RIP.

    def run(self) -> VcpuExit:
        """KVM_RUN: consume the pending answer, then run until the next exit."""
        if self.shutdown_reason is not None:
            return VcpuExit(uapi.KVM_EXIT_SHUTDOWN, rip=self.cpu.reg(RIP))
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
            return VcpuExit(uapi.KVM_EXIT_SHUTDOWN, rip=self.cpu.reg(RIP))
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

    def _stopped(self, stop: Stop) -> VcpuExit:
        if stop is Stop.PAUSED or stop is Stop.BUDGET:
            return VcpuExit(uapi.KVM_EXIT_INTR, rip=self.cpu.reg(RIP))
        if stop is Stop.BREAKPOINT:
            return VcpuExit(uapi.KVM_EXIT_DEBUG, rip=self.cpu.reg(RIP))
        self.shutdown_reason = self.cpu.fault or "shutdown"
        return VcpuExit(uapi.KVM_EXIT_SHUTDOWN, rip=self.cpu.reg(RIP))

    def _intercept(self, insn: SpecialInsn) -> VcpuExit | int:
        kind = insn.kind
        if kind is Special.RDMSR:
            return self._msr_access(insn, False)
        if kind is Special.WRMSR:
            return self._msr_access(insn, True)
        if kind is Special.HLT:
            return self._halt(insn)
        if kind is Special.OUT or kind is Special.IN:
            return self._pio(insn)
        if kind is Special.CPUID:
            return self._cpuid(insn)
        if kind is Special.SOFT_INT or (kind is Special.RDTSCP and self.vm.vendor == "pvm"):
            return self._emulation_failure(insn)
        return self._rdtsc(insn)

    # --- MSRs ------------------------------------------------------------------------------------
    def _msr_access(self, insn: SpecialInsn, write: bool) -> VcpuExit | int:
        """kvm_emulate_rdmsr/wrmsr: filter, in-kernel handler, then user space or #GP."""
        cpu, vm = self.cpu, self.vm
        index = cpu.reg(RCX) & _U32
        if self.msr_breakpoints and index in self.msr_breakpoints:
            if self._passed_msr_break != insn.address:
                self._passed_msr_break = insn.address
                cpu.set_reg(RIP, insn.address)
                return VcpuExit(uapi.KVM_EXIT_DEBUG, MsrExit(index), None, insn.address)
            self._passed_msr_break = None
        value = 0
        if write:
            value = (cpu.reg(RDX) & _U32) << 32 | cpu.reg(RAX) & _U32
        allowed = vm.msr_allowed(index, write)
        result = MsrResult.OK
        if allowed:
            if write:
                result = self.msrs.set(index, value)
            else:
                result, value = self.msrs.get(index)
            if result == MsrResult.UNSUPPORTED and vm.ignore_msrs:
                result, value = MsrResult.OK, 0 if not write else value
            if result == MsrResult.OK:
                if vm.observer is not None:
                    vm.observer(MsrAccess(
                        vcpu_id=self.vcpu_id, rip=insn.address, index=index, write=write,
                        value=value, allowed=True, result=int(result),
                        passthrough=self._passes_through(index, write)))
                if write:
                    self._after_wrmsr(index, value)
                else:
                    cpu.set_edx_eax(value)
                return insn.address + insn.size
            reason = (uapi.KVM_MSR_EXIT_REASON_UNKNOWN if result == MsrResult.UNSUPPORTED
                      else uapi.KVM_MSR_EXIT_REASON_INVAL)
        else:
            reason = uapi.KVM_MSR_EXIT_REASON_FILTER
        exits = bool(vm.user_space_msr_mask & reason)
        if vm.observer is not None:
            vm.observer(MsrAccess(
                vcpu_id=self.vcpu_id, rip=insn.address, index=index, write=write,
                value=value if write else 0, allowed=allowed, result=int(result), reason=reason,
                exited=exits, gp=not exits))
        if not exits:
            return self._inject_gp(insn)
        exit_ = VcpuExit(
            uapi.KVM_EXIT_X86_WRMSR if write else uapi.KVM_EXIT_X86_RDMSR,
            MsrExit(index, value if write else 0, reason),
            None,
            insn.address,
        )
        self.pending = exit_
        return exit_

    def _passes_through(self, index: int, write: bool) -> bool:
        """Whether the intercept bitmap lets this access reach the MSR with no VM exit."""
        vendor = self.vm.vendor
        return has_msr_bitmap(vendor) and not is_intercepted(self.msr_bitmap(), vendor, index,
                                                             write)

    def _after_wrmsr(self, index: int, value: int) -> None:
        """vmx_set_msr / svm_set_msr: a guest's first non-zero write to SPEC_CTRL (and, in
        5.10, PRED_CMD; in 6.18 VMX, XFD) drops that MSR's intercept, through the guard."""
        flag = _PASSTHROUGH_ON_WRITE.get(index)
        if flag is None or not value or getattr(self.intercepts, flag):
            return
        profile = self.vm.profile
        if flag == "pred_cmd_passthrough" and profile.at_least(6, 0):
            return
        if flag == "xfd_passthrough" and (self.vm.vendor != "intel" or not profile.at_least(6, 0)):
            return
        setattr(self.intercepts, flag, True)
        self._bitmap = None

    def _inject_gp(self, insn: SpecialInsn) -> int:
        """The runtime's #GP handler: R14 += 1, R15 = 13, resume after the instruction."""
        cpu = self.cpu
        cpu.set_reg(R14, cpu.reg(R14) + 1 & 0xFFFF_FFFF_FFFF_FFFF)
        cpu.set_reg(R15, GP_VECTOR)
        return insn.address + insn.size

    def _complete_pending(self) -> int:
        """complete_userspace_rdmsr/wrmsr and complete_fast_pio_*: apply user space's answer;
        return where the guest resumes."""
        exit_ = self.pending
        self.pending = None
        insn = self.cpu.specials[exit_.rip]
        reason = exit_.exit_reason
        if reason == uapi.KVM_EXIT_X86_RDMSR or reason == uapi.KVM_EXIT_X86_WRMSR:
            msr = exit_.msr
            if msr.error:
                return self._inject_gp(insn)
            if reason == uapi.KVM_EXIT_X86_RDMSR:
                self.cpu.set_edx_eax(msr.data & 0xFFFF_FFFF_FFFF_FFFF)
        elif reason == uapi.KVM_EXIT_IO and exit_.io.direction == uapi.KVM_EXIT_IO_IN:
            self._load_in_data(insn.io_size, exit_.io.data)
        return insn.address + insn.size

    # --- other intercepted instructions -----------------------------------------------------------
    def _halt(self, insn: SpecialInsn) -> VcpuExit:
        next_rip = insn.address + insn.size
        self.cpu.set_reg(RIP, next_rip)
        if self.vm.irqchip:
            raise RuntimeError(
                f"vCPU {self.vcpu_id} executed hlt at {insn.address:#x} with an in-kernel "
                "irqchip and no interrupt source: the real kernel would wait forever "
                "(end such programs with an `out`)"
            )
        return VcpuExit(uapi.KVM_EXIT_HLT, rip=next_rip)

    def _pio(self, insn: SpecialInsn) -> VcpuExit:
        """KVM_EXIT_IO. An OUT has retired when user space sees it (RIP is past it, as the
        6.18 host shows; upstream VMX defers that to re-entry except for port 0x7e); an IN
        waits at the instruction for its data."""
        cpu = self.cpu
        port = insn.io_port if insn.io_port is not None else cpu.reg(RDX) & 0xFFFF
        out = insn.kind is Special.OUT
        data = cpu.reg(RAX) & ((1 << 8 * insn.io_size) - 1) if out else 0
        exit_ = VcpuExit(
            uapi.KVM_EXIT_IO,
            io=IoExit(
                direction=uapi.KVM_EXIT_IO_OUT if out else uapi.KVM_EXIT_IO_IN,
                size=insn.io_size, port=port, count=1, data=data,
            ),
            rip=insn.address + insn.size if out else insn.address,
        )
        if out:
            cpu.set_reg(RIP, insn.address + insn.size)
        else:
            self.pending = exit_
        return exit_

    def _load_in_data(self, size: int, data: int) -> None:
        if size == 4:
            self.cpu.set_reg(RAX, data & _U32)
            return
        mask = (1 << 8 * size) - 1
        self.cpu.set_reg(RAX, self.cpu.reg(RAX) & ~mask | data & mask)

    def _cpuid(self, insn: SpecialInsn) -> int:
        """kvm_emulate_cpuid over the VM's CPUID table (unknown leaves read as zeros)."""
        cpu = self.cpu
        entry = self.vm.cpuid.get(cpu.reg(RAX) & _U32, cpu.reg(RCX) & _U32)
        values = (0, 0, 0, 0) if entry is None else (entry.eax, entry.ebx, entry.ecx, entry.edx)
        for reg, value in zip((RAX, RBX, RCX, RDX), values, strict=True):
            cpu.set_reg(reg, value)
        return insn.address + insn.size

    def _rdtsc(self, insn: SpecialInsn) -> int:
        """RDTSC/RDTSCP read the same deterministic guest TSC as MSR 0x10."""
        _, tsc = self.msrs.host_get(MSR_IA32_TSC)
        self.cpu.set_edx_eax(tsc)
        if insn.kind is Special.RDTSCP:
            _, aux = self.msrs.host_get(MSR_TSC_AUX)
            self.cpu.set_reg(RCX, aux & _U32)
        return insn.address + insn.size

    # --- kvm_pvm: instructions it traps but cannot emulate -----------------------------------
    def _emulation_failure(self, insn: SpecialInsn) -> VcpuExit:
        """INT n / INT3 / INT1, and RDTSCP whatever the CPUID says, trap to kvm_pvm, whose
        emulator fails: KVM_EXIT_INTERNAL_ERROR with RIP at the instruction, again on every
        re-entry (observed on the 6.18-fc host with kvm_pvm)."""
        self.cpu.set_reg(RIP, insn.address)
        return VcpuExit(uapi.KVM_EXIT_INTERNAL_ERROR, rip=insn.address)

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
        """This vCPU's state as plain data for a file: architectural registers, RAM
        (zlib + base64), the MSR file, guest time and the dynamic intercept reasons."""
        return {
            "regs": self.cpu.arch_state(),
            "memory": base64.b64encode(
                zlib.compress(self.cpu.read_memory(0, GUEST_MEM_SIZE), 6)).decode(),
            "msrs": self.msrs.snapshot(),
            "ticks": self.ticks,
            "intercepts": asdict(self.intercepts),
        }

    def import_state(self, data: dict[str, Any]) -> None:
        """Inverse of export_state; ValueError for data that does not fit this vCPU."""
        try:
            memory = inflate_memory(data["memory"])
            intercepts = InterceptState(**data["intercepts"])
            self.cpu.set_arch_state({k: int(v) for k, v in data["regs"].items()})
            self.msrs.restore({int(k): int(v) for k, v in data["msrs"].items()})
            self.ticks = int(data["ticks"])
        except (KeyError, TypeError, zlib.error, binascii.Error) as exc:
            raise ValueError(f"vCPU state: {exc}") from None
        self.cpu.write_memory(0, memory)
        self.intercepts = intercepts
        self.pending = None
        self._bitmap = None

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
            if self._bitmap_generation != vm.filter_generation and vm.profile.at_least(6, 0):
                _, spec_ctrl = self.msrs.host_get(MSR_IA32_SPEC_CTRL)
                self.intercepts.spec_ctrl_passthrough = bool(spec_ctrl)
            bitmap = msr_bitmap(vm.vendor, vm.profile, vm.cpuid, vm.msr_allowed, self.intercepts)
            bitmap.flags.writeable = False
            self._bitmap, self._bitmap_generation = bitmap, vm.filter_generation
        return self._bitmap

