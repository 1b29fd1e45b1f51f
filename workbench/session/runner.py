"""Run a scenario to its end through a session, the way a simple VMM loop would.

The scenario's [[ioctls]] are issued first. Then each vCPU runs until it halts or shuts
down; exits the scenario's handlers answer flow by, an MSR exit nobody answers is failed
(#GP) as a VMM without a handler would, and an IN reads 0. Then the scenario's PCI
actions are applied in order. The headless command line prints the session's log rows;
recording stores the commands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from workbench.kvm import uapi
from workbench.session import commands as c
from workbench.session.handlers import GP_ERROR
from workbench.session.session import Session


def default_answer(session: Session, vcpu: int) -> c.Answer:
    """What a VMM without a handler does with the vCPU's pending exit: fail an MSR access
    (#GP), give an IN the value 0."""
    pending = session.pending_exit(vcpu)
    is_msr = pending is not None and pending.kind.is_msr
    return c.Answer(vcpu=vcpu, error=GP_ERROR if is_msr else 0)


def pci_story(session: Session) -> Iterator[c.Pci]:
    """The scenario's PCI actions as commands, each as many times as it says."""
    if session.scenario.spec.pci is not None:
        for action in session.scenario.spec.pci.actions:
            for _ in range(action.repeat):
                yield c.Pci(action=action)


def next_pci_command(session: Session) -> c.Pci | None:
    """The scenario's next PCI action as a command, or None when the story is told: the
    story's commands are followed through the history up to the current step, so other
    commands in between (the user's own PCI actions, runs) do not lose the place."""
    story = pci_story(session)
    upcoming = next(story, None)
    for command in session.history[:session.step]:
        if upcoming is not None and command == upcoming:
            upcoming = next(story, None)
    return upcoming


def drive(session: Session, max_exits: int = 10_000,
          stopped: Callable[[], bool] = lambda: False) -> Iterator[c.CommandResult]:
    """Apply the commands that play the scenario out; yield each result. `stopped` is
    asked before each command: once it says so (Ctrl-C, a deadline), nothing more runs."""
    for ioctl in session.scenario.ioctls:
        if stopped():
            return
        yield session.apply(ioctl)
    for vcpu in range(session.vcpu_count):
        exits = 0
        while exits < max_exits and not stopped():
            before = session.log.counters()["vcpu_exits"].get(vcpu, 0)
            result = session.apply(c.Run(vcpu=vcpu, max_exits=max_exits - exits))
            yield result
            exits += session.log.counters()["vcpu_exits"].get(vcpu, 0) - before
            if result.error is not None or session.halted(vcpu):
                break
            if session.needs_answer(vcpu):
                yield session.apply(default_answer(session, vcpu))
    for command in pci_story(session):
        if stopped():
            return
        yield session.apply(command)


def run_scenario(session: Session, max_exits: int = 10_000,
                 stopped: Callable[[], bool] = lambda: False) -> Iterator[str]:
    """One line per logged event, then each vCPU's final registers."""
    shown = 0
    for result in drive(session, max_exits, stopped):
        if result.error is not None:
            yield f"step {result.step}: error: {result.error}"
        for row in range(shown, len(session.log)):
            yield session.log.format_row(row)
        shown = len(session.log)
    for vcpu in range(session.vcpu_count):
        regs = session.regs(vcpu)
        last_exit = session.last_exit(vcpu)
        status = "halted" if session.halted(vcpu) else f"stopped after {max_exits} exits"
        if last_exit == uapi.KVM_EXIT_INTR:
            status = "interrupted" if stopped() else "stopped: instruction budget spent"
        elif last_exit is None and stopped():
            status = "not run"
        yield (f"vcpu{vcpu} {status}: rip={regs.rip:#x} rax={regs.rax:#x} rdx={regs.rdx:#x} "
               f"#GP={regs.r14}")
