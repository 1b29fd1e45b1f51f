"""One session's PCI commands replayed under linux-5.9 and linux-5.10, side by side, for
the VFIO panel's profiles tab and its tests (no Qt). Each run is a fresh headless sim
session, so the user's session is never touched.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import zip_longest

import msgspec

from workbench.session import commands as c
from workbench.session.eventlog.log import EventLog
from workbench.session.pci_view import function_names, is_open, word_layers
from workbench.session.scenario import Scenario
from workbench.session.session import Session
from workbench.vfio import config_space as cs

PROFILES = ("linux-5.9", "linux-5.10")
_ROW_PREFIX = re.compile(r"^step\s+\d+\s+#\d+\s+")


def event_text(log: EventLog, row: int) -> str:
    """A log row's line without its step and row number, so two runs' lines compare."""
    return _ROW_PREFIX.sub("", log.format_row(row))


def describe_step(step: msgspec.Struct) -> str:
    """A PCI step in one line: `op key=value ...`, offsets and values in hex."""
    fields = msgspec.to_builtins(step)
    op = fields.pop("op")
    fields.pop("repeat", None)  # a command applies its step once; repeats are commands
    parts = [f"{k}={v:#x}" if k in ("offset", "value") else f"{k}={v}"
             for k, v in fields.items()]
    return " ".join([op, *parts])


# --- one command sequence under both profiles ---------------------------------------------------
@dataclass(frozen=True)
class DeviceState:
    """The command register a read through vfio would return, and whether memory is on."""

    name: str
    command: int | None
    memory_enabled: bool | None

    @property
    def mse(self) -> bool | None:
        return None if self.command is None else bool(self.command & cs.CMD_MEMORY)


@dataclass(frozen=True)
class StepEvents:
    step: int  # 0 = the scenario's set-up (devices, flags)
    command: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class ProfileRun:
    profile: str
    steps: tuple[StepEvents, ...]
    devices: tuple[DeviceState, ...]


@dataclass(frozen=True)
class SideRow:
    step: int
    command: str
    left: str
    right: str

    @property
    def differs(self) -> bool:
        return self.left != self.right


def pci_commands(session: Session) -> list[c.Pci]:
    """The PCI commands that brought the session where it stands (not later branches)."""
    return [cmd for cmd in session.history[:session.step] if isinstance(cmd, c.Pci)]


def pci_command_steps(session: Session) -> list[int]:
    """The session's step number of each of pci_commands(session), so a replay of them
    alone is labelled with the steps the log shows."""
    return [step for step, cmd in enumerate(session.history[:session.step], start=1)
            if isinstance(cmd, c.Pci)]


def with_profile(scenario: Scenario, profile: str) -> Scenario:
    """The scenario with its [pci] profile replaced (the rest, programs included, kept)."""
    pci = scenario.spec.pci
    if pci is None:
        raise ValueError("the scenario has no [pci] table")
    spec = msgspec.structs.replace(scenario.spec,
                                   pci=msgspec.structs.replace(pci, profile=profile))
    return dataclasses.replace(scenario, spec=spec, source="")


def run_profile(scenario: Scenario, profile: str, commands: list[c.Pci],
                labels: list[int] | None = None) -> ProfileRun:
    """Apply `commands` to a fresh headless sim session under `profile`; `labels` number
    them as the user's session did (default: 1, 2, ...)."""
    session = Session(with_profile(scenario, profile), engine="sim")
    try:
        log = session.log
        steps = [StepEvents(0, "set-up", tuple(event_text(log, r) for r in range(len(log))))]
        for i, command in enumerate(commands):
            result = session.apply(command)
            lines = tuple(event_text(log, r) for r in range(result.first_row, result.last_row))
            if result.error is not None:
                lines += (f"error: {result.error}",)
            step = result.step if labels is None else labels[i]
            steps.append(StepEvents(step, describe_step(command.action), lines))
        story = session.pci
        assert story is not None
        devices = tuple(
            DeviceState(name, word_layers(story, name, cs.COMMAND).user,
                        story.devices[name].memory_enabled() if is_open(story, name) else None)
            for name in sorted(function_names(story).values()))
        return ProfileRun(profile, tuple(steps), devices)
    finally:
        session.close()


def side_by_side(left: ProfileRun, right: ProfileRun) -> list[SideRow]:
    """Both runs' events step by step, lines matched within a step (difflib), so an event
    only one profile has (a BAR restore) stands alone instead of shifting the rest."""
    rows = []
    for a, b in zip(left.steps, right.steps, strict=True):
        matcher = SequenceMatcher(a=a.lines, b=b.lines, autojunk=False)
        for _, i1, i2, j1, j2 in matcher.get_opcodes():
            for x, y in zip_longest(a.lines[i1:i2], b.lines[j1:j2], fillvalue=""):
                rows.append(SideRow(a.step, a.command, x, y))
    return rows


def compare_profiles(scenario: Scenario, commands: list[c.Pci],
                     steps: list[int] | None = None
                     ) -> tuple[ProfileRun, ProfileRun, list[SideRow]]:
    """The same PCI commands under linux-5.9 and linux-5.10 (numbered by `steps`)."""
    old, new = (run_profile(scenario, p, commands, steps) for p in PROFILES)
    return old, new, side_by_side(old, new)
