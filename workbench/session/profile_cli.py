"""The command line's `profiles` and `compare-profiles`: printing and exit statuses only;
the work is in profile_text and profile_compare."""

from __future__ import annotations

import sys
from pathlib import Path

from workbench.kvm.guest.assembler import AssemblyError
from workbench.kvm.profiles import get_profile
from workbench.session.profile_compare import compare_profiles
from workbench.session.profile_text import explain_lines, summary_lines
from workbench.session.scenario import ScenarioError, load

BAD_INPUT = 2


def list_profiles(explain: bool) -> int:
    print("\n".join(explain_lines() if explain else summary_lines()))
    return 0


def compare(scenario: Path, a: str, b: str, max_exits: int) -> int:
    """0 when the scenario behaves the same under both profiles, 1 with the differences
    (the first one first), 2 for a bad scenario or profile name."""
    try:
        for name in (a, b):
            get_profile(name)
        if max_exits < 1:
            raise ValueError("--steps must be at least 1")
        loaded = load(scenario)
    except (ValueError, AssemblyError) as exc:   # ScenarioError is a ValueError
        kind = "" if isinstance(exc, ScenarioError) else "compare-profiles: "
        print(f"workbench: {kind}{exc}", file=sys.stderr)
        return BAD_INPUT
    result = compare_profiles(loaded, a, b, max_exits)
    print("\n".join(result.lines()))
    return 1 if result.differences else 0
