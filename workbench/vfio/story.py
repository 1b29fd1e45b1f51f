"""Scenario support for PCI topologies: the `[pci]` table and its runner.

A scenario names devices (SR-IOV PFs, VFs enabled through a PF, s390 detached
VFs) and a list of device actions a guest driver or the host would perform.
The runner builds a PciSystem, performs the actions in order and reports every
trap event plus one ACTION event per step; a step that fails (EIO, SIGBUS,
EINVAL...) is an outcome, not the end of the story.
"""

from __future__ import annotations

import copy
import errno
import signal
from collections.abc import Callable
from typing import Literal

import msgspec

from workbench.vfio import config_space as cs
from workbench.vfio.events import ActionKind, EventKind, Site, TrapEvent
from workbench.vfio.pci import BarSpec, PciFunction
from workbench.vfio.profiles import PROFILES
from workbench.vfio.sriov import PhysicalFunction
from workbench.vfio.system import (
    DEFAULT_PF_DEVICE,
    DEFAULT_VENDOR,
    DEFAULT_VF_DEVICE,
    PciSystem,
)
from workbench.vfio.vfio_pci import MmapFault, VfioPciDevice

# ACTION events carry errno; an mmap SIGBUS has none, so it is the negated signal.
OUTCOME_SIGBUS = -int(signal.SIGBUS)

Number = int | str


def _num(value: Number, field: str) -> int:
    """Accept ints and hex/decimal strings ("0x04"), as hand-written TOML has both."""
    if isinstance(value, int):
        return value
    try:
        return int(value, 0)
    except ValueError:
        raise ValueError(f'{field}: {value!r} is not a number (use 4, "4" or "0x4")') from None


class _Struct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, str) and name in _NUMERIC_FIELDS:
                setattr(self, name, _num(value, name))


_NUMERIC_FIELDS = frozenset(
    {
        "vendor_id",
        "device_id",
        "vf_device_id",
        "size",
        "offset",
        "value",
        "first_vf_offset",
        "vf_stride",
        "total_vfs",
        "vfn",
        "count",
        "bar",
        "index",
        "repeat",
    }
)


class BarDef(_Struct, kw_only=True):
    """One BAR: slot index 0-5, power-of-two size, type mem32 | mem64 | io."""

    index: Number = 0
    size: Number = 0x4000
    type: Literal["mem32", "mem64", "io"] = "mem64"
    prefetch: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.index < cs.NUM_BARS:
            raise ValueError(f"BAR index {self.index} is not 0..5")
        BarSpec(self.size, self.type, self.prefetch)  # raises ValueError with the reason


class PfDevice(_Struct, tag="pf", tag_field="kind", kw_only=True):
    name: str
    vendor_id: Number = DEFAULT_VENDOR
    device_id: Number = DEFAULT_PF_DEVICE
    vf_device_id: Number = DEFAULT_VF_DEVICE
    total_vfs: Number = 8
    first_vf_offset: Number = 1
    vf_stride: Number = 1
    bars: list[BarDef] | None = None
    vf_bars: list[BarDef] | None = None


class VfsDevice(_Struct, tag="vfs", tag_field="kind", kw_only=True):
    """`count` VFs of PF `pf`, through sriov_numvfs; named name0, name1, ..."""

    name: str
    pf: str
    count: Number = 1


class DetachedVfDevice(_Struct, tag="detached_vf", tag_field="kind", kw_only=True):
    name: str
    vendor_id: Number = DEFAULT_VENDOR
    device_id: Number = DEFAULT_VF_DEVICE
    vfn: Number = 1
    bars: list[BarDef] | None = None


DeviceDef = PfDevice | VfsDevice | DetachedVfDevice


class _Step(_Struct, kw_only=True):
    device: str
    repeat: Number = 1


class OpenStep(_Step, tag="open", tag_field="op", kw_only=True):
    """Open the device through vfio-pci (other steps open it on first use)."""


class ConfigReadStep(_Step, tag="config_read", tag_field="op", kw_only=True):
    offset: Number
    size: Number = 4


class ConfigWriteStep(_Step, tag="config_write", tag_field="op", kw_only=True):
    offset: Number
    size: Number = 4
    value: Number


class EnableMemoryStep(_Step, tag="enable_memory", tag_field="op", kw_only=True):
    """Read command, write it back with MSE set (pci_enable_device in the guest)."""


class SetMasterStep(_Step, tag="set_master", tag_field="op", kw_only=True):
    """Read command, write it back with Bus Master set (pci_set_master in the guest)."""


