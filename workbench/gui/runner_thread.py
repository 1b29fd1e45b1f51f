"""Free runs off the GUI thread: Run commands in chunks while the window stays live.

The worker applies Run(vcpu, max_exits=chunk) again and again (Unicorn releases the GIL
while the guest runs). The session is not thread-safe, so the GUI reads it only at sync
points: a 30 Hz timer asks for one, the worker stops between two chunks and waits, and
the GUI thread announces what happened (controller.changed) before letting it go on. At
most 30 refreshes a second, and never a read that races the worker. A guest that runs
without exits never reaches the end of a chunk, so it is kicked out of KVM_RUN (an INTR
the run goes on after) at least every KICK_TICKS refresh ticks.
"""

from __future__ import annotations

import dataclasses
import threading
import time

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, QThread, QTimer, Signal

from workbench.gui.controller import SessionController
from workbench.kvm import uapi
from workbench.session import commands as c
from workbench.session.session import CommandResult

CHUNK_EXITS = 256
REFRESH_HZ = 30
SYNC_SHARE = 0.05  # at most this share of a free run's wall time may go to waiting for syncs
KICK_TICKS = 3  # refresh ticks a chunk may take before the GUI kicks it (KVM_EXIT_INTR)


class _Worker(QThread):
    synced = Signal()  # the worker is waiting: the GUI may read the session

    def __init__(self, controller: SessionController, vcpu: int, chunk: int,
                 once: bool) -> None:
        super().__init__()
        self.controller, self.vcpu, self.chunk, self.once = controller, vcpu, chunk, once
        self.stop = threading.Event()
        self.want_sync = threading.Event()
        self.resume = threading.Event()
        self._lock = threading.Lock()
        self._batch: CommandResult | None = None  # results not yet announced, merged
        self.failure: str | None = None  # what went wrong in the worker, for the user
        self.kicked = threading.Event()  # the GUI interrupted the run only to refresh
        self.paused = threading.Event()  # the user paused: the next INTR ends the run
        self.waiting_since = 0.0  # when the worker last stopped for a sync (monotonic)

    def run(self) -> None:
        """Run in chunks; any exception ends the run and is kept for the GUI to show,
        so a failing worker never leaves the window in its running state."""
        try:
            self._run_chunks()
        except Exception as exc:  # noqa: BLE001 (shown to the user, the UI returns to idle)
            self.failure = f"vcpu{self.vcpu} run failed: {type(exc).__name__}: {exc}"

    def _run_chunks(self) -> None:
        session = self.controller.session
        while not self.stop.is_set():
            before = session.log.exits_of(self.vcpu)
            command = c.RunToExit(vcpu=self.vcpu) if self.once else c.Run(
                vcpu=self.vcpu, max_exits=self.chunk)
            result = self.controller.apply(command, announce=False)
            self._merge(result)
            exits = session.log.exits_of(self.vcpu) - before
            if (self.kicked.is_set() and not self.paused.is_set()
                    and session.last_exit(self.vcpu) == uapi.KVM_EXIT_INTR):
                self.kicked.clear()  # a refresh kick, not the user's pause: go on
            elif (self.once or result.error is not None or exits < self.chunk
                    or session.needs_answer(self.vcpu) or session.halted(self.vcpu)):
                return
            if self.want_sync.is_set():
                self.resume.clear()
                self.waiting_since = time.monotonic()
                self.synced.emit()
                self.resume.wait()

    def _merge(self, result: CommandResult) -> None:
        with self._lock:
            if self._batch is not None:
                result = dataclasses.replace(result, first_row=self._batch.first_row)
            self._batch = result

    def take(self) -> CommandResult | None:
        """The results since the last take, as one (first_row of the first)."""
        with self._lock:
            batch, self._batch = self._batch, None
            return batch


