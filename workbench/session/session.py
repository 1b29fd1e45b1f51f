"""The session: the one owner of engines, and the one place user actions change them.

Every action is a command (workbench.session.commands) applied by `apply`; every trap it
causes is a row in the event log. The GUI, the command line and replay all go through here,
which is what makes a recording replayable: same scenario + same commands = same rows.
The session asks the engine's capabilities (workbench.kvm.Kvm, Vm, Vcpu), never its name;
where the VM can checkpoint (the sim), it can also seek to any step and step back
(workbench.session.time_travel).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

import workbench.kvm
from workbench.kvm import uapi
from workbench.kvm.engine import Kvm, Vcpu, Vm
from workbench.kvm.exits import ExitKind, VcpuExit
from workbench.kvm.filter import MsrFilter
from workbench.kvm.msrs.numbers import MSR_IA32_TSC
from workbench.session import commands as c
from workbench.session.checkpoints import CheckpointStore
from workbench.session.debug_queries import DebugQueries
from workbench.session.errors import SessionError
from workbench.session.eventlog import EventKind, EventLog
from workbench.session.handlers import UserSpaceMsrs
from workbench.session.queries import SessionQueries
from workbench.session.scenario import Scenario
from workbench.session.time_travel import TimeTravel
from workbench.values import U64_MAX
from workbench.vfio.story import PciStory

FINAL_EXITS = (ExitKind.HLT, ExitKind.SHUTDOWN, ExitKind.INTR)


@dataclass(frozen=True)
class CommandResult:
    step: int
    command: c.Command
    first_row: int
    last_row: int
    digest: str
    error: str | None = None


@dataclass
class _VcpuView:
    """What the session knows about one vCPU beyond the engine: the exit awaiting user
    space, and whether a rule already answered it."""

    pending: VcpuExit | None = None
    answered: bool = False
    halted: bool = False
    exit_reason: int | None = None  # of the last return from KVM_RUN (None: never ran)


@dataclass
class Session(SessionQueries, DebugQueries, TimeTravel):
    scenario: Scenario
    engine: str = "sim"
    checkpoint_every: int = 1000
    log: EventLog = field(default_factory=EventLog)

    def __post_init__(self) -> None:
        if self.checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.step = 0
        self._rewritten: c.Command | None = None
        self.history: list[c.Command] = []
        self.digests: list[str] = []
        self.observers: list[Callable[[CommandResult], None]] = []
        self._tracking = False  # track_changes(): snapshots before each command
        self._before: dict[int, Any] = {}
        self._before_step = -1
        self.handlers = UserSpaceMsrs()
        for handler in self.scenario.handlers.values():
            self.handlers.set(handler.msr, handler.kind, handler.value)
        self._build_engine()
        # vCPU 0's IA32_TSC at the start (index 0) and after each step: the timeline's
        # second axis. Read as KVM_GET_MSRS reads it, outside the log and its digests.
        self.step_tsc: list[int | None] = [self._guest_tsc()]
        self.pci: PciStory | None = None
        if self.scenario.spec.pci is not None:
            self.pci = PciStory(self.scenario.spec.pci, self._on_vfio)
            self.pci.build(self.scenario.spec.pci.devices)
        self.checkpoints = CheckpointStore() if self.vm.can_checkpoint else None
        self.visible_rows = len(self.log)
        self._checkpoint()

    # --- set-up -------------------------------------------------------------------------------
    def _build_engine(self) -> None:
        s = self.scenario
        self.kvm: Kvm = workbench.kvm.open(self.engine)
        machine: dict[str, Any] = {}  # the scenario's machine, where the engine models one
        if self.kvm.can_model_machine:
            machine.update(vendor=s.vendor, ignore_msrs=s.ignore_msrs)
            if s.host is not None:
                machine.update(tsc_khz=s.host.tsc_khz, host_msrs=s.host.msrs)
        self.vm: Vm = self.kvm.create_vm(profile=s.profile, irqchip=s.irqchip, cpuid=s.cpuid,
                                         **machine)
        self.vm.observer = self._on_msr_access
        if s.user_space_msr_mask is not None:
            self.vm.enable_cap(uapi.KVM_CAP_X86_USER_SPACE_MSR, s.user_space_msr_mask)
        if s.msr_filter is not None:
            self.vm.set_msr_filter(s.msr_filter)
        self.vcpus = [self.vm.create_vcpu(program) for program in s.programs]
        self.views = [_VcpuView() for _ in self.vcpus]

    def close(self) -> None:
        self.vm.close()
        self.kvm.close()

    # --- event sources --------------------------------------------------------------------------
    def _on_msr_access(self, access: Any) -> None:
        self.log.append_msr_access(access, self.step)

    def _on_vfio(self, event: Any) -> None:
        self.log.append_vfio(event, self.step)

    # --- applying commands ------------------------------------------------------------------------
    def apply(self, command: c.Command) -> CommandResult:
        """Apply one command; rows it causes are logged under the new step number."""
        if self.step < len(self.history):
            del self.history[self.step:]
            del self.digests[self.step:]
            del self.step_tsc[self.step + 1:]
            self.log.truncate(self.visible_rows)
            if self.checkpoints is not None:
                self.checkpoints.drop_after(self.step)
        first = len(self.log)
        self._remember_before()
        self.step += 1
        error = None
        self._rewritten = None
        try:
            self._dispatch(command)
        except (OSError, ValueError, RuntimeError) as exc:
            error = str(exc)
        command = self._rewritten or command
        result = CommandResult(self.step, command, first, len(self.log),
                               self.log.digest(first, len(self.log)), error)
        self.history.append(command)
        self.digests.append(result.digest)
        self.step_tsc.append(self._guest_tsc())
        self.visible_rows = len(self.log)
        if self.step % self.checkpoint_every == 0:
            self._checkpoint()
        for observer in list(self.observers):
            observer(result)
        self.log.flush_observers()
        return result

    def _guest_tsc(self) -> int | None:
        """vCPU 0's guest TSC now, or None (no vCPU, or an engine that refuses the read)."""
        if not self.vcpus:
            return None
        try:
            return self.vcpus[0].get_msr(MSR_IA32_TSC)
        except (OSError, ValueError, RuntimeError):
            return None

    def _dispatch(self, command: c.Command) -> None:
        match command:
            case c.SetFilter():
                self._set_filter(command)
            case c.EnableCap():
                self._enable_cap(command)
            case c.StepVcpu():
                self._step(command.vcpu)
            case c.RunToExit():
                self._run(command, 1)
            case c.Run():
                self._run(command, command.max_exits)
            case c.Answer():
                self._answer(command)
            case c.SetHandler():
                self.handlers.set(command.msr, command.kind, command.value)
            case c.SetRegs():
                regs = self._vcpu(command.vcpu).get_regs()
                for name, value in command.regs.items():
                    regs[name] = value
                self._vcpu(command.vcpu).set_regs(regs)
            case c.SetMsr():
                self._vcpu(command.vcpu).set_msr(command.index, command.value)
            case c.SetBreakpoint():
                vcpu = self._vcpu(command.vcpu)
                if not vcpu.can_breakpoint:
                    raise SessionError("breakpoints need the sim engine")
                if command.kind == "address":
                    vcpu.set_breakpoint(command.value, command.enabled)
                else:
                    vcpu.set_msr_breakpoint(command.value, command.enabled)
            case c.Pci():
                if self.pci is None:
                    raise SessionError("this scenario has no PCI system ([pci] table)")
                self.pci.apply(command.action)

    def _vcpu(self, index: int) -> Vcpu:
        if not 0 <= index < len(self.vcpus):
            raise SessionError(f"vcpu {index} does not exist (the VM has {len(self.vcpus)})")
        return self.vcpus[index]

    def _set_filter(self, command: c.SetFilter) -> None:
        msr_filter = MsrFilter.from_dict(command.filter) if command.filter else MsrFilter()
        self._logged_ioctl(lambda: self.vm.set_msr_filter(msr_filter), EventKind.FILTER_SET,
                           value=len(msr_filter.ranges), arg=msr_filter.flags & 0x7FFFFFFF)

    def _enable_cap(self, command: c.EnableCap) -> None:
        first = command.args[0] if command.args else 0
        self._logged_ioctl(lambda: self.vm.enable_cap(command.cap, *command.args),
                           EventKind.CAP_SET, arg=command.cap & 0x7FFFFFFF,
                           value=first & U64_MAX)

    def _logged_ioctl(self, call: Callable[[], None], kind: EventKind, **fields: int) -> None:
        """Do a VM ioctl and log it with the kernel's errno (0 = accepted); a failure is
        logged, then re-raised so the command reports it."""
        code = 0
        try:
            call()
        except OSError as exc:
            code = exc.errno or 0
            raise
        finally:
            self.log.append(kind, step=self.step, errno=code, **fields)

    def _step(self, index: int) -> None:
        vcpu = self._vcpu(index)
        self._before_entry(index)
        exit_ = vcpu.step()
        self.log.append(EventKind.STEP, step=self.step, vcpu=index, aux=vcpu.get_regs().rip)
        if exit_ is not None:
            self._after_exit(index, exit_)

    def _run(self, command: c.Run | c.RunToExit, max_exits: int) -> None:
        index = command.vcpu
        vcpu = self._vcpu(index)
        if command.interrupt is not None:
            self._replay_interrupt(index, command.interrupt)
            return
        for exits in range(max_exits):
            self._before_entry(index)
            exit_ = vcpu.run()
            if exit_.kind is ExitKind.INTR and self.vm.can_checkpoint:
                self._rewritten = msgspec.structs.replace(command, interrupt=c.Interrupt(
                    exits=exits, state=vcpu.export_state()))
            if not self._after_exit(index, exit_):
                return

    def _replay_interrupt(self, index: int, interrupt: c.Interrupt) -> None:
        """Re-apply an interrupted run: the same exits, then the state the pause found."""
        if not self.vm.can_checkpoint:
            raise SessionError("an interrupted run can only be re-applied on the sim engine")
        vcpu = self.vcpus[index]
        for _ in range(interrupt.exits):
            self._before_entry(index)
            self._after_exit(index, vcpu.run())
        self._before_entry(index)
        vcpu.import_state(interrupt.state)
        self._after_exit(index, VcpuExit.of(ExitKind.INTR, vcpu.get_regs().rip))

    def pause(self, vcpu: int) -> None:
        """Stop a run of `vcpu` (from another thread): it ends with KVM_EXIT_INTR, and the
        session records where, so replay lands there too. Like kvm_run.immediate_exit, a
        request made between runs stops the next run at once, until cancel_pause()."""
        self._vcpu(vcpu).pause()

    def cancel_pause(self, vcpu: int) -> None:
        """Drop a pause request no run consumed (the run it aimed at ended on its own)."""
        self._vcpu(vcpu).cancel_pause()

    def _vcpu_views(self) -> list[tuple[bool, bool, bool, int | None]]:
        """Per vCPU (pending, answered, halted, last exit reason), for a checkpoint: the
        pending exit itself is the engine's, restored with the VM."""
        return [(v.pending is not None, v.answered, v.halted, v.exit_reason)
                for v in self.views]

    def _restore_vcpu_views(self, views: list[tuple[bool, bool, bool, int | None]]) -> None:
        self.views = [
            _VcpuView(vcpu.pending if has_pending else None, answered, halted, exit_reason)
            for vcpu, (has_pending, answered, halted, exit_reason) in zip(
                self.vcpus, views, strict=True)
        ]

    def _before_entry(self, index: int) -> None:
        """Entering the guest completes the pending exit: an MSR access user space failed
        takes its #GP now, as complete_emulated_msr_access injects it, and is logged as the
        #GP it is."""
        view = self.views[index]
        pending = view.pending
        if (view.answered and pending is not None and pending.kind.is_msr
                and pending.msr.error):
            self.log.append_user_gp(pending, index, self.step)
        view.pending, view.answered, view.halted = None, False, False

    def _after_exit(self, index: int, exit_: VcpuExit) -> bool:
        """Log the exit, let a rule answer it; True = a free run may go on."""
        kind = exit_.kind
        if kind is ExitKind.DEBUG:
            at_msr = exit_.as_msr()
            self.log.append(EventKind.BREAKPOINT, step=self.step, vcpu=index, aux=exit_.rip,
                            msr=0 if at_msr is None else at_msr.index)
            return False
        self.log.append_exit(exit_, index, self.step)
        view = self.views[index]
        view.exit_reason = exit_.exit_reason
        if kind.is_msr:
            view.pending = exit_
            view.answered = self.handlers.answer(exit_)
            if view.answered:
                self.log.append_answer(exit_, index, self.step)
            return view.answered
        if kind is ExitKind.IO_IN:
            view.pending = exit_
            return False
        if kind is ExitKind.IO_OUT:
            return True
        view.halted = kind in FINAL_EXITS
        return False

    def _answer(self, command: c.Answer) -> None:
        self._vcpu(command.vcpu)
        view = self.views[command.vcpu]
        exit_ = view.pending
        if exit_ is None:
            raise SessionError(f"vcpu {command.vcpu} has no pending exit to answer")
        if exit_.kind.is_msr:
            exit_.msr.data = command.data & U64_MAX
            exit_.msr.error = command.error & 0xFF
        else:
            exit_.io.data = command.data & (1 << 8 * exit_.io.size) - 1
        view.answered = True
        self.log.append_answer(exit_, command.vcpu, self.step)

    # --- the state digest ----------------------------------------------------------------
    def state_digest(self) -> str:
        """A hash of everything a step changes: registers, MSRs, pending exits, filter,
        intercept bitmaps, vfio-visible config, log length. Two sessions at the same step
        of the same recording have the same digest."""
        h = hashlib.blake2b(digest_size=16)
        h.update(struct.pack("<QQ", self.step, self.visible_rows))
        h.update(repr(sorted(self.handlers.registers.items())).encode())
        for index, vcpu in enumerate(self.vcpus):
            h.update(repr(vcpu.get_regs().as_dict()).encode())
            pending = self.views[index].pending
            h.update(repr(None if pending is None else pending.key()).encode())
            for part in vcpu.state_parts():
                h.update(part)
        for part in self.vm.state_parts():
            h.update(part)
        if self.pci is not None:
            for name in sorted(self.pci.devices):
                h.update(name.encode())
                h.update(self.pci.devices[name].vconfig.snapshot())
            for fn in self.pci.system.functions:
                h.update(fn.config.snapshot())
        return h.hexdigest()
