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
from workbench.session.recording.reader import RecordingError, read_recording
from workbench.session.recording.recorder import Recorder
from workbench.session.recording.replay import Replay
from workbench.session.runner import drive
from workbench.session.scenario import ScenarioError, load
from workbench.session.session import Session

UNUSABLE = 2


def _error(message: str) -> None:
    print(f"workbench: {message}", file=sys.stderr)


def record(scenario: Path, output: Path, engine: str = "sim", steps: int = 10_000) -> int:
    """Drive the scenario to its end, journaling beside `output`; on success the finished
    journal replaces `output` in one rename, so an old recording is never half-overwritten."""
    if not 1 <= steps <= MAX_EXITS:
        _error(f"--steps must be 1..{MAX_EXITS} (a recorded run replays at most that many exits)")
        return UNUSABLE
    try:
        session = Session(load(scenario), engine=engine)
    except (ScenarioError, AssemblyError) as exc:
        _error(str(exc))
        return UNUSABLE
    except (OSError, ValueError, RuntimeError) as exc:
        _error(f"{scenario}: {exc}")
        return 1
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial.jsonl")
    try:
        recorder = Recorder.start(session, partial)
    except OSError as exc:
        _error(f"{output}: cannot write: {exc.strerror or exc}")
        session.close()
        return 1
    try:
        for _ in drive(session, steps):
            pass
    except (OSError, ValueError, RuntimeError) as exc:
        recorder.journal.close()
        _error(f"{exc} (the commands so far are in {partial})")
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
    return 0


def _open(path: Path, engine: str) -> tuple[Replay | None, int]:
    try:
        return Replay(read_recording(path), engine), 0
    except RecordingError as exc:
        _error(str(exc))
        return None, UNUSABLE
    except (OSError, ValueError, RuntimeError) as exc:
        _error(f"{path}: {exc}")
        return None, 1


def replay(path: Path, engine: str = "sim", verify: bool = False) -> int:
    """Replay `path`: print the replayed events (or only check them with `verify`); stop
    at the first divergence and print it."""
    rp, status = _open(path, engine)
    if rp is None:
        return status
    try:
        log, shown = rp.session.log, 0   # rows before step 1: the scenario's own set-up
        for result in rp.play():
            if not verify:
                for row in range(shown, result.last_row):
                    print(log.format_row(row))
                shown = result.last_row
    except (OSError, ValueError, RuntimeError) as exc:
        _error(f"{path}: step {rp.step}: {exc}")
        return 1
    finally:
        rp.close()
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


def check_openable(path: Path) -> int:
    """Before the GUI opens `path`: 0 if it is a scenario or a usable recording, else print
    why not and return the exit status (the GUI then offers what it can)."""
    if not is_recording(path):
        return 0
    try:
        read_recording(path)
    except RecordingError as exc:
        _error(str(exc))
        return UNUSABLE
    return 0
