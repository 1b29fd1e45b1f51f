"""Scenario support for PCI topologies: the runner of a `[pci]` table.

A scenario names devices (SR-IOV PFs, VFs enabled through a PF, s390 detached
VFs) and a list of device actions a guest driver or the host would perform.
The runner builds a PciSystem, performs the actions in order and reports every
trap event plus one ACTION event per step; a step that fails (EIO, SIGBUS,
EINVAL...) is an outcome, not the end of the story. The table's schema lives in
workbench.vfio.story_schema; its names are importable from here too.
"""

from __future__ import annotations

import copy
import errno
import signal
from collections.abc import Callable

from workbench.vfio import config_space as cs
from workbench.vfio.events import ActionKind, EventKind, Site, TrapEvent
from workbench.vfio.pci import BarSpec, PciFunction
from workbench.vfio.regions import MmapFault
from workbench.vfio.sriov import PhysicalFunction
from workbench.vfio.story_schema import (
    BarDef,
    ClearMemoryStep,
    ConfigReadStep,
    ConfigWriteStep,
    DetachedVfDevice,
    DeviceDef,
    DisableVfsStep,
    EnableMemoryStep,
    EnableVfsStep,
    HostConfigWriteStep,
    MmapReadStep,
    MmapWriteStep,
    OpenStep,
    PciScenario,
    PfDevice,
    RegionReadStep,
    RegionWriteStep,
    SetMasterStep,
    Step,
    VfsDevice,
    load_pci_scenario,
)
from workbench.vfio.system import PciSystem
from workbench.vfio.vfio_pci import VfioPciDevice

# ACTION events carry errno; an mmap SIGBUS has none, so it is the negated signal.
OUTCOME_SIGBUS = -int(signal.SIGBUS)


def _bar_specs(defs: list[BarDef] | None) -> list[BarSpec | None] | None:
    if defs is None:
        return None
    slots: list[BarSpec | None] = [None] * cs.NUM_BARS
    for bar in defs:
        slots[bar.index] = BarSpec(bar.size, bar.type, bar.prefetch)
    while slots and slots[-1] is None:
        slots.pop()
    return slots


_STEP_KINDS: dict[type, ActionKind] = {
    OpenStep: ActionKind.OPEN,
    ConfigReadStep: ActionKind.CONFIG_READ,
    ConfigWriteStep: ActionKind.CONFIG_WRITE,
    EnableMemoryStep: ActionKind.ENABLE_MEMORY,
    SetMasterStep: ActionKind.SET_MASTER,
    ClearMemoryStep: ActionKind.CLEAR_MEMORY,
    RegionReadStep: ActionKind.REGION_READ,
    RegionWriteStep: ActionKind.REGION_WRITE,
    MmapReadStep: ActionKind.MMAP_READ,
    MmapWriteStep: ActionKind.MMAP_WRITE,
    HostConfigWriteStep: ActionKind.HOST_CONFIG_WRITE,
    EnableVfsStep: ActionKind.ENABLE_VFS,
    DisableVfsStep: ActionKind.DISABLE_VFS,
}


_RMW_STEPS = (EnableMemoryStep, SetMasterStep, ClearMemoryStep)


