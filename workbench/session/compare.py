"""One scenario on the simulation and on the real kernel: where do they part?

Only what both engines can report is compared: the exit/answer stream (in-kernel
MSR_READ/MSR_WRITE/MSR_GP rows exist only on the sim, whose observer the host lacks) and
each vCPU's final registers. RIPs of exits are left out too: the host reports an exit's
RIP after the kernel's own bookkeeping, which need not be the sim's. To compare like with
like, the sim is given this host's CPUID and vendor when the scenario names no CPUID.
Values derived from time differ by nature: the sim runs twice, the twin from another TSC,
and what differs between the two is compared as "volatile", with the in-kernel reads
that fed it listed in the streams.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import workbench.kvm
from workbench.hostkvm import host_unavailable_reason
from workbench.kvm.msrs.catalogue import msr_name
from workbench.session.eventlog import EventKind, Flag, MsrExitReason
from workbench.session.run_limits import stopped_after
from workbench.session.runner import drive
from workbench.session.scenario import Scenario
from workbench.session.session import Session

COMPARED_KINDS = frozenset({EventKind.MSR_EXIT, EventKind.USER_ANSWER, EventKind.IO_EXIT,
                            EventKind.IO_ANSWER, EventKind.HLT, EventKind.SHUTDOWN})
FINAL_REGS = ("rax", "rbx", "rcx", "rdx", "r14", "r15", "rip")
MAX_EXITS = 1000
# The whole comparison's time (three runs): the GUI waits for it, and a guest that never
# halts (`l: jmp l`, or one looping on its exits) would otherwise run for ever.
COMPARE_SECONDS = 10.0
TWIN_TICKS = 0x0123_4567_89AB_CDEF  # the twin's head start: moves both TSC halves


class Unfinished(Exception):
    """A run of the comparison did not end within COMPARE_SECONDS."""


@dataclass(frozen=True)
class Entry:
    """One comparable item: `key` decides equality, `text` shows it."""

    key: tuple[Any, ...]
    text: str


@dataclass(frozen=True)
class Comparison:
    sim_lines: list[str]
    host_lines: list[str]
    first_divergence: int | None  # index into both line lists; None = same streams
    reason: str | None = None  # why no comparison could be made
    volatile: frozenset[int] = frozenset()  # indices compared as "volatile" (time-derived)

    @property
    def compared(self) -> bool:
        return self.reason is None


def first_divergence(a: Sequence[Any], b: Sequence[Any]) -> int | None:
    """The first index where the sequences differ; a missing item counts as different."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def comparison(sim: Sequence[Entry], host: Sequence[Entry],
               volatile: frozenset[int] = frozenset()) -> Comparison:
    return Comparison([e.text for e in sim], [e.text for e in host],
                      first_divergence([e.key for e in sim], [e.key for e in host]),
                      volatile=volatile)


def _reason(bits: int) -> str:
    return "+".join(r.name for r in MsrExitReason if bits & r and r.name) or "none"


def row_entry(row: dict[str, Any]) -> Entry:
    """A log row (EventLog.row) reduced to what both engines report."""
    kind: EventKind = row["kind"]
    write = bool(row["flags"] & Flag.WRITE)
    vcpu, msr, value, port = row["vcpu"], row["msr"], row["value"], row["offset"]
    key: tuple[Any, ...] = (kind.name, vcpu)
    if kind is EventKind.MSR_EXIT:
        key += (write, msr, int(row["reason"]), value if write else 0)
        op = "wrmsr" if write else "rdmsr"
        data = f" data={value:#x}" if write else ""
        text = f"{op} {msr:#x} reason={_reason(int(row['reason']))}{data}"
    elif kind is EventKind.USER_ANSWER:
        key += (write, msr, row["errno"], 0 if write else value)
        text = (f"{msr:#x} error={row['errno']} (#GP)" if row["errno"]
                else f"{msr:#x} " + ("accepted" if write else f"data={value:#x}"))
    elif kind is EventKind.IO_EXIT:
        key += (write, port, row["size"], value if write else 0)
        way = "out" if write else "in"
        text = f"{way} port={port:#x} size={row['size']}" + (f" data={value:#x}" if write else "")
    elif kind is EventKind.IO_ANSWER:
        key += (port, value)
        text = f"in port={port:#x} data={value:#x}"
    else:
        text = ""
    return Entry(key, f"vcpu{vcpu} {kind.name} {text}".rstrip())


def entries(session: Session, errors: Sequence[str] = ()) -> list[Entry]:
    """The session's comparable stream: exits and answers, command errors, final registers."""
    log = session.log
    kinds = log.column("kind").tolist()
    stream = [row_entry(log.row(i)) for i in range(session.visible_rows)
              if kinds[i] in COMPARED_KINDS]
    stream += [Entry(("error", text), f"error: {text}") for text in errors]
    for vcpu in range(len(session.vcpus)):
        regs = session.regs(vcpu)
        stream += [Entry(("reg", vcpu, name, regs[name]), f"vcpu{vcpu} {name}={regs[name]:#x}")
                   for name in FINAL_REGS]
    return stream


def play(session: Session, max_exits: int = MAX_EXITS,
         stopped: Callable[[], bool] = lambda: False) -> list[Entry]:
    """Drive the scenario to its end and reduce the session to its comparable stream."""
    errors = [result.error for result in drive(session, max_exits, stopped)
              if result.error is not None]
    return entries(session, errors)


