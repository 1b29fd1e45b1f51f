"""Seeking and stepping back, on an engine whose VM can checkpoint (Vm.can_checkpoint).

Every `checkpoint_every` steps the session keeps a checkpoint: the VM's state, the PCI
story, the user-space rules and its view of each vCPU. Seeking restores the nearest one at
or before the target and re-applies the commands after it, checking that each reproduces
its recorded events bit for bit; at most `checkpoint_every` commands run again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from workbench.session.checkpoints import Checkpoint, CheckpointStore
from workbench.session.errors import SessionError
from workbench.session.eventlog import EventLog

if TYPE_CHECKING:
    from workbench.kvm.engine import Vcpu, Vm
    from workbench.session import commands as c
    from workbench.session.handlers import UserSpaceMsrs
    from workbench.vfio.story import PciStory


class TimeTravel:
    """The Session's seek() and step_back(): a mixin, as both work on the session's own
    state (the attributes below are the Session's)."""

    step: int
    history: list[c.Command]
    digests: list[str]
    checkpoint_every: int
    checkpoints: CheckpointStore | None
    vm: Vm
    vcpus: list[Vcpu]
    pci: PciStory | None
    handlers: UserSpaceMsrs
    log: EventLog
    visible_rows: int
    _on_vfio: Callable[[Any], None]
    _dispatch: Callable[[c.Command], None]
    _vcpu_views: Callable[[], list[tuple[bool, bool, bool]]]
    _restore_vcpu_views: Callable[[list[tuple[bool, bool, bool]]], None]
    _tracking: bool
    _remember_before: Callable[[], None]

    def _checkpoint(self) -> None:
        if self.checkpoints is None:
            return
        self.checkpoints.add(Checkpoint(
            step=self.step,
            vm=self.vm.save_state(),
            pci=None if self.pci is None else self.pci.clone(self._on_vfio),
            handlers=(dict(self.handlers.rules), dict(self.handlers.registers)),
            views=self._vcpu_views(),
        ))

    def seek(self, step: int) -> None:
        """Put the session in the state it had after `step` commands (0 = the scenario).

        The log keeps every row of the history; `visible_rows` says how many belong to the
        current step. A viewer tracking changes gets the snapshot before the command that
        made `step`, so the replay starts at a checkpoint before that command."""
        if self.checkpoints is None:
            raise SessionError("the host engine cannot go back in time; replay instead")
        if not 0 <= step <= len(self.history):
            raise SessionError(f"step {step} is outside 0..{len(self.history)}")
        start = step - 1 if self._tracking and step else step
        for _ in self._replay_to(step, start=start, remember=self._tracking):
            pass
        self.visible_rows = self.log.row_of_step(step + 1)

    def _replay_to(self, step: int, start: int, remember: bool = False) -> Iterator[int]:
        """Restore the checkpoint at or before `start`, then re-apply the commands up to
        `step`, yielding each step the session stands at (the checkpoint's first).

        Commands re-applied log into a scratch log, only to check that they reproduce
        their recorded events bit for bit; the main log is back in place once the
        generator ends or is closed."""
        assert self.checkpoints is not None
        checkpoint = self.checkpoints.at_or_before(start)
        self.vm.restore_state(checkpoint.vm)
        if checkpoint.pci is not None:
            self.pci = checkpoint.pci.clone(self._on_vfio)
        rules, registers = checkpoint.handlers
        self.handlers.rules, self.handlers.registers = dict(rules), dict(registers)
        self._restore_vcpu_views(checkpoint.views)
        self.step = checkpoint.step
        main_log, self.log = self.log, EventLog()
        try:
            yield self.step
            for command in self.history[checkpoint.step:step]:
                if remember and self.step == step - 1:
                    self._remember_before()
                self.step += 1
                first = len(self.log)
                with contextlib.suppress(OSError, ValueError, RuntimeError):
                    self._dispatch(command)  # an error is part of the recorded outcome
                if self.log.digest(first, len(self.log)) != self.digests[self.step - 1]:
                    raise RuntimeError(
                        f"re-applying step {self.step} did not reproduce its events")
                if self.step % self.checkpoint_every == 0 and not self.checkpoints.has(
                        self.step):
                    self._checkpoint()
                yield self.step
        finally:
            self.log = main_log

    def step_back(self) -> None:
        if self.step == 0:
            raise SessionError("already at the scenario's start")
        self.seek(self.step - 1)
