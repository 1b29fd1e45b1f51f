"""Replay one device's traced config-space accesses through vfio-pci on a modelled PF, SR-IOV
VF or s390 detached VF, under linux-5.9 and linux-5.10 side by side.

The question it answers is the MSE story on a real firmware's or driver's sequence: what each
read returns through vfio's virtualized config space, and whether the device's memory BARs
answer afterwards (region_read) or fail with EIO because vfio thinks memory is disabled.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

from workbench.capture.errors import CaptureError
from workbench.capture.model import AS_KINDS, Capture, ConfigAccess
from workbench.vfio import PciSystem

PROFILES = ("linux-5.9", "linux-5.10")
_COMMAND, _STATUS = 0x04, 0x06
_BAR_OFFSETS = frozenset((*range(0x10, 0x28, 4), 0x30))


def infer_size(offset: int, value: int) -> int:
    """QEMU's pci_cfg_* trace omits the size: BARs and the ROM BAR are dwords, command and
    status words; otherwise the smallest aligned size that holds the value."""
    if offset in _BAR_OFFSETS:
        return 4
    if offset in (_COMMAND, _STATUS):
        return 2
    for size in (1, 2, 4):
        if value < 1 << (8 * size) and offset % size == 0:
            return size
    return 1


@dataclass(frozen=True)
class ConfigStep:
    access: ConfigAccess
    size: int
    returned: dict[str, int | str | None]     # profile -> value read, None for a write, or error

    @property
    def profiles_differ(self) -> bool:
        return len(set(map(str, self.returned.values()))) > 1


@dataclass
class VfioWhatIf:
    device: str
    as_kind: str
    steps: list[ConfigStep] = field(default_factory=list)
    bars: dict[str, dict[int, str]] = field(default_factory=dict)   # profile -> BAR -> OK/EIO
    bars_at_open: dict[str, dict[int, str]] = field(default_factory=dict)   # before the replay

    def lines(self) -> list[str]:
        head = f"{'line':>5}  {'access':<18}{'traced':>12}" + "".join(f"{p:>14}" for p in PROFILES)
        out = [f"{self.device} as {self.as_kind}: {len(self.steps)} config-space accesses", head]
        for step in self.steps:
            a = step.access
            kind = f"{'write' if a.write else 'read'} {a.offset:#05x}/{step.size}"
            cells = "".join(f"{_cell(step.returned[p]):>14}" for p in PROFILES)
            line = "" if a.line is None else str(a.line)
            mark = "  *" if step.profiles_differ else ""
            out.append(f"{line:>5}  {kind:<18}{a.value:#12x}{cells}{mark}")
        for when, table in (("at open", self.bars_at_open), ("afterwards", self.bars)):
            out.append(f"{'memory BARs ' + when:<35}" + "".join(f"{p:>14}" for p in PROFILES))
            for bar in sorted(table[PROFILES[0]]):
                out.append(f"  BAR {bar:<29}" + "".join(f"{table[p][bar]:>14}" for p in PROFILES))
        return out


def _cell(value: int | str | None) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else f"{value:#x}"


def _open(as_kind: str, profile: str):
    if as_kind == "pf":
        pci = PciSystem(platform="x86", profile=profile)
        function = pci.add_sriov_pf()
    elif as_kind == "vf":
        pci = PciSystem(platform="x86", profile=profile)
        function = pci.enable_vfs(pci.add_sriov_pf(), 1)[0]
    elif as_kind == "detached-vf":
        pci = PciSystem(platform="s390", profile=profile)
        function = pci.add_detached_vf()
    else:
        raise CaptureError(f"--as: {as_kind!r} is not one of {', '.join(AS_KINDS)}")
    return function, pci.vfio_open(function)


def _bars_answer(function, dev) -> dict[int, str]:
    """region_read of each memory BAR: OK, or the errno vfio returns (EIO: memory disabled)."""
    bars = {}
    for bar in function.bars:
        if bar is None or bar.spec.is_io:
            continue
        try:
            dev.region_read(bar.index, 0, 4)
            bars[bar.index] = "OK"
        except OSError as error:
            bars[bar.index] = "EIO" if error.errno == errno.EIO else f"errno {error.errno}"
    return bars


def _replay(accesses: list[ConfigAccess], as_kind: str, profile: str):
    function, dev = _open(as_kind, profile)
    at_open = _bars_answer(function, dev)
    returned: list[int | str | None] = []
    for a in accesses:
        size = a.size or infer_size(a.offset, a.value)
        try:
            if a.write:
                dev.config_write(a.offset, size, a.value & ((1 << 8 * size) - 1))
                returned.append(None)
            else:
                returned.append(dev.config_read(a.offset, size))
        except (OSError, ValueError) as error:
            returned.append(f"error: {getattr(error, 'errno', None) or error}")
    return returned, at_open, _bars_answer(function, dev)


def vfio_whatif(cap: Capture, device: str, as_kind: str) -> VfioWhatIf:
    """Replays cap.config_accesses(device) on a modelled `as_kind` under both profiles."""
    accesses = cap.config_accesses(device)
    if not accesses:
        known = sorted({a.device for a in cap.config_accesses()})
        raise CaptureError(f"{cap.source}: no config-space accesses of device {device!r} "
                           f"(the trace has: {', '.join(known) or 'none'})")
    result = VfioWhatIf(device, as_kind)
    per_profile = {p: _replay(accesses, as_kind, p) for p in PROFILES}
    for i, a in enumerate(accesses):
        result.steps.append(ConfigStep(a, a.size or infer_size(a.offset, a.value),
                                       {p: per_profile[p][0][i] for p in PROFILES}))
    result.bars_at_open = {p: per_profile[p][1] for p in PROFILES}
    result.bars = {p: per_profile[p][2] for p in PROFILES}
    return result