class PciStory:
    """A story's state: the system, named functions, open vfio devices. The session keeps
    one and applies each PCI command through `apply`, so a scenario's actions and a user's
    clicks take the same path."""

    def __init__(self, scenario: PciScenario, emit: Callable[[TrapEvent], None]) -> None:
        self.system = PciSystem(scenario.platform, scenario.profile, observer=emit)
        self.functions: dict[str, PciFunction] = {}
        self.devices: dict[str, VfioPciDevice] = {}

    def clone(self, emit: Callable[[TrapEvent], None]) -> PciStory:
        """An independent copy of the whole story state reporting to `emit` (checkpoints)."""
        observers, self.system._observers = self.system._observers, []
        try:
            twin = copy.deepcopy(self)
        finally:
            self.system._observers = observers
        twin.system._observers = [emit]
        return twin

    def build(self, devices: list[DeviceDef]) -> None:
        for dev in devices:
            if isinstance(dev, PfDevice):
                self.functions[dev.name] = self.system.add_sriov_pf(
                    vendor_id=dev.vendor_id,
                    device_id=dev.device_id,
                    vf_device_id=dev.vf_device_id,
                    total_vfs=dev.total_vfs,
                    first_vf_offset=dev.first_vf_offset,
                    vf_stride=dev.vf_stride,
                    bars=_bar_specs(dev.bars),
                    vf_bars=_bar_specs(dev.vf_bars),
                    rom_size=dev.rom_size,
                    shadow_rom=dev.shadow_rom,
                    setup_rom_len=dev.setup_rom_len,
                )
            elif isinstance(dev, VfsDevice):
                self._enable_vfs(dev.pf, dev.count, dev.name)
            else:
                self.functions[dev.name] = self.system.add_detached_vf(
                    vendor_id=dev.vendor_id,
                    device_id=dev.device_id,
                    vfn=dev.vfn,
                    bars=_bar_specs(dev.bars),
                )

    def _pf(self, name: str) -> PhysicalFunction:
        pf = self._fn(name)
        if not isinstance(pf, PhysicalFunction):
            raise OSError(errno.EINVAL, f"{name!r} is not a PF")
        return pf

    def _enable_vfs(self, pf: str, count: int, name: str) -> None:
        for k, vf in enumerate(self.system.enable_vfs(self._pf(pf), count)):
            self.functions[f"{name}{k}"] = vf

    def _fn(self, name: str) -> PciFunction:
        if name not in self.functions:
            raise OSError(errno.ENODEV, f"device {name!r} does not exist (yet)")
        return self.functions[name]

    def _dev(self, name: str) -> VfioPciDevice:
        if name not in self.devices:
            self.devices[name] = self.system.vfio_open(self._fn(name))
        return self.devices[name]

    def _rmw(self, name: str, set_bits: int, clear_bits: int) -> int:
        dev = self._dev(name)
        value = (dev.config_read(cs.COMMAND, 2) | set_bits) & ~clear_bits
        dev.config_write(cs.COMMAND, 2, value)
        return value

    def perform(self, step: Step) -> tuple[int, int]:
        """Do one step; return (value, size) for its ACTION event."""
        match step:
            case OpenStep():
                self._dev(step.device)
                return 0, 0
            case ConfigReadStep():
                return self._dev(step.device).config_read(step.offset, step.size), step.size
            case ConfigWriteStep():
                self._dev(step.device).config_write(step.offset, step.size, step.value)
                return step.value, step.size
            case EnableMemoryStep():
                return self._rmw(step.device, cs.CMD_MEMORY, 0), 2
            case SetMasterStep():
                return self._rmw(step.device, cs.CMD_MASTER, 0), 2
            case ClearMemoryStep():
                return self._rmw(step.device, 0, cs.CMD_MEMORY), 2
            case RegionReadStep():
                dev = self._dev(step.device)
                return dev.region_read(step.bar, step.offset, step.size), step.size
            case RegionWriteStep():
                self._dev(step.device).region_write(step.bar, step.offset, step.size, step.value)
                return step.value, step.size
            case MmapReadStep():
                dev = self._dev(step.device)
                return dev.mmap_read(step.bar, step.offset, step.size), step.size
            case MmapWriteStep():
                self._dev(step.device).mmap_write(step.bar, step.offset, step.size, step.value)
                return step.value, step.size
            case HostConfigWriteStep():
                fn = self._fn(step.device)
                self.system.host_config_write(fn, step.offset, step.size, step.value)
                return step.value, step.size
            case EnableVfsStep():
                self._enable_vfs(step.pf, step.count, step.name)
                return step.count, 2
            case DisableVfsStep():
                self.system.disable_vfs(self._pf(step.pf))
                return 0, 2
        raise ValueError(f"unknown step {step!r}")

    def target(self, step: Step) -> PciFunction | None:
        name = step.pf if isinstance(step, EnableVfsStep | DisableVfsStep) else step.device
        return self.functions.get(name)

    def run(self, actions: list[Step]) -> None:
        for step in actions:
            for _ in range(step.repeat):
                self.apply(step)

    def apply(self, step: Step) -> None:
        """Do one step (once, whatever its `repeat`); a failure becomes the ACTION event's
        errno (-SIGBUS for an mmap fault) and the story goes on."""
        value, size, outcome = getattr(step, "value", 0), getattr(step, "size", 0), 0
        try:
            value, size = self.perform(step)
        except MmapFault:
            outcome = OUTCOME_SIGBUS
        except OSError as exc:
            outcome = exc.errno or errno.EINVAL
        self.system.emit(
            EventKind.ACTION,
            self.target(step),
            site=Site.SCENARIO,
            arg=_STEP_KINDS[type(step)],
            offset=cs.COMMAND if isinstance(step, _RMW_STEPS) else getattr(step, "offset", 0),
            size=size,
            value=value,
            bar=getattr(step, "bar", -1),
            errno=outcome,
        )


def run_pci_scenario(scenario: PciScenario, emit: Callable[[TrapEvent], None]) -> None:
    """Build the scenario's PCI system and play its actions, reporting through `emit`."""
    runner = PciStory(scenario, emit)
    runner.build(scenario.devices)
    runner.run(scenario.actions)


__all__ = [
    "BarDef",
    "ClearMemoryStep",
    "ConfigReadStep",
    "ConfigWriteStep",
    "DetachedVfDevice",
    "DeviceDef",
    "DisableVfsStep",
    "EnableMemoryStep",
    "EnableVfsStep",
    "HostConfigWriteStep",
    "MmapReadStep",
    "MmapWriteStep",
    "OUTCOME_SIGBUS",
    "OpenStep",
    "PciScenario",
    "PciStory",
    "PfDevice",
    "RegionReadStep",
    "RegionWriteStep",
    "SetMasterStep",
    "Step",
    "VfsDevice",
    "load_pci_scenario",
    "run_pci_scenario",
]
