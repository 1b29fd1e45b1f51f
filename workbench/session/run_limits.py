"""Bounds for headless runs: an instruction budget, a wall-clock limit and Ctrl-C.

A guest that never exits (`l: jmp l`) must not hang `workbench run`, `record` or
`replay`. Each stop works the way a VMM stops a vCPU: the sim's vCPUs get an instruction
budget per KVM_RUN (deterministic, so the same scenario stops at the same place); the
deadline and Ctrl-C pause every vCPU (the sim stops Unicorn; the host sets
kvm_run.immediate_exit and kicks the thread out of KVM_RUN with a signal), the run ends
with KVM_EXIT_INTR and the command line prints what happened so far.

Ctrl-C cannot wait for Python's handler on the sim: the main thread sits in Unicorn's C
code, where Python runs no handler. The handler's C half writes to a wakeup fd, though, so
a watcher thread sees the signal at once and pauses the vCPUs from there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from workbench.session.session import Session

DEFAULT_INSTRUCTIONS = 100_000_000   # per vCPU run without an exit, sim engine
DEFAULT_SECONDS = 60.0               # the whole command, both engines
EXIT_INTERRUPTED = 130               # 128 + SIGINT, as a shell reports a Ctrl-C


@dataclass(frozen=True)
class Limits:
    """What bounds a headless run; 0 = no bound."""

    instructions: int = DEFAULT_INSTRUCTIONS
    seconds: float = DEFAULT_SECONDS

    def check(self) -> str | None:
        """The message for a bad value (it names the flag), or None."""
        if self.instructions < 0:
            return "--budget must be 0 (no budget) or a positive number of instructions"
        if not self.seconds >= 0:
            return "--timeout must be 0 (no limit) or a positive number of seconds"
        return None


class Stopper:
    """Why a bounded run stopped early (None while it runs on), and the way to stop it."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._lock = threading.RLock()  # a second Ctrl-C may land inside stop()
        self.reason: str | None = None

    @property
    def stopped(self) -> bool:
        return self.reason is not None

    def stop(self, reason: str) -> None:
        """Pause every vCPU (safe from any thread); the first reason given is kept."""
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
        for vcpu in range(len(self._session.vcpus)):
            with contextlib.suppress(ValueError, RuntimeError):  # closed, or cannot pause
                self._session.pause(vcpu)

    def settle(self) -> None:
        """Drop pause requests no run consumed, so the session is usable afterwards."""
        for vcpu in range(len(self._session.vcpus)):
            with contextlib.suppress(ValueError, RuntimeError):
                self._session.cancel_pause(vcpu)


def _watch(read_fd: int, stopper: Stopper) -> None:
    while data := os.read(read_fd, 64):
        if signal.SIGINT in data:
            stopper.stop("interrupted")


@contextlib.contextmanager
def _sigint_stops(stopper: Stopper) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield   # only the main thread receives Python's signals: leave them alone
        return
    # The handler first: once the wakeup pipe exists (what a caller may wait for), a
    # Ctrl-C is already the stopper's.
    old_handler = signal.signal(signal.SIGINT, lambda *_: stopper.stop("interrupted"))
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    old_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    watcher = threading.Thread(target=_watch, args=(read_fd, stopper), daemon=True,
                               name="workbench-sigint")
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(old_wakeup)
        signal.signal(signal.SIGINT, old_handler)
        os.close(write_fd)
        watcher.join()
        os.close(read_fd)


@contextlib.contextmanager
def stopped_after(session: Session, seconds: float | None) -> Iterator[Stopper]:
    """A Stopper that pauses `session`'s vCPUs once `seconds` have passed (None: never)
    while the block runs; pause requests no run consumed are dropped afterwards."""
    stopper = Stopper(session)
    timer = None
    if seconds is not None:
        timer = threading.Timer(seconds, stopper.stop, ("timeout",))
        timer.daemon = True
        timer.start()
    try:
        yield stopper
    finally:
        if timer is not None:
            timer.cancel()
        stopper.settle()


@contextlib.contextmanager
def bounded(session: Session, limits: Limits) -> Iterator[Stopper]:
    """Apply `limits` to `session` while the block runs; the Stopper tells the block
    whether to go on (Ctrl-C or the deadline stop it)."""
    for vcpu in session.vcpus:
        if vcpu.can_budget:
            vcpu.instruction_budget = limits.instructions
    with stopped_after(session, limits.seconds or None) as stopper, _sigint_stops(stopper):
        yield stopper


def stop_message(stopper: Stopper, limits: Limits) -> str:
    """What the command line says when a bounded run stopped early."""
    if stopper.reason == "timeout":
        return f"stopped after the --timeout of {limits.seconds:g} s; the result so far is above"
    return "interrupted (Ctrl-C); the result so far is above"