class ClearMemoryStep(_Step, tag="clear_memory", tag_field="op", kw_only=True):
    """Read command, write it back with MSE clear (pci_disable_device in the guest)."""


class RegionReadStep(_Step, tag="region_read", tag_field="op", kw_only=True):
    bar: Number = 0
    offset: Number = 0
    size: Number = 4


class RegionWriteStep(_Step, tag="region_write", tag_field="op", kw_only=True):
    bar: Number = 0
    offset: Number = 0
    size: Number = 4
    value: Number


class MmapReadStep(_Step, tag="mmap_read", tag_field="op", kw_only=True):
    bar: Number = 0
    offset: Number = 0
    size: Number = 4


class MmapWriteStep(_Step, tag="mmap_write", tag_field="op", kw_only=True):
    bar: Number = 0
    offset: Number = 0
    size: Number = 4
    value: Number


class HostConfigWriteStep(_Step, tag="host_config_write", tag_field="op", kw_only=True):
    """A host-side write behind vfio-pci's back (setpci), e.g. to fake a reset."""

    offset: Number
    size: Number = 4
    value: Number


class EnableVfsStep(_Struct, tag="enable_vfs", tag_field="op", kw_only=True):
    """The host enables `count` VFs of PF `pf` mid-story; they are named name0, name1, ..."""

    pf: str
    count: Number
    name: str
    repeat: Number = 1


class DisableVfsStep(_Struct, tag="disable_vfs", tag_field="op", kw_only=True):
    pf: str
    repeat: Number = 1


Step = (
    OpenStep
    | ConfigReadStep
    | ConfigWriteStep
    | EnableMemoryStep
    | SetMasterStep
    | ClearMemoryStep
    | RegionReadStep
    | RegionWriteStep
    | MmapReadStep
    | MmapWriteStep
    | HostConfigWriteStep
    | EnableVfsStep
    | DisableVfsStep
)


# Every vfio profile's name, so a typo is refused naming the valid ones.
ProfileName = Literal[tuple(PROFILES)]  # type: ignore[valid-type]


class PciScenario(_Struct, kw_only=True):
    """The `[pci]` table of a scenario file."""

    platform: Literal["x86", "s390"] = "x86"
    profile: ProfileName = "linux-5.10"
    devices: list[DeviceDef] = []
    actions: list[Step] = []

    def __post_init__(self) -> None:
        super().__post_init__()
        names: dict[str, str] = {}

        def define(name: str, kind: str, where: str) -> None:
            if name in names:
                raise ValueError(f"{where}: device name {name!r} is used twice")
            names[name] = kind

        for i, dev in enumerate(self.devices):
            where = f"devices[{i}]"
            if isinstance(dev, DetachedVfDevice) and self.platform != "s390":
                raise ValueError(f"{where}: detached VFs exist only on platform s390")
            if isinstance(dev, VfsDevice):
                _expect(names, dev.pf, "pf", where)
                pf = next(d for d in self.devices if isinstance(d, PfDevice) and d.name == dev.pf)
                if not 1 <= dev.count <= pf.total_vfs:
                    raise ValueError(f"{where}: count must be 1..{pf.total_vfs} (TotalVFs)")
                for k in range(dev.count):
                    define(f"{dev.name}{k}", "vf", where)
            else:
                define(dev.name, "pf" if isinstance(dev, PfDevice) else "vf", where)
        for i, step in enumerate(self.actions):
            where = f"actions[{i}]"
            if isinstance(step, EnableVfsStep):
                _expect(names, step.pf, "pf", where)
                for k in range(step.count):
                    define(f"{step.name}{k}", "vf", where)
            elif isinstance(step, DisableVfsStep):
                _expect(names, step.pf, "pf", where)
            elif step.device not in names:
                raise ValueError(
                    f"{where}: unknown device {step.device!r} (known: {sorted(names)})"
                )


def _expect(names: dict[str, str], name: str, kind: str, where: str) -> None:
    if names.get(name) != kind:
        raise ValueError(f"{where}: {name!r} is not a {kind} defined earlier")


def load_pci_scenario(data: dict) -> PciScenario:
    """Validate a `[pci]` table; msgspec.ValidationError names the offending field path."""
    if not isinstance(data, dict):
        raise msgspec.ValidationError(f"the [pci] table must be a table, got {type(data).__name__}")
    return msgspec.convert(data, PciScenario)


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
