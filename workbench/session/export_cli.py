"""`workbench export RECORDING --format csv|jsonl [--filter EXPR] -o FILE`.

The recording is replayed (sim engine, bounded like `workbench replay`) to rebuild its
event log, then the rows the display filter keeps are written atomically. Exit status:
0 written, 1 the replay failed, 2 unusable input (a filter that does not parse, with the
column and a caret; a file that is missing or not a recording).
"""

from __future__ import annotations

import sys
from pathlib import Path

from workbench.session.eventlog.display_filter import compile_filter
from workbench.session.eventlog.export import write_events
from workbench.session.eventlog.filter_lang import FilterSyntaxError
from workbench.session.recording.reader import RecordingError, read_recording
from workbench.session.recording.replay import Replay
from workbench.session.run_limits import Limits, bounded, stop_message

UNUSABLE = 2


def _error(message: str) -> None:
    print(f"workbench export: {message}", file=sys.stderr)


def export(path: Path, fmt: str, filter_text: str, output: Path,
           limits: Limits | None = None) -> int:
    compiled = compile_filter(filter_text)
    if isinstance(compiled, FilterSyntaxError):
        _error(f"--filter, {compiled}\n  {compiled.caret().replace(chr(10), chr(10) + '  ')}")
        return UNUSABLE
    limits = limits or Limits()
    if not path.is_file():
        _error(f"{path}: no such recording file")
        return UNUSABLE
    try:
        replay = Replay(read_recording(path), "sim")
    except RecordingError as exc:
        _error(str(exc))
        return UNUSABLE
    except (OSError, ValueError, RuntimeError) as exc:
        _error(f"{path}: {exc}")
        return UNUSABLE
    try:
        with bounded(replay.session, limits) as stopper:
            for _ in replay.play():
                if stopper.stopped:
                    break
        if stopper.stopped:
            _error(f"{path}: {stop_message(stopper, limits)}")
            return 1
        log = replay.session.log
        rows = compiled.select(log)
        count = write_events(log, rows, output, fmt)
    except OSError as exc:
        _error(f"{output}: cannot write: {exc.strerror or exc}")
        return 1
    except (ValueError, RuntimeError) as exc:
        _error(f"{path}: {exc}")
        return 1
    finally:
        replay.close()
    if replay.problem is not None:
        _error(f"note: {replay.problem}")
    print(f"exported {count} of {len(log)} events: {path} -> {output}")
    return 0
