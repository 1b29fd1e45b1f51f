"""One scenario under two kernel profiles: where do they part, and which commit explains it?

Both runs go through a headless sim session and the scenario runner, so they are the runs
`workbench run` prints. A difference is explained by experiment, not by a lookup: the
first differing step is re-run under profile A with one switch set to B's value, and the
switch that makes that step (and all before it) match B is the one named, with the commit
that set it. Later differences are explained the same way on top of the switches found.
A scenario with a [pci] story runs it under the vfio-pci profile of the same name, and
vfio-pci's switches take part in the explanation too.
"""

from __future__ import annotations

import dataclasses
import errno
import re
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from workbench.kvm.changes import Change
from workbench.kvm.profiles import BASELINE, UNMODELLED_SWITCHES, KvmProfile, get_profile
from workbench.session import commands as c
from workbench.session.runner import drive
from workbench.session.scenario import Scenario
from workbench.session.session import Session
from workbench.vfio.profiles import BASELINE as VFIO_BASELINE
from workbench.vfio.profiles import PROFILES as VFIO_PROFILES
from workbench.vfio.profiles import VfioProfile

MAX_EXITS = 1000
_ROW_PREFIX = re.compile(r"^step \d+\s+#\d+\s+")
_IOCTLS = (c.EnableCap, c.SetFilter)


@dataclass(frozen=True)
class StepOutcome:
    """What one command did: its log rows (without row numbers) and its error."""

    step: int
    command: str
    rows: tuple[str, ...]
    errno: int = 0
    ioctl: bool = False

    def summary(self, other: StepOutcome) -> str:
        """This outcome in words, for the first row where it and `other` differ."""
        if self.ioctl and self.errno != other.errno:
            return errno.errorcode.get(self.errno, str(self.errno)) if self.errno else "allowed"
        for mine, theirs in zip(self.rows, other.rows, strict=False):
            if mine != theirs:
                return f"'{mine}'"
        extra = self.rows[len(other.rows):]
        return f"'{extra[0]}'" if extra else "nothing more"


@dataclass(frozen=True)
class Difference:
    step: int
    command: str
    a: str  # the outcome under A (with the switches of earlier differences flipped)
    b: str
    switch: str | None  # None: no single switch explains it
    change: Change | None
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True)
class Kernels:
    """The profiles one run uses: KVM's, and vfio-pci's for a [pci] story."""

    kvm: KvmProfile
    vfio: VfioProfile | None
    pci_only: bool = False  # a [pci] story without vCPUs: KVM's switches cannot matter

    def value(self, switch: str) -> object:
        return getattr(self.vfio if switch in VFIO_BASELINE else self.kvm, switch)

    def flipped(self, switch: str, value: object) -> Kernels:
        if switch in VFIO_BASELINE:
            assert self.vfio is not None
            return dataclasses.replace(self, vfio=dataclasses.replace(self.vfio,
                                                                      **{switch: value}))
        return dataclasses.replace(self, kvm=dataclasses.replace(self.kvm, **{switch: value}))

    def change(self, switch: str) -> Change:
        owner = self.vfio if switch in VFIO_BASELINE else self.kvm
        assert owner is not None
        return owner.origin[switch]

    def switches(self) -> tuple[str, ...]:
        kvm = () if self.pci_only else tuple(s for s in BASELINE
                                             if s not in UNMODELLED_SWITCHES)
        return kvm + (tuple(VFIO_BASELINE) if self.vfio is not None else ())


@dataclass(frozen=True)
class Unexercised:
    """A switch the two profiles set differently that changes none of the scenario's
    events (the scenario does not reach the code it governs, or reaches it alike)."""

    switch: str
    a: object
    b: object
    change: Change


@dataclass(frozen=True)
class ProfileComparison:
    a: str
    b: str
    steps: int
    differences: tuple[Difference, ...]
    # Each profile's own run, step by step (A's without any switch flipped): the two
    # event columns of the GUI.
    a_run: tuple[StepOutcome, ...] = ()
    b_run: tuple[StepOutcome, ...] = ()
    unexercised: tuple[Unexercised, ...] = ()

    def lines(self) -> list[str]:
        if not self.differences:
            return [f"no difference: {self.steps} steps behave the same under {self.a} and "
                    f"{self.b}"] + self.unexercised_lines()
        return [f"step {d.step} ({d.command}): {self.explain(d)}"
                for d in self.differences] + self.unexercised_lines()

    def explain(self, d: Difference) -> str:
        """"allowed under A, EINVAL under B: 'title' (hash), v5.19 (switch s)"."""
        head = f"{d.a} under {self.a}, {d.b} under {self.b}"
        if d.switch is None or d.change is None:
            return (f"{head}: no single switch explains it (differing: "
                    f"{', '.join(d.candidates) or 'none'})")
        flag = " [inferred]" if d.change.inferred else ""
        return f"{head}: {d.change.cite()}{flag} (switch {d.switch})"

    def unexercised_lines(self) -> list[str]:
        """The switches that differ but change nothing in this scenario."""
        return [f"  no effect here: {u.switch} ({u.a} -> {u.b}): {u.change.cite()}"
                + (" [inferred]" if u.change.inferred else "") for u in self.unexercised]


