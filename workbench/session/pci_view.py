"""Read-only views over a session's PCI state, for the session's queries and tests (no Qt).

Looking must not leave traces: VfioPciDevice.config_read emits a CONFIG_READ trap into
the session's log, so the user's layer is computed here from the same permission masks
and the same merge vfio_default_config_read / vfio_basic_config_read apply (spec §3).
"""

from __future__ import annotations

import errno as errno_mod
import os
import signal
from dataclasses import dataclass

import numpy as np

from workbench.session.eventlog import EventKind
from workbench.session.eventlog.log import EventLog
from workbench.vfio import config_space as cs
from workbench.vfio.pci import PciFunction
from workbench.vfio.sriov import (
    CTRL_ARI,
    CTRL_MSE,
    CTRL_VFE,
    SRIOV_CTRL,
    SRIOV_INITIAL_VF,
    SRIOV_NUM_VF,
    SRIOV_STATUS,
    SRIOV_TOTAL_VF,
    SRIOV_VF_DID,
    SRIOV_VF_OFFSET,
    SRIOV_VF_STRIDE,
    PhysicalFunction,
)
from workbench.vfio.story import OUTCOME_SIGBUS, PciStory

LAYERS = ("user", "phys", "virt")
WORD_BITS = 16

COMMAND_BITS = {"I/O": cs.CMD_IO, "MSE": cs.CMD_MEMORY, "Bus Master": cs.CMD_MASTER,
                "INTx Disable": cs.CMD_INTX_DISABLE}
SRIOV_CONTROL_BITS = {"VF Enable": CTRL_VFE, "VF MSE": CTRL_MSE, "ARI": CTRL_ARI}

_HEADER_WORDS = {
    0x00: "vendor ID", 0x02: "device ID", 0x04: "command", 0x06: "status",
    0x08: "revision | prog-if", 0x0A: "class", 0x0C: "cache line | latency",
    0x0E: "header type | BIST", 0x28: "CardBus CIS lo", 0x2A: "CardBus CIS hi",
    0x2C: "subsystem vendor", 0x2E: "subsystem ID", 0x30: "ROM BAR lo", 0x32: "ROM BAR hi",
    0x34: "cap pointer", 0x36: "reserved", 0x38: "reserved", 0x3A: "reserved",
    0x3C: "int line | pin", 0x3E: "min_gnt | max_lat",
    **{cs.bar_offset(i) + half: f"BAR{i} {'hi' if half else 'lo'}"
       for i in range(cs.NUM_BARS) for half in (0, 2)},
}
_SRIOV_WORDS = {SRIOV_CTRL: "SR-IOV control", SRIOV_STATUS: "SR-IOV status",
                SRIOV_INITIAL_VF: "InitialVFs", SRIOV_TOTAL_VF: "TotalVFs",
                SRIOV_NUM_VF: "NumVFs", SRIOV_VF_OFFSET: "First VF Offset",
                SRIOV_VF_STRIDE: "VF Stride", SRIOV_VF_DID: "VF Device ID"}
_CONFIG_KINDS = (int(EventKind.VFIO_CONFIG_READ), int(EventKind.VFIO_CONFIG_WRITE))


# --- topology ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DeviceNode:
    """One function as the PCI core and vfio-pci see it (spec §2's flags)."""

    name: str
    address: str
    kind: str  # PF | VF | DETACHED_VF
    is_virtfn: bool
    physfn: str | None  # the PF's name, None when the function has none
    no_command_memory: bool | None  # None: linux-5.9 has no such flag
    open: bool  # opened through vfio-pci
    mse_key: bool  # the profile's key: vfio-pci emulates MSE for it
    memory_enabled: bool | None  # __vfio_pci_memory_enabled; None while not open
    children: tuple[DeviceNode, ...] = ()


def function_names(story: PciStory) -> dict[int, str]:
    """dev_id -> the scenario's name for each live function."""
    return {fn.dev_id: name for name, fn in story.functions.items() if not fn.removed}


def topology(story: PciStory) -> list[DeviceNode]:
    """PFs with their VFs below them, then functions without a visible PF (detached VFs)."""
    names = function_names(story)
    profile = story.system.profile

    def node(fn: PciFunction, children: tuple[DeviceNode, ...] = ()) -> DeviceNode:
        name = names.get(fn.dev_id, str(fn.address))
        dev = story.devices.get(name)
        is_open = dev is not None and not dev.closed
        return DeviceNode(
            name=name, address=str(fn.address), kind=fn.kind.name, is_virtfn=fn.is_virtfn,
            physfn=None if fn.physfn is None else names.get(fn.physfn.dev_id,
                                                            str(fn.physfn.address)),
            no_command_memory=fn.no_command_memory if profile.has_no_command_memory else None,
            open=is_open, mse_key=profile.mse_key(fn),
            memory_enabled=dev.memory_enabled() if is_open else None, children=children)

    live = story.system.functions
    parent = {fn.dev_id: _parent(fn) for fn in live}
    roots = []
    for fn in live:
        if parent[fn.dev_id] is None:
            kids = tuple(node(vf) for vf in live if parent[vf.dev_id] is fn)
            roots.append(node(fn, kids))
    return roots


