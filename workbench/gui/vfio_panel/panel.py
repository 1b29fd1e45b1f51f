"""The VFIO panel: PCI topology and flags, one device's config space in three layers, its
named command/SR-IOV bits, BAR and mmap access, and linux-5.9 beside linux-5.10.

Every change is a Pci command through the controller, so it is logged (trap log), undoable
where it has an inverse (a config write: the old user value written back) and replayable.
A bit toggle is "read the user's value, flip the bit, write it": the written value is what
vfio returned, so it goes through vfio's write split exactly as a guest's RMW does. The
read is taken from the model without a trap (pci_view), so only the write is logged.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QLabel,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.controller import SessionController
from workbench.gui.vfio_panel.captured import CapturedAccesses
from workbench.gui.vfio_panel.controls import BarAccess, BitBoxes
from workbench.gui.vfio_panel.grid import ConfigGrid
from workbench.gui.vfio_panel.profiles import ProfileSideBySide
from workbench.gui.vfio_panel.topology import TopologyTree
from workbench.session import commands as c
from workbench.session import pci_view as pv
from workbench.session.session import CommandResult, Session
from workbench.vfio import config_space as cs

_BAR_STEPS = {"region_read": c.RegionReadStep, "region_write": c.RegionWriteStep,
              "mmap_read": c.MmapReadStep, "mmap_write": c.MmapWriteStep}
_BIT_NAMES = {cs.COMMAND: {mask: name for name, mask in pv.COMMAND_BITS.items()}}


class VfioPanel(QWidget):
    """See the module docstring. `device` is the selected function's scenario name."""

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.device: str | None = None
        self.header = QLabel()
        self.header.setWordWrap(True)
        self.tree = TopologyTree()
        self.command_bits = BitBoxes("Command (0x04), through vfio", pv.COMMAND_BITS)
        self.sriov_bits = BitBoxes("SR-IOV control (PF), through vfio", pv.SRIOV_CONTROL_BITS)
        self.grid = ConfigGrid()
        self.bar_access = BarAccess()
        self.profiles = ProfileSideBySide(controller)
        self.captured = CapturedAccesses()

        device_view = QWidget()
        column = QVBoxLayout(device_view)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.command_bits)
        column.addWidget(self.sriov_bits)
        column.addWidget(self.grid, 1)
        column.addWidget(self.bar_access)
        # The tree above the device, not beside it: the config grid needs the dock's whole
        # width to show a word's 16 bits beside its register name.
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tree)
        split.addWidget(device_view)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(split, "Devices")
        self.tabs.addTab(self.profiles, "linux-5.9 vs linux-5.10")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.header)
        layout.addWidget(self.tabs, 1)

        self.tree.device_selected.connect(self.select_device)
        self.grid.toggle_requested.connect(self.toggle_bit)
        self.command_bits.bit_clicked.connect(self.set_bits)
        self.sriov_bits.bit_clicked.connect(self.set_bits)
        self.bar_access.requested.connect(self.bar_op)
        controller.changed.connect(self.refresh)
        self.refresh()

    # --- reading ----------------------------------------------------------------------------
    @property
    def session(self) -> Session | None:
        """The controller's session, when it has a PCI system."""
        session = self.controller.session
        return session if session is not None and session.has_pci else None

    def refresh(self) -> None:
        """Everything from the session as it stands: after a command, a seek or a swap
        alike (the controller's `changed`), so nothing shown can be an older state's."""
        session = self.session
        traced = getattr(self.controller.session, "captured_config_lines", lambda: [])()
        self._show_traced(traced)
        if traced and session is None:
            self.tabs.setEnabled(True)
            self.header.setText(f"A capture: {len(traced)} traced config-space accesses "
                                "(Traced accesses). Replay a device's through vfio-pci with "
                                "`workbench whatif FILE --device NAME --as pf|vf|detached-vf`.")
            self.tabs.setCurrentWidget(self.captured)
            return
        if session is None and not self.tabs.isEnabled():
            return  # already shows "no PCI system": a free run of a vCPU costs nothing here
        self.tabs.setEnabled(session is not None)
        if session is None:
            self.device = None
            self.header.setText("This scenario has no PCI system ([pci] table).")
            self.tree.clear()
            self.grid.show_words([], {})
            self.command_bits.show_word(None, None)
            self.sriov_bits.show_word(None, None)
            return
        summary = session.pci_summary()
        key = "no_command_memory" if summary.has_no_command_memory else "is_virtfn"
        self.header.setText(
            f"{summary.platform} · {summary.profile} · vfio-pci emulates MSE where {key} is "
            "set. Grid: green = the user reads the device's bit, violet = vconfig's, orange "
            "= the device itself; outlined = this step's config trap.")
        self.tree.set_nodes(session.pci_topology(), key)
        if self.device is None or self.device not in session.pci_function_names().values():
            self.device = self.tree.current_name()
        self._show_device()

    def _show_traced(self, lines: list[str]) -> None:
        """The "Traced accesses" tab exists only while a capture with config accesses is open."""
        self.captured.show_lines(lines)
        index = self.tabs.indexOf(self.captured)
        if lines and index < 0:
            self.tabs.addTab(self.captured, "Traced accesses")
        elif not lines and index >= 0:
            self.tabs.removeTab(index)

    def select_device(self, name: str) -> None:
        if name != self.device:
            self.device = name
            self._show_device()

    def _show_device(self) -> None:
        session, name = self.session, self.device
        if session is None or name is None:
            return
        self.grid.show_words(session.pci_grid(name), session.pci_step_trap_bits(name))
        opened = session.pci_is_open(name)
        note = "" if opened else "not open through vfio yet: the physical value is shown"
        command = session.pci_word(name, cs.COMMAND)
        self.command_bits.show_word(cs.COMMAND, command.user, command.phys, note)
        control = session.pci_sriov_control(name)
        self.sriov_bits.setVisible(control is not None)  # a PF's: its room is the grid's
        if control is None:
            self.sriov_bits.show_word(None, None)
        else:
            word = session.pci_word(name, control)
            self.sriov_bits.show_word(control, word.user, word.phys, note)

    # --- changing -----------------------------------------------------------------------------
    def _user_word(self, offset: int) -> int:
        """The device's word as vfio returns it, opening the device first if need be (as
        the write would: vfio_config_init decides what the user reads)."""
        assert self.device is not None
        session = self.session
        assert session is not None
        if not session.pci_is_open(self.device):
            self.controller.apply(c.Pci(action=c.OpenStep(device=self.device)))
        user = session.pci_word(self.device, offset).user
        assert user is not None
        return user

    def write_word(self, offset: int, new: int, text: str) -> CommandResult | None:
        """An undoable 16-bit config write through vfio; undo writes the old user value."""
        if self.device is None:
            return None
        old = self._user_word(offset)
        name = self.device

        def write(value: int) -> c.Pci:
            return c.Pci(action=c.ConfigWriteStep(device=name, offset=offset, size=2,
                                                   value=value))

        return self.controller.push(text, write(new), write(old))

    def toggle_bit(self, offset: int, bit: int) -> CommandResult | None:
        """Read the user's word, flip `bit`, write it back through vfio."""
        if self.device is None:
            return None
        new = self._user_word(offset) ^ 1 << bit
        return self.write_word(offset, new, f"{self.device}: toggle {_bit_name(offset, bit)}")

    def set_bits(self, offset: int, mask: int, wanted: bool) -> CommandResult | None:
        """Set or clear the bits of `mask` in the user's word (a checkbox click)."""
        if self.device is None:
            return None
        old = self._user_word(offset)
        new = old | mask if wanted else old & ~mask
        verb = "set" if wanted else "clear"
        name = _bit_name(offset, mask.bit_length() - 1)
        return self.write_word(offset, new, f"{self.device}: {verb} {name}")

    def bar_op(self, op: str, bar: int, offset: int, size: int, value: int) -> CommandResult | None:
        """A region or mmap access; the outcome (value, EIO, SIGBUS, EINVAL) is shown."""
        session, name = self.session, self.device
        if session is None or name is None:
            return None
        fields = {"device": name, "bar": bar, "offset": offset, "size": size}
        if op.endswith("write"):
            fields["value"] = value
        result = self.controller.apply(c.Pci(action=_BAR_STEPS[op](**fields)))
        outcome = pv.action_outcome(session.log, result.first_row, result.last_row)
        where = f"{op.replace('_', ' ')} BAR{bar}+{offset:#x} size {size}"
        if outcome is None:
            self.bar_access.show_result(f"{where}: {result.error}", ok=False)
            return result
        text = f"{where}: {outcome.text()}"
        hint = session.pci_mmap_hint(name, bar) if op.startswith("mmap") else ""
        if not outcome.ok and hint:
            text += f" — {hint}"
        self.bar_access.show_result(text, outcome.ok)
        return result


def _bit_name(offset: int, bit: int) -> str:
    named = _BIT_NAMES.get(offset, {}).get(1 << bit)
    return f"{named} ({offset:#x} bit {bit})" if named else f"{offset:#x} bit {bit}"