def _describe(command: c.Command) -> str:
    tag = type(command).__struct_config__.tag
    vcpu = getattr(command, "vcpu", None)
    return f"{tag} vcpu{vcpu}" if vcpu is not None else str(tag)


def _errno_of(message: str | None) -> int:
    match = re.match(r"\[Errno (\d+)\]", message or "")
    return int(match.group(1)) if match else (errno.EINVAL if message else 0)


def kernels(scenario: Scenario, name: str) -> Kernels:
    """The profiles named `name` that `scenario` runs under."""
    kvm = get_profile(name)
    pci = scenario.spec.pci
    if pci is None:
        return Kernels(kvm, None)
    return Kernels(kvm, VFIO_PROFILES[kvm.name], pci_only=not scenario.spec.vcpus)


def run_under(scenario: Scenario, profile: KvmProfile | Kernels,
              max_exits: int = MAX_EXITS) -> list[StepOutcome]:
    """The scenario's steps on a sim session of `profile` (its [pci] under the vfio
    profile of the same name). Step 0 is the set-up; a refused set-up ends the run."""
    if isinstance(profile, KvmProfile):
        profile = Kernels(profile, VFIO_PROFILES.get(profile.name))
    scenario = dataclasses.replace(scenario, profile=profile.kvm)
    pci = scenario.spec.pci
    if pci is not None and profile.vfio is not None:
        scenario = dataclasses.replace(scenario, spec=msgspec.structs.replace(
            scenario.spec, pci=msgspec.structs.replace(pci, profile=profile.vfio)))
    try:
        session = Session(scenario, engine="sim")
    except OSError as exc:
        return [StepOutcome(0, "set-up", (), exc.errno or errno.EINVAL, ioctl=True)]
    try:
        outcomes = [StepOutcome(0, "set-up", _rows(session, 0, len(session.log)), ioctl=True)]
        for result in drive(session, max_exits):
            outcomes.append(StepOutcome(
                result.step, _describe(result.command),
                _rows(session, result.first_row, result.last_row),
                _errno_of(result.error), isinstance(result.command, _IOCTLS)))
        return outcomes
    finally:
        session.close()


def _rows(session: Session, first: int, last: int) -> tuple[str, ...]:
    return tuple(" ".join(_ROW_PREFIX.sub("", session.log.format_row(i)).split())
                 for i in range(first, last))


def first_difference(a: Sequence[StepOutcome], b: Sequence[StepOutcome]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if (x.rows, x.errno, x.command) != (y.rows, y.errno, y.command):
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def compare_profiles(scenario: Scenario, a_name: str, b_name: str,
                     max_exits: int = MAX_EXITS) -> ProfileComparison:
    """Run `scenario` under both profiles and explain each difference in turn."""
    a, b = kernels(scenario, a_name), kernels(scenario, b_name)
    b_run = run_under(scenario, b, max_exits)
    newer = b if (b.kvm.version, b.kvm.stable) >= (a.kvm.version, a.kvm.stable) else a
    current, run = a, run_under(scenario, a, max_exits)
    a_run = tuple(run)
    differences: list[Difference] = []
    while (k := first_difference(run, b_run)) is not None:
        mine, theirs = _at(run, k), _at(b_run, k)
        shown = mine if mine is not None else theirs
        assert shown is not None  # a difference at k means one run reached step k
        texts = (_summary(mine, theirs), _summary(theirs, mine))
        differing = tuple(s for s in current.switches() if current.value(s) != b.value(s))
        found = _explain(scenario, current, b, differing, b_run, k, max_exits)
        if found is None:
            differences.append(Difference(shown.step, shown.command, *texts, None, None,
                                          differing))
            break
        switch, current, run = found
        differences.append(Difference(shown.step, shown.command, *texts, switch,
                                      newer.change(switch)))
    explained = {d.switch for d in differences}
    unexercised = tuple(
        Unexercised(s, _shown(a.value(s)), _shown(b.value(s)), newer.change(s))
        for s in a.switches() if a.value(s) != b.value(s) and s not in explained)
    return ProfileComparison(a.kvm.name, b.kvm.name, len(b_run), tuple(differences),
                             a_run, tuple(b_run), unexercised)


def _shown(value: object) -> object:
    return getattr(value, "name", value)


def _at(run: Sequence[StepOutcome], k: int) -> StepOutcome | None:
    return run[k] if k < len(run) else None


def _summary(mine: StepOutcome | None, theirs: StepOutcome | None) -> str:
    if mine is None:
        return "no such step"
    return mine.summary(theirs or StepOutcome(mine.step, mine.command, ()))


def _explain(scenario: Scenario, current: Kernels, b: Kernels,
             differing: Sequence[str], b_run: Sequence[StepOutcome], k: int, max_exits: int
             ) -> tuple[str, Kernels, list[StepOutcome]] | None:
    """The first switch whose flip to B's value makes steps 0..k match B."""
    for switch in differing:
        trial = current.flipped(switch, b.value(switch))
        run = run_under(scenario, trial, max_exits)
        moved = first_difference(run, b_run)
        if moved is None or moved > k:
            return switch, trial, run
    return None
