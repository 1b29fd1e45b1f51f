"""The first step at which something a developer hunts for happened, read off the log.

A row is logged under the step whose command caused it, so seeking to that step shows
the state right after the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.session.eventlog import EventKind, EventLog


@dataclass(frozen=True)
class Landmark:
    label: str
    tip: str
    filters: dict[str, Any]


LANDMARKS: tuple[Landmark, ...] = (
    Landmark("First #GP", "The first #GP the guest took on an MSR access (however caused)",
             {"kinds": EventKind.MSR_GP}),
    Landmark("First denied MSR", "The first MSR exit because the filter denied it "
             "(KVM_MSR_EXIT_REASON_FILTER)", {"kinds": EventKind.MSR_EXIT, "reason": "FILTER"}),
    Landmark("First blocked MMIO", "The first BAR access vfio-pci refused while memory "
             "was disabled", {"kinds": EventKind.VFIO_REGION_BLOCKED}),
)


def first_step(log: EventLog, landmark: Landmark) -> int | None:
    """The step of the first row matching `landmark`, None if no row does."""
    rows = log.select(**landmark.filters)
    return int(log.column("step")[rows[0]]) if len(rows) else None
