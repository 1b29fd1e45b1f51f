"""Replay a capture's guest MSR accesses as a guest program under another filter, user-space
mask, profile or vendor, and mark what the real kernel would have done differently.

Each captured vCPU (thread) becomes one replay vCPU that performs its accesses in order with
the captured values (workbench.capture.replay); the vCPUs run in the capture's global order.
A user-space exit is answered with the VMM's recorded answer; an access the kernel handled
that now exits is answered as the kernel did (its value, #GP as error) and marked "answered
by whatif".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workbench.capture.model import Capture, MsrAccess
from workbench.capture.replay import REPORT_PORT, lanes_for, run_access
from workbench.capture.volatile import why_volatile
from workbench.kvm import uapi
from workbench.kvm.filter import MsrFilter

_REASONS = {uapi.KVM_MSR_EXIT_REASON_INVAL: "INVAL", uapi.KVM_MSR_EXIT_REASON_UNKNOWN: "UNKNOWN",
            uapi.KVM_MSR_EXIT_REASON_FILTER: "FILTER"}


@dataclass(frozen=True)
class AccessReport:
    """One access: what the capture says, what the replay did, and how they differ."""

    position: int                       # index into cap.msr_accesses()
    access: MsrAccess
    outcome: dict[str, Any]
    differences: tuple[str, ...]        # "stays in kernel -> exits with FILTER", "#GP", ...
    volatile: str | None                # why a difference is the replay's mode or time
    answered_by_whatif: bool = False    # exited only in the replay: answered as the kernel did

    def describe(self) -> str:
        a = self.access
        what = f"{'wrmsr' if a.write else 'rdmsr'} {a.index:#x}"
        where = f" (line {a.line})" if a.line is not None else ""
        text = "; ".join(self.differences) if self.differences else f"volatile: {self.volatile}"
        return f"#{self.position} vcpu {a.vcpu} {what}{where}: {text}"


@dataclass
class WhatIfResult:
    outcomes: list[dict[str, Any]]
    reports: list[AccessReport]
    vm: dict[str, Any]                  # engine, vendor, profile, filter and mask replayed under
    notes: list[str] = field(default_factory=list)

    @property
    def differences(self) -> list[AccessReport]:
        return [r for r in self.reports if r.differences]

    @property
    def volatile(self) -> list[AccessReport]:
        return [r for r in self.reports if r.volatile and not r.differences]

    def lines(self, source: str) -> list[str]:
        """What the replay ran on, its notes, each difference and each volatile access."""
        vm = self.vm
        mask = "none" if not vm["mask"] else f"{vm['mask']:#x}"
        ranges = "none" if vm["filter"] is None else f"{len(vm['filter'].ranges)} range(s)"
        out = [f"whatif {source}: {len(self.outcomes)} MSR accesses on {vm['engine']} "
               f"({vm['vendor'] or 'default'} vendor, {vm['profile']}), user-space mask "
               f"{mask}, filter {ranges}"]
        out += [f"note: {note}" for note in self.notes]
        out += [r.describe() for r in self.differences + self.volatile]
        out.append(f"{len(self.differences)} difference(s), {len(self.volatile)} volatile")
        return out


def replay_program(accesses: list[MsrAccess]) -> str:
    """The guest source that performs `accesses` in order, reporting each with an `out`: the
    replay as a standalone program, for a scenario (whatif itself runs replay's loop)."""
    lines = []
    for a in accesses:
        lines.append(f"mov ecx, {a.index:#x}")
        value = a.value or 0
        if a.write:
            lines += [f"mov eax, {value & 0xFFFFFFFF:#x}", f"mov edx, {value >> 32:#x}", "wrmsr"]
        else:
            lines += ["xor eax, eax", "xor edx, edx", "rdmsr"]
        lines.append(f"out {REPORT_PORT:#x}, al")
    lines.append("hlt")
    return "\n".join(lines)


def _exit_name(exit_: dict[str, Any] | None) -> str:
    if exit_ is None:
        return "stays in kernel"
    return f"exits with {_REASONS.get(exit_['msr_reason'], hex(exit_['msr_reason']))}"


def _compare(access: MsrAccess, outcome: dict[str, Any]) -> tuple[list[str], str | None]:
    """The kernel-visible differences, and why the rest is volatile (if it is)."""
    captured_exit = None if access.exit is None else {"msr_reason": access.exit.msr_reason}
    decision = []
    if _exit_name(captured_exit) != _exit_name(outcome["exit"]):
        decision.append(f"{_exit_name(captured_exit)} -> {_exit_name(outcome['exit'])}")
    effects = []
    if outcome["gp"] != access.gp:
        effects.append("#GP" if outcome["gp"] else "no #GP where the kernel gave #GP")
    if (not access.write and not access.gp and not outcome["gp"] and access.value is not None
            and outcome["value"] != access.value):
        effects.append(f"value {access.value:#x} -> {outcome['value']:#x}")
    volatile = why_volatile(access, outcome["value"], outcome["gp"]) if effects else None
    return decision + ([] if volatile else effects), volatile


def _captured_vendor(cap: Capture) -> str | None:
    """The KVM module the capture names for its host (a capture file does; a trace not)."""
    host = cap.meta.get("host")
    vendor = host.get("kvm_vendor") if isinstance(host, dict) else None
    return vendor if isinstance(vendor, str) else None


def _vm_args(cap: Capture, engine: str, vendor: str | None,
             profile: str | None) -> dict[str, Any]:
    """None/None on the sim = the capture's host as the sim models it: this machine (its
    traits from /dev/kvm) unless the capture names another vendor; an explicit vendor or
    profile is taken as given."""
    if engine != "sim" or vendor is not None or profile is not None:
        return {"vendor": vendor, "profile": profile}
    import workbench.kvm

    captured = _captured_vendor(cap)
    if "host" not in workbench.kvm.available_engines():
        return {"vendor": captured, "profile": None}
    traits = workbench.kvm.host_traits()
    if captured is not None and captured != traits.module:
        return {"vendor": captured, "profile": None}
    return traits.sim_vm_args()


def _mask(cap: Capture, asked: int | None, notes: list[str]) -> int | None:
    if asked is not None:
        return asked
    if cap.user_space_msr_mask is not None:
        return cap.user_space_msr_mask
    msr_exits = [e for e in cap.user_exits()
                 if e.exit_reason in (uapi.KVM_EXIT_X86_RDMSR, uapi.KVM_EXIT_X86_WRMSR)]
    if cap.format in ("tracefs", "trace-cmd") and msr_exits:
        # Only an enabled KVM_CAP_X86_USER_SPACE_MSR makes these exits; a trace cannot say
        # with which mask. FILTER is what QEMU (and a VMM with a filter) enables.
        notes.append(f"the trace shows {len(msr_exits)} MSR exit(s) to user space but not the "
                     "VMM's mask: replaying with KVM_MSR_EXIT_REASON_FILTER")
        return uapi.KVM_MSR_EXIT_REASON_FILTER
    return None


def whatif(cap: Capture, msr_filter: MsrFilter | Mapping[str, Any] | None = None,
           user_space_msr_mask: int | None = None, engine: str = "sim",
           vendor: str | None = None, profile: str | None = None) -> WhatIfResult:
    """Replays cap.msr_accesses(); None = as captured (no filter where the capture has none).
    `msr_filter` may also be MsrFilter.to_dict()'s shape (hex strings allowed)."""
    import workbench.kvm

    accesses = cap.msr_accesses()
    notes: list[str] = []
    if isinstance(msr_filter, Mapping):
        msr_filter = MsrFilter.from_dict(msr_filter)
    chosen_filter = msr_filter if msr_filter is not None else cap.msr_filter
    mask = _mask(cap, user_space_msr_mask, notes)
    args = _vm_args(cap, engine, vendor, profile)
    outcomes: list[dict[str, Any]] = []
    reports: list[AccessReport] = []
    with workbench.kvm.open(engine) as kvm, kvm.create_vm(**args) as vm:
        if mask:
            vm.enable_cap(uapi.KVM_CAP_X86_USER_SPACE_MSR, mask)
        if chosen_filter is not None:
            vm.set_msr_filter(chosen_filter)
        lanes = lanes_for(vm, accesses)
        for position, access in enumerate(accesses):
            lane = lanes[access.vcpu]
            outcome, by_whatif = run_access(lane, access)
            differences, volatile = _compare(access, outcome)
            if lane.broken is not None:
                differences.append(lane.broken)
            outcomes.append(outcome)
            reports.append(AccessReport(position, access, outcome, tuple(differences), volatile,
                                        by_whatif))
        vm_info = {"engine": engine, "vendor": args.get("vendor"),
                   "profile": vm.profile_name, "filter": chosen_filter, "mask": mask}
    return WhatIfResult(outcomes, reports, vm_info, notes)
