"""A capture or trace opened in the workbench: a read-only session.

Its event log holds the capture's events (one vCPU per captured vCPU or thread, in the
capture's order), so the trap log, timeline and statistics show what the real VMM and kernel
did; its VM carries the VMM's filter and user-space mask, so the filter editor and heatmaps
show them. Commands are refused: the capture is a record, not a guest to run. Its scenario
(`session.scenario.source`) is the what-if replay as a scenario, so "Use in a scenario"
opens a runnable copy: the captured accesses as a guest program, the VMM's recorded answers
as handlers.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from workbench.capture import Capture, ConfigAccess, MsrAccess, UserExit, load
from workbench.capture.detect import sniff_format
from workbench.capture.msr_whatif import replay_program, whatif
from workbench.capture.vfio_whatif import infer_size
from workbench.kvm import uapi
from workbench.kvm.filter import MsrFilter
from workbench.session import commands as c
from workbench.session.errors import SessionError
from workbench.session.eventlog import EventKind, EventLog
from workbench.session.eventlog.kinds import EXIT_KIND_OF_REASON, Flag
from workbench.session.scenario import Scenario, loads
from workbench.session.session import CommandResult, Session
from workbench.vfio.story_schema import ConfigReadStep, ConfigWriteStep

READ_ONLY = ("a capture is read-only: \"Use in a scenario\" (filter editor) opens a runnable "
             "copy, its accesses replayed as a guest program")
_MSR_EXITS = (uapi.KVM_EXIT_X86_RDMSR, uapi.KVM_EXIT_X86_WRMSR)
_VENDORS = ("intel", "amd", "pvm")
# The scenario replays at most this many accesses per vCPU: its program must fit the 1 MiB
# code area (about 19 bytes an access); the log still holds every event.
MAX_SCENARIO_ACCESSES = 20_000


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def vcpu_order(cap: Capture) -> dict[int, int]:
    """Captured vCPU (or thread) -> the session's vCPU index, in order of first appearance."""
    seen = (e.vcpu for e in cap.events if isinstance(e, MsrAccess | UserExit))
    return {v: i for i, v in enumerate(dict.fromkeys(seen))}


def scenario_text(cap: Capture) -> str:
    """The capture as a scenario: its filter and mask, one vCPU per captured vCPU replaying
    that vCPU's accesses (a thread without any just halts), and the VMM's last answer per
    MSR as a handler."""
    host = cap.meta.get("host")
    vendor = host.get("kvm_vendor") if isinstance(host, dict) else None
    lines = ["version = 1", f"name = {_toml_str('capture: ' + cap.source.name)}", "",
             "[vm]", f"vendor = {_toml_str(vendor if vendor in _VENDORS else 'intel')}", ""]
    if cap.user_space_msr_mask is not None:
        lines += ["[caps]", f"user_space_msr = {cap.user_space_msr_mask}", ""]
    if cap.msr_filter is not None:
        lines += ["[filter]", f"flags = {cap.msr_filter.flags}", ""]
        for r in cap.msr_filter.ranges:
            lines += ["[[filter.ranges]]", f"flags = {r.flags}", f'base = "{r.base:#x}"',
                      f"nmsrs = {r.nmsrs}", f'bitmap = "{r.bitmap.hex()}"', ""]
    accesses = cap.msr_accesses()
    for vcpu in vcpu_order(cap):
        mine = [a for a in accesses if a.vcpu == vcpu]
        source = replay_program(mine[:MAX_SCENARIO_ACCESSES])
        if len(mine) > MAX_SCENARIO_ACCESSES:
            source = f"# the first {MAX_SCENARIO_ACCESSES} of {len(mine)} accesses\n{source}"
        lines += ["[[vcpus]]", f'source = """\n{source}\n"""', ""]
    answers = {a.index: a.exit for a in accesses if a.exit is not None}
    for index, answer in answers.items():
        kind = "fail" if answer.error else "constant"
        lines += ["[[handlers]]", f'msr = "{index:#x}"', f'kind = "{kind}"',
                  f'value = "{answer.data:#x}"', ""]
    return "\n".join(lines)


def _pci_address(name: str, bdf: str) -> str:
    """The log names devices by PCI address: QEMU's bus:dev.fn gets domain 0."""
    for candidate in (name, bdf, f"0000:{bdf}"):
        parts = candidate.split(":")
        if len(parts) == 3 and "." in parts[2]:
            return candidate.lower()
    return "0000:00:00.0"