def play_by(session: Session, max_exits: int, deadline: float, engine: str) -> list[Entry]:
    """`play` that pauses the guest at `deadline` (time.monotonic()); Unfinished(engine)
    then."""
    with stopped_after(session, max(0.0, deadline - time.monotonic())) as stopper:
        stream = play(session, max_exits, lambda: stopper.stopped)
    if stopper.stopped:
        raise Unfinished(engine)
    return stream


def in_kernel_reads(session: Session) -> list[tuple[int, Entry]]:
    """The sim's in-kernel RDMSRs, each with its position in the comparable stream."""
    log = session.log
    kinds = log.column("kind").tolist()
    reads, position = [], 0
    for i in range(session.visible_rows):
        if kinds[i] in COMPARED_KINDS:
            position += 1
        elif kinds[i] == EventKind.MSR_READ:
            row = log.row(i)
            text = (f"vcpu{row['vcpu']} MSR_READ rdmsr {row['msr']:#x} ({msr_name(row['msr'])})"
                    f" -> {row['value']:#x}")
            reads.append((position, Entry(("MSR_READ", row["vcpu"], row["msr"],
                                           row["value"]), text)))
    return reads


def _run_sim(scenario: Scenario, max_exits: int, deadline: float, later: int = 0
             ) -> tuple[list[Entry], list[tuple[int, Entry]]]:
    """The sim's stream and in-kernel reads, its guest clock started `later` ticks on
    (the clock itself, not a TSC write, which some vendors ignore from the host)."""
    session = Session(scenario, engine="sim")
    try:
        for vcpu in session.vcpus:
            vcpu.ticks += later
        return play_by(session, max_exits, deadline, "sim"), in_kernel_reads(session)
    finally:
        session.close()


def with_volatile(sim: list[Entry], twin: list[Entry], reads: list[tuple[int, Entry]],
                  twin_reads: list[tuple[int, Entry]], host: list[Entry]) -> Comparison:
    """Compare sim and host, taking as volatile what differs between the sim and its
    twin (the same run from another TSC): such values differ by nature, not by a bug.
    The in-kernel reads that differ too are listed where they happened (the host cannot
    report them), so the cause of a volatile value is in the rows."""
    sim, host = list(sim), list(host)
    volatile = set()
    for i, (a, b) in enumerate(zip(sim, twin, strict=False)):
        if a.key != b.key:
            volatile.add(i)
            key = (*a.key[:-1], "volatile")
            sim[i] = Entry(key, f"{a.text}  ~ volatile")
            if i < len(host):
                host[i] = Entry(key, f"{host[i].text}  ~ volatile")
    feeders = [(pos, e) for (pos, e), (_, t) in zip(reads, twin_reads, strict=False)
               if e.key != t.key]
    for pos, entry in reversed(feeders):
        key = (*entry.key[:-1], "volatile")
        sim.insert(pos, Entry(key, f"{entry.text}  ~ volatile (in the kernel)"))
        host.insert(min(pos, len(host)), Entry(key, "(in the kernel: not reported)  ~ volatile"))
        volatile = {i + 1 if i >= pos else i for i in volatile} | {pos}
    return comparison(sim, host, frozenset(volatile))


def mimic_host(scenario: Scenario) -> Scenario:
    """The scenario for a sim that should behave like this host: its CPUID, vendor (the KVM
    module it runs) and machine-dependent values such as the TSC rate, unless the scenario
    pins a CPUID of its own."""
    if scenario.cpuid is not None:
        return scenario
    traits = workbench.kvm.host_traits()
    return dataclasses.replace(scenario, cpuid=list(traits.cpuid), vendor=traits.module,
                               host=traits)


def _run(scenario: Scenario, engine: str, max_exits: int, deadline: float) -> list[Entry]:
    session = Session(scenario, engine=engine)
    try:
        return play_by(session, max_exits, deadline, engine)
    finally:
        session.close()


def host_unavailable() -> str | None:
    """Why a comparison cannot run on this machine (None when /dev/kvm is usable)."""
    return host_unavailable_reason()


def compare(scenario: Scenario, max_exits: int = MAX_EXITS) -> Comparison:
    """Run `scenario` on both engines; `reason` says why not when the host cannot."""
    why = host_unavailable_reason()
    if why is not None:
        return Comparison([], [], None, f"the host engine is unavailable: {why}")
    deadline = time.monotonic() + COMPARE_SECONDS
    try:
        try:
            host = _run(scenario, "host", max_exits, deadline)
        except (OSError, ValueError, RuntimeError) as exc:
            return Comparison([], [], None, f"the host engine cannot run this scenario: {exc}")
        sim, reads = _run_sim(mimic_host(scenario), max_exits, deadline)
        twin, twin_reads = _run_sim(mimic_host(scenario), max_exits, deadline, TWIN_TICKS)
    except Unfinished as late:
        return Comparison([], [], None, f"the guest did not halt within {COMPARE_SECONDS:g} s "
                                        f"on the {late} engine: only a scenario that ends can be "
                                        f"compared")
    return with_volatile(sim, twin, reads, twin_reads, host)


def aligned(result: Comparison) -> Iterator[tuple[int, str, str]]:
    """(index, sim line, host line) for every index of the longer stream ("" past an end)."""
    for i in range(max(len(result.sim_lines), len(result.host_lines))):
        sim = result.sim_lines[i] if i < len(result.sim_lines) else ""
        host = result.host_lines[i] if i < len(result.host_lines) else ""
        yield i, sim, host