class Runner(QObject):
    """Starts, paces and pauses free runs; one at a time."""

    started = Signal(int)    # vcpu
    progress = Signal(object)  # CommandResult covering the rows since the last progress
    stopped = Signal(int)    # vcpu; the session is the GUI's again
    failed = Signal(str)     # the worker raised: why, for the status bar

    def __init__(self, controller: SessionController, chunk: int = CHUNK_EXITS,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller, self.chunk = controller, chunk
        self._worker: _Worker | None = None
        self._timer = QTimer(self, interval=1000 // REFRESH_HZ)
        self._timer.timeout.connect(self._ask_sync)
        self._unanswered = 0  # refresh ticks since the worker last synced
        self._next_sync = 0.0  # monotonic time before which no sync is asked (SYNC_SHARE)

    @property
    def running(self) -> bool:
        return self._worker is not None

    def start(self, vcpu: int, once: bool = False) -> bool:
        """Run `vcpu` freely (or to its next exit); False if a run is already going."""
        session = self.controller.session
        if self._worker is not None or session is None or not 0 <= vcpu < session.vcpu_count:
            return False
        worker = _Worker(self.controller, vcpu, self.chunk, once)
        worker.synced.connect(self._on_synced)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        self._unanswered = 0
        self._next_sync = 0.0
        self._timer.start()
        self.started.emit(vcpu)
        worker.start()
        return True

    def pause(self) -> None:
        """Stop within a frame. The session's pause ends the running Run with KVM_EXIT_INTR
        or, landing between two Runs, the next one at once, so the worker just goes on
        until that INTR: the pause is always in the log and the history, never left
        pending for the user's next command. Engines that cannot pause stop at the end of
        the chunk."""
        worker = self._worker
        if worker is None:
            return
        worker.paused.set()  # this INTR is the user's: the run ends there
        try:
            self.controller.pause(worker.vcpu)
        except (ValueError, RuntimeError):
            worker.stop.set()
        worker.resume.set()

    def stop(self) -> None:
        """Pause and wait for the worker (closing the window, opening another session)."""
        worker = self._worker
        if worker is None:
            return
        self.pause()
        while not worker.wait(20):
            worker.resume.set()  # it may have cleared it just after pause() set it
        self._finish(worker)

    def _ask_sync(self) -> None:
        """Ask for a sync point; a chunk that gives none for KICK_TICKS (a guest that runs
        without exits to count) is kicked out of KVM_RUN, as a VMM's UI thread signals its
        vCPU thread, so the panels keep up whatever the guest does."""
        worker = self._worker
        if worker is None or time.monotonic() < self._next_sync:
            return
        worker.want_sync.set()
        self._unanswered += 1
        if (self._unanswered >= KICK_TICKS and not worker.kicked.is_set()
                and not worker.paused.is_set()):
            worker.kicked.set()
            try:
                self.controller.pause(worker.vcpu)
            except (ValueError, RuntimeError):
                worker.kicked.clear()  # an engine that cannot pause syncs per chunk only

    def _on_synced(self) -> None:
        worker = self.sender()
        if isinstance(worker, _Worker):
            worker.want_sync.clear()
            self._unanswered = 0
            if worker is self._worker:
                self._announce(worker)
                # Repaint now, while the worker waits: each Python call of a paint (model
                # data(), pyqtgraph items) needs the GIL, which a running worker would
                # make every one of them wait for. No user input here: no re-entry.
                QCoreApplication.processEvents(
                    QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
                # The worker waited `spent` (for this thread to get to the sync, then for
                # the repaint): space the syncs so waiting stays within SYNC_SHARE of the
                # run (a 3 ms repaint allows ~17 syncs a second, a slow one or a busy CPU fewer).
                now = time.monotonic()
                spent = now - worker.waiting_since
                self._next_sync = now + spent * (1 - SYNC_SHARE) / SYNC_SHARE
            worker.resume.set()

    def _on_finished(self) -> None:
        worker = self.sender()
        if worker is self._worker and isinstance(worker, _Worker):
            self._finish(worker)

    def _finish(self, worker: _Worker) -> None:
        """Back to idle whatever happened: the state is announced and `stopped` emitted
        even when the run or the clean-up failed, and the failure is reported."""
        self._worker = None
        self._timer.stop()
        failure = worker.failure
        try:
            self.controller.cancel_pause(worker.vcpu)  # a pause the run's own end beat
            self._announce(worker)
        except (ValueError, RuntimeError) as exc:
            failure = failure or f"vcpu{worker.vcpu} run: {exc}"
        finally:
            self.stopped.emit(worker.vcpu)
        if failure is not None:
            self.failed.emit(failure)

    def _announce(self, worker: _Worker) -> None:
        batch = worker.take()
        if batch is not None:
            self.controller.announce(batch)
            self.progress.emit(batch)
