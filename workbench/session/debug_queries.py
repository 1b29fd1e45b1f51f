"""The debugger's questions (gdb `info all-registers`, `x/`, rr's reverse execution), a
mixin of the Session like SessionQueries.

What changed in the current step is measured against a snapshot of each vCPU taken before
the command that made it: by apply() and by seek() (which re-applies that command), once a
viewer asked for it with `track_changes(True)`. The snapshot holds guest RAM, so sessions
nobody watches (headless runs, replay) never take one.

Reverse navigation answers with a step; landing there is seek()'s job. "Previous" looks at
steps before the reference step (the current one by default), "next" at steps after it,
over every row of the history (rows of later steps stay in the log until a new command
cuts them off). The MSR ones read the event log; "when did this register get this value"
re-applies commands from checkpoints, window by window backwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

from workbench.kvm.guest.layout import GUEST_MEM_SIZE
from workbench.kvm.regs import CONTROL_NAMES, REG_NAMES
from workbench.session import machine
from workbench.session.errors import SessionError
from workbench.session.eventlog import EventKind
from workbench.session.eventlog.kinds import EXIT_KINDS, Flag

if TYPE_CHECKING:
    from workbench.kvm.engine import Vcpu, Vm
    from workbench.session.checkpoints import CheckpointStore
    from workbench.session.eventlog import EventLog

_WRITE_KINDS = (EventKind.MSR_WRITE, EventKind.MSR_EXIT, EventKind.MSR_GP)
_ACCESS_KINDS = (EventKind.MSR_READ, *_WRITE_KINDS)
_EXIT_VALUES = [int(k) for k in EXIT_KINDS]


class DebugQueries:
    """A mixin of the Session (the attributes below are the Session's)."""

    step: int
    vm: Vm
    vcpus: list[Vcpu]
    log: EventLog
    history: list
    checkpoints: CheckpointStore | None
    _vcpu: Callable[[int], Vcpu]
    seek: Callable[[int], None]
    _replay_to: Callable[..., Iterator[int]]
    _tracking: bool
    _before: dict[int, machine.VcpuSnapshot]
    _before_step: int

    # --- change tracking ------------------------------------------------------------------
    def track_changes(self, on: bool) -> None:
        """Keep a snapshot before each command, so views can show what it changed."""
        self._tracking = on
        if not on:
            self._before = {}

    def _remember_before(self) -> None:
        """Called before the command that makes step `self.step + 1`."""
        if self._tracking:
            self._before = {i: machine.snapshot(v) for i, v in enumerate(self.vcpus)
                            if v.can_read_state}
            self._before_step = self.step + 1

    def _snapshot_before(self, vcpu: int) -> machine.VcpuSnapshot | None:
        if self._before_step != self.step:
            return None
        return self._before.get(vcpu)

    # --- machine state and memory --------------------------------------------------------------
    def can_read_state(self, vcpu: int) -> bool:
        """Whether the engine reads this vCPU's sregs, MSR file and memory."""
        return self._vcpu(vcpu).can_read_state

    def machine_state(self, vcpu: int) -> machine.MachineState:
        """Segments, control registers, descriptor tables and the MSR file at this step."""
        engine = self._vcpu(vcpu)
        if not engine.can_read_state:
            raise SessionError("this engine cannot read the vCPU's special registers")
        now = machine.VcpuSnapshot(engine.get_regs().as_dict(), engine.get_sregs(),
                                   engine.msr_file(), b"")
        rows = machine.state_rows(now, self._snapshot_before(vcpu), self.msr_last_writes(vcpu))
        return machine.MachineState(self.step, tuple(rows), engine.msr_file_note)

    def regs_before(self, vcpu: int) -> dict[str, int] | None:
        """The general registers before the current step's command (None: not known)."""
        before = self._snapshot_before(vcpu)
        return None if before is None else dict(before.regs)

    @property
    def ram_size(self) -> int:
        """Bytes of guest RAM, from address 0, on either engine."""
        return GUEST_MEM_SIZE

    def read_memory(self, vcpu: int, address: int, size: int) -> bytes:
        """Guest memory as `vcpu` sees it now; ValueError outside guest RAM."""
        return self._vcpu(vcpu).read_memory(address, size)

    def memory_before(self, vcpu: int, address: int, size: int) -> bytes | None:
        """The same bytes before the current step's command (None: not known)."""
        before = self._snapshot_before(vcpu)
        if before is None or address < 0 or address + size > len(before.memory):
            return None
        return before.memory[address:address + size]

    def resolve_address(self, vcpu: int, text: str) -> int:
        """An address typed as `rip`, `rsp+0x10` or `0x1000`, with this step's registers."""
        return machine.resolve_address(text, self._vcpu(vcpu).get_regs().as_dict())

    def msr_last_writes(self, vcpu: int) -> dict[int, int]:
        """MSR index -> the step of the vCPU's last in-kernel write up to this step."""
        log = self.log
        hits = self._rows(log, [EventKind.MSR_WRITE]) & (log.column("vcpu") == vcpu)
        hits &= log.column("step") <= self.step
        rows = np.flatnonzero(hits)
        return dict(zip(log.column("msr")[rows].tolist(), log.column("step")[rows].tolist(),
                        strict=True))

    # --- reverse navigation -------------------------------------------------------------------
    def previous_exit_step(self, before: int | None = None) -> int | None:
        """The last step before `before` in which a vCPU exited to user space."""
        return self._last_step(self._rows(self.log, _EXIT_VALUES), before)

    def previous_breakpoint_step(self, before: int | None = None) -> int | None:
        return self._last_step(self._rows(self.log, [EventKind.BREAKPOINT]), before)

    def previous_msr_write_step(self, msr: int, before: int | None = None) -> int | None:
        """The last step before `before` with a guest WRMSR of `msr` (handled in the
        kernel, sent to user space or refused with a #GP)."""
        log = self.log
        hits = self._accesses(log, _WRITE_KINDS, msr)
        hits &= (log.column("flags") & Flag.WRITE) != 0
        return self._last_step(hits, before)

    def next_msr_access_step(self, msr: int, after: int | None = None) -> int | None:
        """The first step after `after` in which the guest read or wrote `msr`."""
        log = self.log
        steps = log.column("step")
        hits = self._accesses(log, _ACCESS_KINDS, msr)
        hits &= steps > (self.step if after is None else after)
        hits &= steps <= len(self.history)
        found = np.flatnonzero(hits)
        return int(steps[found[0]]) if len(found) else None

    def register_change_step(self, vcpu: int, name: str) -> int | None:
        """The last step, up to this one, whose command changed register `name` (a GPR,
        rip, rflags or a control register); None if it has not changed since step 0.
        Needs checkpoints; the session is back at its step afterwards."""
        read = self._register_reader(vcpu, name)
        if self.checkpoints is None:
            raise SessionError("the host engine cannot go back in time; replay instead")
        here, end = self.step, self.step
        try:
            while end > 0:
                begin = self.checkpoints.at_or_before(end - 1).step
                values = [(at, read()) for at in self._replay_to(end, start=begin)]
                for (_, old), (at, new) in reversed(list(pairwise(values))):
                    if old != new:
                        return at
                end = begin
            return None
        finally:
            self.seek(here)

    def _register_reader(self, vcpu: int, name: str) -> Callable[[], int]:
        engine = self._vcpu(vcpu)
        if name in REG_NAMES:
            return lambda: engine.get_regs()[name]
        if name in CONTROL_NAMES and engine.can_read_state:
            return lambda: getattr(engine.get_sregs(), name)
        raise SessionError(f"register: {name!r} is not one the session can trace "
                           f"({', '.join(REG_NAMES + CONTROL_NAMES)})")

    @classmethod
    def _accesses(cls, log: EventLog, kinds: tuple, msr: int) -> np.ndarray:
        """Rows of `kinds` that are guest accesses of `msr`: the #GP of a failed answer
        (flagged ERROR) is the outcome of the exit before it, not an access of its own."""
        failed_answer = (log.column("flags") & Flag.ERROR) != 0
        return cls._rows(log, list(kinds)) & (log.column("msr") == msr) & ~failed_answer

    @staticmethod
    def _rows(log: EventLog, kinds: list) -> np.ndarray:
        lut = np.zeros(256, dtype=bool)
        lut[[int(k) for k in kinds]] = True
        return lut[log.column("kind")]

    def _last_step(self, hits: np.ndarray, before: int | None) -> int | None:
        steps = self.log.column("step")
        found = np.flatnonzero(hits & (steps < (self.step if before is None else before)))
        return int(steps[found[-1]]) if len(found) else None
