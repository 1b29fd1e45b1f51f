"""QEMU `-trace` logs (the default "log" backend, `-D FILE`) of PCI config-space accesses.

    pci_cfg_read e1000 00:02.0 @0x10 -> 0xfffe0000
    pci_cfg_write e1000 00:02.0 @0x10 <- 0xffffffff
    vfio_pci_read_config  (0000:01:00.0, @0x4, len=0x2) 0x7
    vfio_pci_write_config  (0000:01:00.0, @0x4, 0x6, len=0x2)      (newer: "0x2B" for the size)

each optionally prefixed `TID@SECONDS.MICROS:` (`-msg timestamp=on`). pci_cfg_* omit the access
size (ConfigAccess.size is None); vfio_pci_* name the host device by its BDF. Lines of other
trace events are ignored; anything else is skipped and counted.
"""

from __future__ import annotations

import re
from pathlib import Path

from workbench.capture.model import Capture, ConfigAccess, SkippedLine

_PREFIX = r"^(?:(?P<tid>\d+)@(?P<ts>\d+\.\d+):)?"
_HEX = r"0x(?P<{}>[0-9a-fA-F]+)"
_PCI = re.compile(_PREFIX + r"pci_cfg_(?P<rw>read|write) (?P<name>\S+) (?P<bdf>[0-9a-fA-F:.]+) "
                  r"@" + _HEX.format("off") + r" (?:->|<-) " + _HEX.format("val") + r"\s*$")
_SIZE = r"(?:len=0x(?P<size>[0-9a-fA-F]+)|0x(?P<sizeb>[0-9a-fA-F]+)B)"
_VFIO_READ = re.compile(_PREFIX + r"vfio_pci_read_config\s*\((?P<name>[^,]+), @"
                        + _HEX.format("off") + ", " + _SIZE + r"\) " + _HEX.format("val")
                        + r"\s*$")
_VFIO_WRITE = re.compile(_PREFIX + r"vfio_pci_write_config\s*\((?P<name>[^,]+), @"
                         + _HEX.format("off") + ", " + _HEX.format("val") + ", " + _SIZE
                         + r"\)\s*$")
_ANY_EVENT = re.compile(_PREFIX + r"[a-z0-9]+_[a-z0-9_]+(?:\s|$)")   # another trace event
_CONFIG_EVENT = re.compile(_PREFIX + r"(?:pci_cfg_(?:read|write)|vfio_pci_(?:read|write)_config)\b")


def looks_like(lines: list[str]) -> bool:
    return any(_CONFIG_EVENT.match(line) for line in lines[:500])


class _Names:
    """One name per device: the VMM's, with the BDF added where two devices share it."""

    def __init__(self) -> None:
        self.bdf_of: dict[str, str] = {}

    def name(self, name: str, bdf: str) -> str:
        known = self.bdf_of.setdefault(name, bdf)
        if known == bdf:
            return name
        qualified = f"{name}@{bdf}"
        self.bdf_of.setdefault(qualified, bdf)
        return qualified


def _access(line: str, number: int, names: _Names) -> ConfigAccess | None:
    for pattern, write in ((_PCI, None), (_VFIO_READ, False), (_VFIO_WRITE, True)):
        m = pattern.match(line)
        if m is None:
            continue
        if write is None:
            device, size, write = names.name(m["name"], m["bdf"]), None, m["rw"] == "write"
        else:
            device = m["name"].strip()
            size = int(m["size"] or m["sizeb"], 16)
            names.bdf_of.setdefault(device, device)
        offset, value = int(m["off"], 16), int(m["val"], 16)
        if offset > 0xFFF or value > 0xFFFF_FFFF or size not in (None, 1, 2, 4):
            return None
        return ConfigAccess(device=device, offset=offset, size=size, write=write, value=value,
                            time=float(m["ts"]) if m["ts"] else None, line=number)
    return None


def parse(source: Path, text: str) -> Capture:
    events: list[ConfigAccess] = []
    skipped: list[SkippedLine] = []
    names = _Names()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        access = _access(line, number, names)
        if access is not None:
            events.append(access)
        elif _CONFIG_EVENT.match(line):
            skipped.append(SkippedLine(number, "a config-space trace line that does not parse"))
        elif not _ANY_EVENT.match(line):
            skipped.append(SkippedLine(number, "not a QEMU trace line"))
    return Capture(source=source, format="qemu-trace", events=list(events), skipped=skipped,
                   meta={"devices": dict(names.bdf_of)})