@dataclass
class _Rows:
    """Writes the capture's events into a session's log, at `step`."""

    log: EventLog
    vcpu_of: dict[int, int]
    devices: dict[str, int] = field(default_factory=dict)
    step: int = 1

    def msr(self, a: MsrAccess) -> None:
        vcpu = self.vcpu_of[a.vcpu]
        write = Flag.WRITE if a.write else 0
        value = a.value or 0
        if a.exit is None:
            kind = EventKind.MSR_GP if a.gp else (EventKind.MSR_WRITE if a.write
                                                    else EventKind.MSR_READ)
            self.log.append(kind, step=self.step, vcpu=vcpu, msr=a.index, value=value,
                            flags=write | Flag.ALLOWED | (Flag.GP if a.gp else 0))
            return
        e = a.exit
        allowed = 0 if e.msr_reason & uapi.KVM_MSR_EXIT_REASON_FILTER else Flag.ALLOWED
        self.log.append(EventKind.MSR_EXIT, step=self.step, vcpu=vcpu, msr=a.index,
                        value=value if a.write else 0, arg=e.exit_reason, reason=e.msr_reason,
                        flags=Flag.EXITED | allowed | write)
        self.log.append(EventKind.USER_ANSWER, step=self.step, vcpu=vcpu, msr=a.index, value=e.data,
                        arg=e.exit_reason, errno=e.error, reason=e.msr_reason,
                        flags=write | (Flag.ERROR if e.error else 0))
        if a.gp:
            self.log.append(EventKind.MSR_GP, step=self.step, vcpu=vcpu, msr=a.index, value=e.data,
                            arg=e.exit_reason, errno=e.error, reason=e.msr_reason,
                            flags=Flag.GP | Flag.EXITED | Flag.ERROR | write)

    def user_exit(self, e: UserExit, paired: bool) -> None:
        if e.exit_reason in _MSR_EXITS and paired:
            return      # the MsrAccess that carries this exit logged it, with its index
        vcpu = self.vcpu_of[e.vcpu]
        kind = EXIT_KIND_OF_REASON.get(e.exit_reason, EventKind.OTHER_EXIT)
        if kind == EventKind.IO_EXIT and "port" in e.detail:
            out = e.detail.get("direction") == uapi.KVM_EXIT_IO_OUT
            self.log.append(kind, step=self.step, vcpu=vcpu, offset=e.detail["port"],
                            size=e.detail.get("size", 0), arg=e.detail.get("count", 1),
                            value=e.detail.get("data", 0) if out else 0,
                            flags=Flag.WRITE if out else 0)
        elif kind in (EventKind.MSR_EXIT, EventKind.IO_EXIT):
            # A kernel trace names no index (or port) for it: an exit of that reason only.
            self.log.append(EventKind.OTHER_EXIT, step=self.step, vcpu=vcpu, arg=e.exit_reason)
        else:
            self.log.append(kind, step=self.step, vcpu=vcpu, arg=e.exit_reason)

    def config(self, a: ConfigAccess, bdfs: dict[str, str]) -> None:
        dev = self.devices.get(a.device)
        if dev is None:
            dev = self.devices[a.device] = len(self.devices)
            self.log.add_device(dev, _pci_address(a.device, bdfs.get(a.device, "")))
        kind = EventKind.VFIO_CONFIG_WRITE if a.write else EventKind.VFIO_CONFIG_READ
        self.log.append(kind, step=self.step, device=dev, offset=a.offset, value=a.value,
                        size=a.size or infer_size(a.offset, a.value))


