"""`workbench record`, `workbench replay` and the recording check before `workbench open`.

Exit status: 0 done (every digest matched), 1 a divergence or a failure while running,
2 a file that cannot be used (its message names the line and field).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from workbench.kvm.guest.assembler import AssemblyError
from workbench.session.limits import MAX_EXITS
from workbench.session.recording import is_recording
from workbench.session.recording.diff import diff_files
from workbench.session.recording.partials import keep, partial_path, recover_partials
from workbench.session.recording.reader import RecordingError, read_recording
from workbench.session.recording.recorder import Recorder
from workbench.session.recording.replay import Replay
from workbench.session.run_limits import (
    EXIT_INTERRUPTED,
    Limits,
    Stopper,
    bounded,
    stop_message,
)
from workbench.session.runner import drive
from workbench.session.scenario import ScenarioError, load
from workbench.session.session import Session

UNUSABLE = 2


def _error(message: str) -> None:
    print(f"workbench: {message}", file=sys.stderr)


def _recover(output: Path) -> None:
    """Say what interrupted runs of `workbench record -o output` left, and keep it."""
    for note in recover_partials(output):
        _error(f"note: {note}")


def record(scenario: Path, output: Path, engine: str = "sim", steps: int = 10_000,
           limits: Limits | None = None) -> int:
    """Drive the scenario to its end, journaling beside `output`; on success the finished
    journal replaces `output` in one rename, so an old recording is never half-overwritten.
    A run stopped by Ctrl-C or the deadline is recorded as far as it went. What earlier,
    interrupted runs left beside `output` is recovered first (see partials)."""
    _recover(output)
    limits = limits or Limits()
    if not 1 <= steps <= MAX_EXITS:
        problem = f"--steps must be 1..{MAX_EXITS} (a recorded run replays at most that many exits)"
    else:
        problem = limits.check()
    if problem is not None:
        _error(problem)
        return UNUSABLE
    try:
        session = Session(load(scenario), engine=engine)
    except (ScenarioError, AssemblyError) as exc:
        _error(str(exc))
        return UNUSABLE
    except (OSError, ValueError, RuntimeError) as exc:
        _error(f"{scenario}: {exc}")
        return 1
    partial = partial_path(output)
    try:
        recorder = Recorder.start(session, partial)
    except OSError as exc:
        _error(f"{output}: cannot write: {exc.strerror or exc}")
        session.close()
        return 1
    try:
        with bounded(session, limits) as stopper:
            for _ in drive(session, steps, lambda: stopper.stopped):
                pass
    except (OSError, ValueError, RuntimeError) as exc:
        recorder.journal.close()
        kept = keep(partial, output)
        _error(f"{exc}" + (f" (the commands so far are in {kept})" if kept else ""))
        return 1
    finally:
        session.close()
    recorder.close()
    if recorder.failure is not None:
        _error(f"{output}: writing failed: {recorder.failure}")
        return 1
    os.replace(partial, output)
    print(f"recorded {len(session.history)} commands, {len(session.log)} events: "
          f"{scenario} -> {output}")
    return _stopped_status(stopper, limits)


def _stopped_status(stopper: Stopper, limits: Limits) -> int:
    """0 for a run that went to its end, else say why it did not and return 130 (Ctrl-C)
    or 1 (the deadline)."""
    if not stopper.stopped:
        return 0
    _error(stop_message(stopper, limits))
    return EXIT_INTERRUPTED if stopper.reason == "interrupted" else 1


def _open(path: Path, engine: str) -> tuple[Replay | None, int]:
    _recover(path)
    try:
        return Replay(read_recording(path), engine), 0
    except RecordingError as exc:
        _error(str(exc))
        return None, UNUSABLE
    except (OSError, ValueError, RuntimeError) as exc:
        _error(f"{path}: {exc}")
        return None, 1


def replay(path: Path, engine: str = "sim", verify: bool = False,
           limits: Limits | None = None) -> int:
    """Replay `path`: print the replayed events (or only check them with `verify`); stop
    at the first divergence and print it, or at Ctrl-C or the deadline."""
    limits = limits or Limits()
    if (problem := limits.check()) is not None:
        _error(problem)
        return UNUSABLE
    rp, status = _open(path, engine)
    if rp is None:
        return status
    try:
        log, shown = rp.session.log, 0   # rows before step 1: the scenario's own set-up
        with bounded(rp.session, limits) as stopper:
            for result in rp.play():
                if not verify:
                    if result.error is not None:   # as `workbench run` prints it
                        print(f"step {result.step}: error: {result.error}")
                    for row in range(shown, result.last_row):
                        print(log.format_row(row))
                    shown = result.last_row
                if stopper.stopped:
                    break
    except (OSError, ValueError, RuntimeError) as exc:
        _error(f"{path}: step {rp.step}: {exc}")
        return 1
    finally:
        rp.close()
    if stopper.stopped:
        _error(f"{path}: stopped at step {rp.step}; the commands before it replayed "
               "identically")
        return _stopped_status(stopper, limits)
    if rp.divergence is not None:
        print(f"{path}: first divergence at step {rp.divergence.step}")
        print(rp.divergence.report())
        return 1
    if rp.problem is not None:
        _error(f"{rp.problem} (the {rp.steps} commands before it replayed identically)")
        return UNUSABLE
    if not rp.recording.finished:
        _error(f"{path}: note: no end record (a session that did not close); "
               f"the {rp.steps} commands in it replayed identically")
    if verify:
        print(f"{path}: {rp.steps} commands, every digest matches")
    return 0


def diff(path_a: Path, path_b: Path) -> int:
    """`workbench diff A B`: nothing and 0 when the recordings agree, else their first
    divergence as a unified diff and 1; 2 for a file that is not a whole recording."""
    try:
        report = diff_files(path_a, path_b)
    except RecordingError as exc:
        _error(str(exc))
        return UNUSABLE
    if report is None:
        return 0
    print(report)
    return 1


def check_openable(path: Path) -> int:
    """Before the GUI opens `path`: 0 if it is a scenario or a usable recording, else print
    why not and return the exit status (the GUI then offers what it can)."""
    if not is_recording(path):
        return 0
    _recover(path)
    try:
        read_recording(path)
    except RecordingError as exc:
        _error(str(exc))
        return UNUSABLE
    return 0
