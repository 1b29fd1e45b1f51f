"""The `workbench` command: the GUI by default, headless runs for scripts and CI."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.session.run_limits import Limits

DEMO_SCENARIO = Path(__file__).resolve().parent.parent / "resources" / "scenarios" / "demo.toml"


def _add_limits(command: argparse.ArgumentParser) -> None:
    from workbench.session.run_limits import DEFAULT_INSTRUCTIONS, DEFAULT_SECONDS

    command.add_argument("--budget", type=int, default=DEFAULT_INSTRUCTIONS, metavar="N",
                         help="sim: stop a vCPU run after N guest instructions without an "
                              f"exit (default {DEFAULT_INSTRUCTIONS}; 0 = no budget)")
    command.add_argument("--timeout", type=float, default=DEFAULT_SECONDS, metavar="S",
                         help=f"stop the guest after S seconds (default {DEFAULT_SECONDS:g}; "
                              "0 = no limit); Ctrl-C stops it too, with exit status 130")


def _limits(args: argparse.Namespace) -> Limits:
    from workbench.session.run_limits import Limits

    return Limits(args.budget, args.timeout)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="See what KVM and vfio-pci do with MSR accesses and config-space bits.",
    )
    commands = parser.add_subparsers(dest="command")
    open_cmd = commands.add_parser(
        "open", help="open a scenario, a recording, a capture or a trace in the GUI")
    open_cmd.add_argument("file", type=Path)
    run_cmd = commands.add_parser("run", help="run a scenario")
    run_cmd.add_argument("scenario", type=Path)
    run_cmd.add_argument("--engine", choices=["sim", "host"], default="sim")
    run_cmd.add_argument("--steps", type=int, default=10_000, metavar="N",
                         help="stop each vCPU after N exits (default 10000)")
    run_cmd.add_argument("--headless", action="store_true",
                         help="print one line per exit/event instead of opening the GUI")
    _add_limits(run_cmd)
    record_cmd = commands.add_parser("record", help="run a scenario and record it")
    record_cmd.add_argument("scenario", type=Path)
    record_cmd.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    record_cmd.add_argument("--engine", choices=["sim", "host"], default="sim")
    record_cmd.add_argument("--steps", type=int, default=10_000, metavar="N",
                            help="stop each vCPU after N exits (default 10000)")
    _add_limits(record_cmd)
    replay_cmd = commands.add_parser("replay", help="replay a recording")
    replay_cmd.add_argument("file", type=Path)
    replay_cmd.add_argument("--engine", choices=["sim", "host"], default="sim")
    replay_cmd.add_argument("--verify", action="store_true",
                            help="only check every recorded digest (exit status 1 at the "
                                 "first divergence) instead of printing the events")
    _add_limits(replay_cmd)
    diff_cmd = commands.add_parser(
        "diff", help="print the first divergence of two recordings as a unified diff "
                     "(exit 1), or nothing when they agree (exit 0)")
    diff_cmd.add_argument("a", type=Path, metavar="A")
    diff_cmd.add_argument("b", type=Path, metavar="B")
    profiles_cmd = commands.add_parser("profiles", help="list the kernel profiles")
    profiles_cmd.add_argument("--explain", action="store_true",
                              help="every switch with the commit that set it")
    compare_cmd = commands.add_parser(
        "compare-profiles", help="run a scenario under two kernel profiles and explain "
                                 "where they differ (exit 1 when they do)")
    compare_cmd.add_argument("scenario", type=Path)
    compare_cmd.add_argument("a", metavar="PROFILE_A")
    compare_cmd.add_argument("b", metavar="PROFILE_B")
    compare_cmd.add_argument("--steps", type=int, default=1000, metavar="N",
                             help="stop each vCPU after N exits (default 1000)")
    capture_cmd = commands.add_parser(
        "capture", help="run a VMM and record its MSR filter, exits and answers, and the "
                        "kernel's kvm events for it (workbench capture -o FILE -- VMM ARGS...)")
    capture_cmd.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    capture_cmd.add_argument("--no-kernel-events", action="store_true",
                             help="do not record tracefs kvm events (ptrace only)")
    capture_cmd.add_argument("--python-stops", action="store_true",
                             help="handle every ptrace stop in Python, not in the compiled "
                                  "stop handler (slower; to compare)")
    capture_cmd.add_argument("vmm", nargs=argparse.REMAINDER, metavar="-- VMM ARGS")
    export_cmd = commands.add_parser(
        "export", help="replay a recording and write its events (those a display filter "
                       "keeps) as CSV or JSON Lines")
    export_cmd.add_argument("file", type=Path, metavar="RECORDING")
    export_cmd.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    export_cmd.add_argument("--filter", default="", metavar="EXPR",
                            help="display filter, e.g. 'kind=MSR_EXIT and reason=FILTER'")
    export_cmd.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    _add_limits(export_cmd)
    whatif_cmd = commands.add_parser(
        "whatif", help="replay a capture or trace under another filter, profile or vendor")
    from workbench.capture.cli import add_arguments as add_whatif_arguments
    add_whatif_arguments(whatif_cmd)
    shot_cmd = commands.add_parser("screenshot", help="render each panel to a PNG")
    shot_cmd.add_argument("scenario", type=Path)
    shot_cmd.add_argument("--out", type=Path, required=True, metavar="DIR",
                          help="directory for <panel>.png (created if missing)")
    return parser


def _run_headless(args: argparse.Namespace) -> int:
    from workbench.kvm.guest.assembler import AssemblyError
    from workbench.session.run_limits import EXIT_INTERRUPTED, bounded, stop_message
    from workbench.session.runner import run_scenario
    from workbench.session.scenario import ScenarioError, load
    from workbench.session.session import Session

    limits = _limits(args)
    problem = "--steps must be at least 1" if args.steps < 1 else limits.check()
    if problem is not None:
        print(f"workbench: {problem}", file=sys.stderr)
        return 2
    try:
        session = Session(load(args.scenario), engine=args.engine)
        with bounded(session, limits) as stopper:
            for line in run_scenario(session, args.steps, lambda: stopper.stopped):
                print(line, flush=True)
        if stopper.stopped:
            print(f"workbench: {stop_message(stopper, limits)}", file=sys.stderr)
            return EXIT_INTERRUPTED if stopper.reason == "interrupted" else 1
    except (ScenarioError, AssemblyError) as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"workbench: {args.scenario}: {exc}", file=sys.stderr)
        return 1
    except (ValueError, RuntimeError) as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        return 1
    return 0


def _screenshot(args: argparse.Namespace) -> int:
    from workbench.gui.screenshot import render_panels
    from workbench.kvm.guest.assembler import AssemblyError
    from workbench.session.scenario import ScenarioError

    try:
        for path in render_panels(args.scenario, args.out):
            print(path)
    except (ScenarioError, AssemblyError) as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "whatif":
        from workbench.capture.cli import run as run_whatif
        return run_whatif(args)
    if args.command in ("profiles", "compare-profiles"):
        from workbench.session import profile_cli
        if args.command == "profiles":
            return profile_cli.list_profiles(args.explain)
        return profile_cli.compare(args.scenario, args.a, args.b, args.steps)
    if args.command == "capture":
        from workbench.capture.live import capture, main_args
        return capture(main_args(args.vmm), args.output, not args.no_kernel_events,
                       c_stops=not args.python_stops)
    if args.command == "export":
        from workbench.session.export_cli import export
        return export(args.file, args.format, args.filter, args.output, _limits(args))
    if args.command == "diff":
        from workbench.session.recording.cli import diff
        return diff(args.a, args.b)
    if args.command in ("run", "record", "replay") and (args.command != "run" or args.headless):
        try:
            return _headless(args)
        except KeyboardInterrupt:   # Ctrl-C while loading, before the run is bounded
            print("workbench: interrupted (Ctrl-C)", file=sys.stderr)
            return 130
    return _gui(args)


def _headless(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run_headless(args)
    if args.command == "record":
        from workbench.session.recording.cli import record
        return record(args.scenario, args.output, args.engine, args.steps, _limits(args))
    from workbench.session.recording.cli import replay
    return replay(args.file, args.engine, args.verify, _limits(args))


def _gui(args: argparse.Namespace) -> int:
    if args.command == "screenshot":
        return _screenshot(args)
    if args.command == "open":
        from workbench.session.capture_session import check_capture_openable
        from workbench.session.recording.cli import check_openable
        if (status := check_capture_openable(args.file)) != 0:
            return status
        if (status := check_openable(args.file)) != 0:
            return status
    from workbench.gui.app import run_gui

    target, engine = DEMO_SCENARIO, "sim"
    if args.command == "open":
        target = args.file
    elif args.command == "run":
        target, engine = args.scenario, args.engine
    return run_gui(target, engine)


if __name__ == "__main__":
    sys.exit(main())
