"""The `[pci]` table of a scenario file: devices and steps, validated by msgspec.

Numbers may be integers or their spelling ("0x04"), read by workbench.values. Validation
names the offending field; device names are checked in order, so a step can only use a
device defined (or enabled) before it. workbench.vfio.story runs what this describes.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from workbench.values import Number, as_int
from workbench.vfio import config_space as cs
from workbench.vfio.host_args import DEFAULT_PF_DEVICE, DEFAULT_VENDOR, DEFAULT_VF_DEVICE
from workbench.vfio.pci import BarSpec
from workbench.vfio.profiles import PROFILES


class _Struct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, str) and name in _NUMERIC_FIELDS:
                setattr(self, name, as_int(value, name))


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
        "rom_size",
        "setup_rom_len",
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
    rom_size: Number | None = None  # an expansion ROM BAR of this many bytes
    shadow_rom: bool = False  # no ROM BAR, but a shadow copy (x86's boot VGA)
    setup_rom_len: Number = 0  # no ROM BAR, but a ROM of this length in setup data


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


class _ConfigAccess(_Step, kw_only=True):
    offset: Number
    size: Number = 4


class _BarAccess(_Step, kw_only=True):
    bar: Number = 0
    offset: Number = 0
    size: Number = 4


class ConfigReadStep(_ConfigAccess, tag="config_read", tag_field="op", kw_only=True):
    """A config-space read through vfio-pci (virtualized bits come from vconfig)."""


class ConfigWriteStep(_ConfigAccess, tag="config_write", tag_field="op", kw_only=True):
    value: Number


class EnableMemoryStep(_Step, tag="enable_memory", tag_field="op", kw_only=True):
    """Read command, write it back with MSE set (pci_enable_device in the guest)."""


class SetMasterStep(_Step, tag="set_master", tag_field="op", kw_only=True):
    """Read command, write it back with Bus Master set (pci_set_master in the guest)."""


class ClearMemoryStep(_Step, tag="clear_memory", tag_field="op", kw_only=True):
    """Read command, write it back with MSE clear (pci_disable_device in the guest)."""


class RegionReadStep(_BarAccess, tag="region_read", tag_field="op", kw_only=True):
    """A read through the vfio-pci region (pread on the device fd)."""


class RegionWriteStep(_BarAccess, tag="region_write", tag_field="op", kw_only=True):
    value: Number


class MmapReadStep(_BarAccess, tag="mmap_read", tag_field="op", kw_only=True):
    """A read through the BAR's mmap: vfio-pci's fault handler decides (SIGBUS or data)."""


class MmapWriteStep(_BarAccess, tag="mmap_write", tag_field="op", kw_only=True):
    value: Number


class HostConfigWriteStep(_ConfigAccess, tag="host_config_write", tag_field="op", kw_only=True):
    """A host-side write behind vfio-pci's back (setpci), e.g. to fake a reset."""

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