def _parent(fn: PciFunction) -> PciFunction | None:
    """The PF a VF hangs under: physfn, or the PF an s390 VF came from (linked or not)."""
    return fn.physfn or getattr(fn, "pf", None)


# --- config space layers -------------------------------------------------------------------
@dataclass(frozen=True)
class WordLayers:
    """One 16-bit config word in the three layers, with vfio-pci's masks for it."""

    offset: int
    label: str
    user: int | None  # what a read through vfio returns; None while not open
    phys: int  # the device's own register
    virt: int | None  # vconfig; None while not open
    virt_mask: int  # bits vfio-pci's permission table virtualizes
    write_mask: int  # bits the user may write
    from_vconfig: int = 0  # bits the user's read takes from vconfig: virt_mask, plus MSE
    #                        where the profile's key makes vfio_basic_config_read use it

    def layer(self, name: str) -> int | None:
        return getattr(self, name)

    def bit(self, layer: str, bit: int) -> int | None:
        value = self.layer(layer)
        return None if value is None else value >> bit & 1


def register_words(story: PciStory, name: str) -> list[tuple[int, str]]:
    """(offset, label) of the words the grid shows: the type-0 header, and on a PF the
    registers of its SR-IOV capability."""
    words = sorted(_HEADER_WORDS.items())
    fn = story.functions[name]
    if isinstance(fn, PhysicalFunction):
        words += [(fn.sriov_pos + off, label) for off, label in sorted(_SRIOV_WORDS.items())]
    return words


def sriov_control_offset(story: PciStory, name: str) -> int | None:
    fn = story.functions.get(name)
    return fn.sriov_pos + SRIOV_CTRL if isinstance(fn, PhysicalFunction) else None


def word_layers(story: PciStory, name: str, offset: int, label: str = "") -> WordLayers:
    """The word at `offset` in every layer, computed without a trap."""
    fn = story.functions[name]
    phys = fn.config_read(offset, 2)
    dev = story.devices.get(name)
    if dev is None or dev.closed:
        return WordLayers(offset, label, None, phys, None, 0, 0)
    virt_mask, write_mask = dev.config_map.masks(offset, 2)
    virt = dev.peek_vconfig().read(offset, 2)  # BARs as the next read's fixup leaves them
    from_vconfig = virt_mask
    user = (phys & ~virt_mask) | (virt & virt_mask)
    if offset == cs.COMMAND and dev.mse_key:
        from_vconfig |= cs.CMD_MEMORY  # vfio_basic_config_read ORs vconfig's MSE in
        user |= virt & cs.CMD_MEMORY
    return WordLayers(offset, label, user, phys, virt, virt_mask, write_mask, from_vconfig)


def grid(story: PciStory, name: str) -> list[WordLayers]:
    return [word_layers(story, name, off, label) for off, label in register_words(story, name)]


def is_open(story: PciStory, name: str) -> bool:
    dev = story.devices.get(name)
    return dev is not None and not dev.closed


# --- traps of one command --------------------------------------------------------------------
def trap_bits(log: EventLog, first: int, last: int, dev_id: int) -> dict[int, int]:
    """Word offset -> mask of the bits the CONFIG_READ/CONFIG_WRITE rows in [first, last)
    of device `dev_id` touched."""
    rows = log.rows(first, last)
    hits = rows[np.isin(rows["kind"], _CONFIG_KINDS) & (rows["device"] == dev_id)]
    touched: dict[int, int] = {}
    for offset, size in zip(hits["offset"].tolist(), hits["size"].tolist(), strict=True):
        for byte in range(offset, offset + size):
            word = byte & ~1
            touched[word] = touched.get(word, 0) | 0xFF << 8 * (byte & 1)
    return touched


@dataclass(frozen=True)
class Outcome:
    """A scenario step's result as its ACTION row has it: value, or what refused it."""

    value: int
    size: int
    errno: int  # 0, an errno, or -SIGBUS for an mmap fault (story.OUTCOME_SIGBUS)

    @property
    def ok(self) -> bool:
        return self.errno == 0

    def text(self) -> str:
        if self.errno == 0:
            return f"{self.value:#0{2 + 2 * max(self.size, 1)}x}"
        if self.errno == OUTCOME_SIGBUS:
            return f"SIGBUS ({signal.Signals(-self.errno).name}: MmapFault, memory disabled)"
        name = errno_mod.errorcode.get(self.errno, str(self.errno))
        return f"{name} ({os.strerror(self.errno)})"


def action_outcome(log: EventLog, first: int, last: int) -> Outcome | None:
    """The outcome of the last ACTION row in [first, last), None if there is none."""
    rows = log.rows(first, last)
    actions = rows[rows["kind"] == int(EventKind.VFIO_ACTION)]
    if not len(actions):
        return None
    row = actions[-1]
    return Outcome(int(row["value"]), int(row["size"]), int(row["errno"]))


def mmap_hint(story: PciStory, name: str, bar: int) -> str:
    """Why an mmap access may be refused before memory state even matters."""
    if story.system.platform == "s390":
        return "no mmap on s390: VFIO_PCI_MMAP is off there at 5.9/5.10"
    fn = story.functions.get(name)
    bars = [] if fn is None else fn.bars
    if not 0 <= bar < len(bars) or bars[bar] is None:
        return f"no BAR {bar}"
    return ""
