"""The Session's read-only questions: what a view (the GUI, a script) may ask.

Every answer is a plain value or an immutable copy, so a caller keeps no live reference to
session state: a panel asks again after each change instead of holding the session's
objects (they are replaced on seek, and changed in place by the next command).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.kvm.exits import VcpuExit
from workbench.kvm.filter import MsrFilter
from workbench.kvm.regs import Regs
from workbench.session import pci_view as pv
from workbench.session.errors import SessionError

if TYPE_CHECKING:
    from workbench.kvm.engine import Vcpu, Vm
    from workbench.session.eventlog import EventLog
    from workbench.session.handlers import UserSpaceMsrs
    from workbench.session.session import _VcpuView
    from workbench.vfio.story import PciStory


@dataclass(frozen=True)
class HandlerRule:
    """One user-space MSR rule as the user set it: its kind and value."""

    kind: str  # constant | register | fail | ask | callable
    value: int


@dataclass(frozen=True)
class PciSummary:
    """The PCI system's platform and vfio-pci profile."""

    platform: str
    profile: str
    has_no_command_memory: bool  # the profile keys MSE emulation on no_command_memory


class SessionQueries:
    """A mixin of the Session (the attributes below are the Session's)."""

    vm: Vm
    vcpus: list[Vcpu]
    views: list[_VcpuView]
    handlers: UserSpaceMsrs
    pci: PciStory | None
    log: EventLog
    step: int
    visible_rows: int
    history: list[Any]
    step_tsc: list[int | None]
    _vcpu: Callable[[int], Vcpu]

    # --- vCPUs ----------------------------------------------------------------------------
    @property
    def vcpu_count(self) -> int:
        return len(self.vcpus)

    def guest_tsc(self, step: int) -> int | None:
        """vCPU 0's guest TSC at the end of `step` (0: before the first command), or None
        where none was read (a capture, no vCPU, a step not applied yet)."""
        tscs = self.step_tsc
        return tscs[step] if 0 <= step < len(tscs) else None

    def has_guest_tsc(self) -> bool:
        """Whether every step so far has its guest TSC (the timeline's TSC axis)."""
        tscs = self.step_tsc   # an engine that refuses the read refuses it every time
        return bool(self.history) and len(tscs) == len(self.history) + 1 \
            and tscs[0] is not None and tscs[-1] is not None

    def halted(self, vcpu: int) -> bool:
        """Whether the vCPU's last exit ended it for good (HLT, SHUTDOWN, a pause)."""
        self._vcpu(vcpu)
        return self.views[vcpu].halted

    def pending_exit(self, vcpu: int) -> VcpuExit | None:
        """A copy of the exit waiting for user space on `vcpu`, if any (answered or not);
        answer it with commands.Answer."""
        return copy.deepcopy(self.views[vcpu].pending)

    def last_exit(self, vcpu: int) -> int | None:
        """The exit_reason of the vCPU's last return from KVM_RUN (None: it never ran)."""
        return self.views[vcpu].exit_reason

    def needs_answer(self, vcpu: int) -> bool:
        view = self.views[vcpu]
        return view.pending is not None and not view.answered

    def regs(self, vcpu: int) -> Regs:
        return self._vcpu(vcpu).get_regs()

    def msr_bitmap(self, vcpu: int) -> np.ndarray:
        """The vCPU's VMX MSR bitmap / SVM MSRPM, bit set = intercept (sim engine);
        intercepts.NoMsrBitmap for vendor "pvm", which has none."""
        return self._vcpu(vcpu).msr_bitmap()

    def can_breakpoint(self, vcpu: int) -> bool:
        """Whether the vCPU's engine stops at breakpoints (the sim does)."""
        return self._vcpu(vcpu).can_breakpoint

    def breakpoints(self, vcpu: int) -> tuple[frozenset[int], frozenset[int]]:
        """(addresses, MSR indices) the vCPU stops at (sim engine)."""
        return self._vcpu(vcpu).breakpoints()

    def listing(self, vcpu: int) -> tuple:
        """The vCPU's program, disassembled (capstone)."""
        return self._vcpu(vcpu).program.listing

    # --- the VM -----------------------------------------------------------------------------
    def msr_filter(self) -> MsrFilter:
        """The filter in force (the sim's installed one; on the host, the last accepted)."""
        return self.vm.filter_in_force()

    @property
    def vendor(self) -> str:
        """The KVM vendor module the VM runs on: "intel", "amd" or "pvm"."""
        return self.vm.vendor

    @property
    def profile(self) -> str:
        """The name of the kernel the VM behaves as, "linux-M.m", on either engine."""
        return self.vm.profile_name

    @property
    def can_inspect_filter(self) -> bool:
        """Whether msr_allowed() and filter_map() can answer (the sim's filter can)."""
        return self.vm.can_inspect_filter

    def msr_allowed(self, index: int, write: bool) -> bool:
        """The filter's decision for one MSR (sim engine)."""
        return self.vm.msr_allowed(index, write)

    def filter_map(self, first: int, count: int, write: bool) -> np.ndarray:
        """The filter's decisions for `count` MSRs from `first`, for heatmaps (sim engine)."""
        return self.vm.filter_map(first, count, write)

    def handler_rules(self) -> dict[int, HandlerRule]:
        """MSR index -> the user-space rule that answers its exits (a fresh dict)."""
        return {msr: HandlerRule(rule.kind, rule.value)
                for msr, rule in self.handlers.rules.items()}

    def handler_registers(self) -> dict[int, int]:
        """MSR index -> the value a `register` rule holds (a fresh dict)."""
        return dict(self.handlers.registers)

    # --- the PCI system -----------------------------------------------------------------------
    @property
    def has_pci(self) -> bool:
        return self.pci is not None

    def _story(self) -> PciStory:
        if self.pci is None:
            raise SessionError("this scenario has no PCI system ([pci] table)")
        return self.pci

    def pci_summary(self) -> PciSummary:
        system = self._story().system
        return PciSummary(system.platform, system.profile.name,
                          system.profile.has_no_command_memory)

    def pci_topology(self) -> list[pv.DeviceNode]:
        return pv.topology(self._story())

    def pci_function_names(self) -> dict[int, str]:
        """dev_id -> the scenario's name for each live function."""
        return pv.function_names(self._story())

    def pci_is_open(self, name: str) -> bool:
        return pv.is_open(self._story(), name)

    def pci_grid(self, name: str) -> list[pv.WordLayers]:
        return pv.grid(self._story(), name)

    def pci_word(self, name: str, offset: int) -> pv.WordLayers:
        """The 16-bit config word at `offset` in every layer, computed without a trap."""
        return pv.word_layers(self._story(), name, offset)

    def pci_sriov_control(self, name: str) -> int | None:
        """The offset of a PF's SR-IOV control register; None for other functions."""
        return pv.sriov_control_offset(self._story(), name)

    def pci_mmap_hint(self, name: str, bar: int) -> str:
        return pv.mmap_hint(self._story(), name, bar)

    def counters(self) -> dict[str, Any]:
        """The event log's counters as of the current step (rows a seek left in the future
        are not counted)."""
        return self.log.counters(self.visible_rows)

    def pci_step_trap_bits(self, name: str) -> dict[int, int]:
        """pci_trap_bits of the rows the current step logged: what the command that brought
        the session here trapped on, after a seek as after it ran ({} at step 0)."""
        if self.step == 0:
            return {}
        return self.pci_trap_bits(name, self.log.row_of_step(self.step), self.visible_rows)

    def pci_trap_bits(self, name: str, first: int, last: int) -> dict[int, int]:
        """Word offset -> bits of device `name`'s config the rows [first, last) trapped on
        ({} for a name the story does not hold)."""
        fn = self._story().functions.get(name)
        return {} if fn is None else pv.trap_bits(self.log, first, last, fn.dev_id)
