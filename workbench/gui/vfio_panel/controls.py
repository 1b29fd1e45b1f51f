"""Named bits as checkboxes (command register, a PF's SR-IOV control) and the BAR access
form (region and mmap reads and writes). Both only ask; the panel applies the commands."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.msr_input import parse_int
from workbench.gui.widgets import ElidedLabel
from workbench.vfio import config_space as cs

BAR_OPS = ("region_read", "region_write", "mmap_read", "mmap_write")
ACCESS_SIZES = (1, 2, 4, 8)


class BitBoxes(QWidget):
    """One checkbox per named bit of a config word, showing the user's (vfio) view, on one
    line after its title (a group box's frame cost the config grid rows).

    `bit_clicked(offset, mask, wanted)` when the user clicks one; programmatic updates
    (`show_word`) never emit, so a refresh cannot write anything."""

    bit_clicked = Signal(int, int, bool)

    def __init__(self, title: str, bits: dict[str, int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.offset: int | None = None
        self.boxes: dict[str, QCheckBox] = {}
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel(f"<b>{title}</b>"))
        for name, mask in bits.items():
            box = QCheckBox(name)
            box.clicked.connect(lambda wanted, m=mask: self._clicked(m, wanted))
            self.boxes[name] = box
            row.addWidget(box)
        row.addStretch(1)
        self._masks = bits

    def show_word(self, offset: int | None, user: int | None, fallback: int = 0,
                  note: str = "") -> None:
        """Show `user` (None while the device is not open: then `fallback`, in grey)."""
        self.offset = offset
        self.setEnabled(offset is not None)
        value = fallback if user is None else user
        for name, box in self.boxes.items():
            box.setChecked(bool(value & self._masks[name]))
            box.setStyleSheet("color: #808080;" if user is None else "")
            box.setToolTip(note)

    def _clicked(self, mask: int, wanted: bool) -> None:
        if self.offset is not None:
            self.bit_clicked.emit(self.offset, mask, wanted)


class BarAccess(QGroupBox):
    """BAR, offset, size and value inputs; `requested(op, bar, offset, size, value)`."""

    requested = Signal(str, int, int, int, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("BAR access through vfio", parent)
        self.bar = QSpinBox(minimum=0, maximum=cs.NUM_BARS - 1)
        self.offset = QLineEdit("0x0")
        self.size = QComboBox()
        for size in ACCESS_SIZES:
            self.size.addItem(str(size), size)
        self.size.setCurrentIndex(ACCESS_SIZES.index(4))
        self.value = QLineEdit("0x0")
        self.result = ElidedLabel("—")
        form = QHBoxLayout()
        for label, field in (("BAR", self.bar), ("offset", self.offset), ("size", self.size),
                             ("value", self.value)):
            form.addWidget(QLabel(label))
            form.addWidget(field)
        buttons = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for op in BAR_OPS:
            button = QPushButton(op.replace("_", " "))
            button.clicked.connect(lambda _=False, o=op: self._request(o))
            self.buttons[op] = button
            buttons.addWidget(button)
        buttons.addWidget(self.result, 1)  # the outcome beside the buttons that ask for it
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)

    def _request(self, op: str) -> None:
        offset = parse_int(self.offset.text())
        value = parse_int(self.value.text()) if op.endswith("write") else 0
        if offset is None or value is None:
            bad = "offset" if offset is None else "value"
            self.show_result(f"{bad}: not a number (use 16 or 0x10)", ok=False)
            return
        self.requested.emit(op, self.bar.value(), offset, self.size.currentData(), value)

    def show_result(self, text: str, ok: bool) -> None:
        self.result.setText(text)
        self.result.setStyleSheet("" if ok else "color: #d02020;")
