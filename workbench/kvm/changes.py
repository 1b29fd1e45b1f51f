"""Kernel changes as data: which commit set a behaviour switch, and from which release.

A profile is derived, not written out: start from the switches' values in the first
modelled release, then apply every change whose first mainline release is not later than
the profile's kernel, or which stable backported to that LTS when the profile is the LTS's
latest point release. The facts come from ../shared/spec/kernel-versions.md (its row
numbers are kept), so each switch can say which commit explains it.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar


@dataclass(frozen=True)
class Change:
    """A commit, or a release's state where the spec names no commit."""

    row: str  # the row of kernel-versions.md ("1", "3s"); "" for facts outside it
    title: str
    commit: str | None  # abbreviated hash; None where the spec found none
    release: str  # the first release with it: "v5.19", "5.10.y (about 5.10.154)"
    inferred: bool = False  # the spec marks the fact "inferred", not read
    note: str = ""

    def cite(self) -> str:
        """'title' (hash), release: how the UI names the change."""
        commit = f" ({self.commit})" if self.commit else ""
        return f"'{self.title}'{commit}, {self.release}"


@dataclass(frozen=True)
class Step:
    """One change of one switch: its value from mainline `since` on, and in the latest
    stable point release of every LTS series named in `backports`."""

    switch: str
    value: Any
    since: tuple[int, int]
    change: Change
    backports: Mapping[str, Change] = field(default_factory=dict)


@dataclass(frozen=True)
class Kernel:
    """The kernel a profile models: a mainline tag, or an LTS's latest stable release."""

    version: tuple[int, int]
    stable: bool = False

    @property
    def series(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def name(self) -> str:
        return f"linux-{self.series}" + (".y" if self.stable else "")


@dataclass(frozen=True)
class Setting:
    """A switch's value in one profile and the change that set it."""

    name: str
    value: Any
    change: Change
    modelled: bool = True


def derive(kernel: Kernel, baseline: Mapping[str, tuple[Any, Change]],
           steps: Iterable[Step]) -> dict[str, tuple[Any, Change]]:
    """Each switch's (value, change) in `kernel`; `steps` in release order."""
    settings = dict(baseline)
    for step in steps:
        if step.switch not in settings:
            raise KeyError(f"step for unknown switch {step.switch!r}")
        if kernel.version >= step.since:
            settings[step.switch] = (step.value, step.change)
        elif kernel.stable and kernel.series in step.backports:
            settings[step.switch] = (step.value, step.backports[kernel.series])
    return settings


def unknown_profile(kind: str, name: object, known: Iterable[str]) -> ValueError:
    """The error for a profile name nobody models, listing the valid ones."""
    return ValueError(f"unknown {kind} profile {name!r}; valid profiles: {', '.join(known)}")


P = TypeVar("P")


def build_profile(cls: Callable[..., P], version: tuple[int, int], stable: bool,
                  baseline: Mapping[str, tuple[Any, Change]], steps: Iterable[Step]) -> P:
    """A profile of `cls` (KVM or vfio) for that kernel: each switch's value as `steps`
    leave it, and the change that set it in `origin`."""
    kernel = Kernel(version, stable)
    settings = derive(kernel, baseline, steps)
    return cls(name=kernel.name, version=version, stable=stable,
               origin={k: change for k, (_, change) in settings.items()},
               **{k: value for k, (value, _) in settings.items()})


def switch_settings(profile: Any, baseline: Iterable[str],
                    not_modelled: Iterable[tuple[str, str, Change]],
                    unmodelled: Container[str] = ()) -> list[Setting]:
    """Every switch of `profile` with its value and the change that set it, then the spec
    rows the model does not have (modelled=False), for `workbench profiles --explain`."""
    rows = [Setting(name, getattr(profile, name), profile.origin[name],
                    modelled=name not in unmodelled) for name in baseline]
    rows += [Setting(f"row {row}", text, change, modelled=False)
             for row, text, change in not_modelled]
    return rows


def find_profile(kind: str, name: object, profiles: Mapping[str, P], default: P,
                 cls: type) -> P:
    """Look a profile up by name: None means `default`, a `cls` is taken as it is, an
    unknown name is a ValueError listing the valid ones."""
    if name is None:
        return default
    if isinstance(name, cls):
        return name  # type: ignore[return-value]
    try:
        return profiles[name]  # type: ignore[index]
    except (KeyError, TypeError):
        raise unknown_profile(kind, name, profiles) from None
