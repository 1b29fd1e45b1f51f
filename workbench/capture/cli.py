"""`workbench whatif CAPTURE ...`: the differences a replay finds, as text (exit 0), or a
clean error (exit 2)."""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.capture.errors import CaptureError
from workbench.capture.model import AS_KINDS, Capture
from workbench.kvm.filter import MsrFilter

if TYPE_CHECKING:
    from workbench.capture.msr_whatif import WhatIfResult


def add_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("capture", help="a capture, tracefs/trace-cmd text or QEMU -trace log")
    command.add_argument("--filter", help="an MSR filter (TOML or JSON: flags and ranges, or a "
                         "scenario's [filter] table) to replay under instead of the captured one")
    command.add_argument("--mask", type=lambda s: int(s, 0),
                         help="KVM_CAP_X86_USER_SPACE_MSR mask (default: as captured)")
    command.add_argument("--profile", help="kernel profile (default: as this machine)")
    command.add_argument("--vendor", help="intel | amd (default: as this machine)")
    command.add_argument("--engine", choices=("sim", "host"), default="sim")
    command.add_argument("--device", help="replay this device's config-space accesses through "
                         "vfio-pci instead (QEMU's name for it, e.g. e1000)")
    command.add_argument("--as", dest="as_kind", choices=AS_KINDS, default="vf",
                         help="with --device: the modelled function to replay it on")


def read_filter(path: str) -> MsrFilter:
    """A filter file: TOML or JSON; its top level is the filter, or holds one as `filter`."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise CaptureError(f"{path}: not a TOML or JSON filter ({error})") from None
    if isinstance(data.get("filter"), dict):
        data = data["filter"]
    try:
        return MsrFilter.from_dict(data)
    except ValueError as error:
        raise CaptureError(f"{path}: {error}") from None


def _print_msr(result: WhatIfResult, cap: Capture, source: str) -> None:
    print("\n".join(result.lines(source)))
    if not result.outcomes and cap.config_accesses():
        devices = sorted({a.device for a in cap.config_accesses()})
        print(f"note: no MSR accesses; replay a device's config accesses with --device "
              f"({', '.join(devices)})")


def run(args: argparse.Namespace) -> int:
    # Here, not at the top: workbench's parser imports this module for add_arguments on
    # every command, and the readers and replays cost ~0.4 s to import.
    from workbench.capture.detect import load
    from workbench.capture.msr_whatif import whatif
    from workbench.capture.vfio_whatif import vfio_whatif
    try:
        cap = load(args.capture)
        if args.device is not None:
            print("\n".join(vfio_whatif(cap, args.device, args.as_kind).lines()))
            return 0
        msr_filter = read_filter(args.filter) if args.filter else None
        result = whatif(cap, msr_filter=msr_filter, user_space_msr_mask=args.mask,
                        engine=args.engine, vendor=args.vendor, profile=args.profile)
    except (OSError, ValueError, RuntimeError) as error:
        print(f"workbench: {error}", file=sys.stderr)
        return 2
    _print_msr(result, cap, args.capture)
    return 0
