"""`workbench capture -o FILE -- VMM ARGS...`: record a VMM run into a capture file.

Whatever happens to the VMM (it exits, is killed, cannot be started, the user presses
Ctrl+C) the command writes a valid capture with what it saw, and says what happened.
"""

from __future__ import annotations

import datetime
import heapq
import json
import platform
import signal
import sys
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from workbench.capture import capfile, tracefs_live
from workbench.capture.outcome import Outcome
from workbench.capture.tracer import Tracer

EXIT_OK, EXIT_VMM_FAILED, EXIT_USAGE = 0, 1, 2


def _host() -> dict[str, object]:
    from workbench.hostkvm.module import host_module

    try:
        module: str | None = host_module()
    except OSError:
        module = None
    return {"kernel": platform.release(), "machine": platform.machine(), "kvm_vendor": module}


def capture(argv: list[str], output: Path, kernel_events: bool = True,
            c_stops: bool = True) -> int:
    """Run `argv` under capture and write `output`; the command's exit status. Without
    `c_stops`, Python handles every ptrace stop (see stop_handler)."""
    if not argv:
        print("workbench capture: no VMM command given (workbench capture -o FILE -- VMM ...)",
              file=sys.stderr)
        return EXIT_USAGE
    problem = (f"directory {output.parent} does not exist" if not output.parent.is_dir()
               else "is a directory" if output.is_dir() else None)
    if problem is not None:
        print(f"workbench capture: {output}: {problem}", file=sys.stderr)
        return EXIT_USAGE
    reason = tracefs_live.unavailable_reason() if kernel_events else "not requested"
    trace = tracefs_live.LiveTrace() if reason is None else None
    if reason is not None:
        print(f"workbench capture: kernel events off: {reason}", file=sys.stderr)
    notes: list[str] = []

    def started(pid: int) -> None:
        if trace is None:
            return
        try:
            trace.start(pid)
        except OSError as exc:
            notes.append(f"kernel events off: tracefs: {exc}")
            print(f"workbench capture: {notes[-1]}", file=sys.stderr)

    began = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        encode = json.JSONEncoder(separators=(",", ":")).encode

        def sink(event: dict) -> None:
            spool.write(encode(event) + "\n")

        tracer = Tracer(argv, on_started=started, sink=sink, c_stops=c_stops)
        if tracer.python_stops_reason is not None:
            notes.append(f"every stop handled in Python (slower): "
                         f"{tracer.python_stops_reason}")
            print(f"workbench capture: {notes[-1]}", file=sys.stderr)
        outcome = tracer.run()
        kernel = trace.stop() if trace is not None else iter(())
        spool.seek(0)
        try:
            return _write(output, argv, began, reason, notes, outcome,
                          heapq.merge(tracer.expand(map(json.loads, spool)), kernel,
                                      key=lambda e: e["t"]))
        finally:
            tracer.close()


def _write(output: Path, argv: list[str], began: str, reason: str | None, notes: list[str],
           outcome: Outcome, events: Iterable[dict]) -> int:
    head = capfile.header(argv, host=_host(), started=began, clock="CLOCK_MONOTONIC",
                          kernel_events=reason or "tracefs", notes=notes)
    end = {"status": outcome.describe(), "exit_status": outcome.exit_status,
           "signal": outcome.signal, "interrupted": outcome.interrupted,
           "error": outcome.error}
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None  # keep the work
    try:
        count = capfile.write(output, head, events, end)
    except OSError as exc:
        print(f"workbench capture: {output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_VMM_FAILED
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    summary = f"{count} events to {output}; {outcome.describe()}"
    if outcome.interrupted:
        summary += " (stopped by Ctrl+C)"
    print(f"workbench capture: {summary}", file=sys.stderr)
    return EXIT_VMM_FAILED if outcome.error is not None else EXIT_OK


def main_args(argv: list[str]) -> list[str]:
    """The VMM command after `--` (argparse keeps the `--` in REMAINDER)."""
    return argv[1:] if argv[:1] == ["--"] else argv