@dataclass
class CaptureSession(Session):
    """A Session over a capture's scenario whose log is the capture; commands are refused."""

    capture: Capture | None = None

    @property
    def read_only(self) -> bool:
        return True

    def apply(self, command: c.Command) -> CommandResult:
        raise SessionError(READ_ONLY)

    def seek(self, step: int) -> None:
        """Show the capture up to the end of `step` (0: nothing yet): only the visible rows
        change, as nothing runs."""
        if not 0 <= step <= len(self.history):
            raise SessionError(f"step {step} is outside 0..{len(self.history)}")
        self.step = step
        self.visible_rows = self.log.row_of_step(step + 1)

    def _replay_to(self, step: int, start: int, remember: bool = False) -> Iterator[int]:
        """Nothing re-runs a capture's steps (e.g. "when did this register change")."""
        raise SessionError("a capture records no guest registers or memory between exits: "
                           "there is nothing to re-run")

    def whatif_lines(self, msr_filter: MsrFilter | None = None, profile: str | None = None,
                     vendor: str | None = None) -> list[str]:
        """The capture's accesses replayed on the sim under `msr_filter` (None: as captured),
        profile and vendor (None: the capture's host): workbench.capture.whatif, as text."""
        if self.capture is None:
            raise SessionError("no capture is open")
        try:
            result = whatif(self.capture, msr_filter=msr_filter, profile=profile, vendor=vendor)
        except (OSError, ValueError) as error:
            raise SessionError(f"what if: {error}") from None
        return result.lines(self.capture.source.name)

    def captured_config_lines(self) -> list[str]:
        """The capture's config-space accesses, one line each, for the VFIO panel."""
        if self.capture is None:
            return []
        lines = []
        for a in self.capture.config_accesses():
            size = "?" if a.size is None else str(a.size)
            arrow = "<-" if a.write else "->"
            where = "" if a.line is None else f"line {a.line}: "
            lines.append(f"{where}{a.device} @{a.offset:#05x}/{size} {arrow} {a.value:#x}")
        return lines


def is_capture(path: str | Path) -> bool:
    """Whether `path` is a capture or a trace (by content), rather than a scenario or a
    recording; False for a file that cannot be read (the opener then says why)."""
    try:
        return sniff_format(path) is not None
    except OSError:
        return False


def check_capture_openable(path: str | Path) -> int:
    """Before the GUI opens `path`: 0 unless it is a capture or trace that cannot be used,
    which is said on stderr (exit status 2), never with a traceback."""
    if not is_capture(path):
        return 0
    try:
        open_capture(path).close()
    except (OSError, ValueError) as error:
        print(f"workbench: {error}", file=sys.stderr)
        return 2
    return 0


def open_capture(path: str | Path) -> CaptureSession:
    """Load a capture or trace (workbench.capture.load's errors) as a read-only session."""
    cap = load(path)
    scenario: Scenario = loads(scenario_text(cap), source=str(path))
    session = CaptureSession(scenario, capture=cap)
    _log_steps(session, cap)
    session.step, session.visible_rows = len(session.history), len(session.log)
    return session


def _log_steps(session: CaptureSession, cap: Capture) -> None:
    """The capture's events into the log, a step per return to the VMM: an exit (with the
    MSR access it carries) or a traced config access (each a port I/O exit to the VMM) ends
    its step, so the accesses the kernel handled before an exit share the exit's step.
    Events after the last exit make one more step. Each step's command says what the
    VMM saw return: RunToExit of that vCPU, or the config access as a Pci step."""
    vcpu_of = vcpu_order(cap)
    rows = _Rows(session.log, vcpu_of)
    paired = any(a.exit is not None for a in cap.msr_accesses())
    bdfs = cap.meta.get("devices") if isinstance(cap.meta.get("devices"), dict) else {}
    first, last_vcpu = 0, 0

    def end_step(command: c.Command) -> None:
        nonlocal first
        session.history.append(command)
        session.digests.append(session.log.digest(first, len(session.log)))
        first, rows.step = len(session.log), rows.step + 1

    for event in cap.events:
        if isinstance(event, MsrAccess):
            rows.msr(event)
            last_vcpu = vcpu_of[event.vcpu]
            if event.exit is not None:
                end_step(c.RunToExit(vcpu=last_vcpu))
        elif isinstance(event, UserExit):
            rows.user_exit(event, paired)
            last_vcpu = vcpu_of[event.vcpu]
            if not (paired and event.exit_reason in _MSR_EXITS):   # else its access ends it
                end_step(c.RunToExit(vcpu=last_vcpu))
        elif isinstance(event, ConfigAccess):
            rows.config(event, bdfs)
            end_step(c.Pci(_config_step(event)))
    if len(session.log) > first:
        end_step(c.RunToExit(vcpu=last_vcpu))


def _config_step(a: ConfigAccess) -> ConfigReadStep | ConfigWriteStep:
    size = a.size or infer_size(a.offset, a.value)
    if a.write:
        return ConfigWriteStep(device=a.device, offset=a.offset, size=size, value=a.value)
    return ConfigReadStep(device=a.device, offset=a.offset, size=size)
