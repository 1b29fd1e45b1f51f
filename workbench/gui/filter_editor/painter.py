"""The selected range's bitmap as a heatmap the user paints: one cell per MSR, 64 per row.

A click toggles one MSR; a drag paints the opposite of the cell it started on over every
cell it crosses, the way one "draws" allow or deny across a block of MSRs. Cells past
nmsrs (the rest of the last long the kernel copies) are shown but cannot be painted.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from workbench.gui import palette
from workbench.gui.bitmaps.cells import CellImage, CellMarker
from workbench.gui.filter_editor.draft import Draft, DraftRange
from workbench.kvm.msrs.catalogue import msr_label

ROW_BITS = 64
DENY, ALLOW, PAST_END = 0, 1, 2
COLOURS = (palette.DENY, palette.ALLOW, "#2b2b2b")


def range_cells(rng: DraftRange) -> np.ndarray:
    """The painter's image for a range: its bits, PAST_END beyond nmsrs, rows of 64."""
    size = max(len(rng.bits), ROW_BITS)
    cells = np.full(size, PAST_END, dtype=np.uint8)
    used = min(max(rng.nmsrs, 0), len(rng.bits))
    cells[:used] = rng.bits[:used]
    return cells.reshape(-1, ROW_BITS)


class BitmapPainter(QWidget):
    painted = Signal(int)  # row of the range whose bits changed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.hideButtons()
        self.plot.getAxis("bottom").setTicks([[(c, f"+{c}") for c in range(0, ROW_BITS, 32)]])
        self.image = CellImage(COLOURS, paintable=True)
        self.marker = CellMarker()
        self.plot.addItem(self.image)
        self.plot.addItem(self.marker)
        self.title = QLabel("No range selected")
        allow_all, deny_all = QPushButton("Allow all"), QPushButton("Deny all")
        allow_all.setToolTip("Set every bit of this range: its MSRs are allowed")
        deny_all.setToolTip("Clear every bit: its MSRs are denied (the kernel's zeroed bitmap)")
        allow_all.clicked.connect(lambda: self.fill(ALLOW))
        deny_all.clicked.connect(lambda: self.fill(DENY))
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(allow_all)
        top.addWidget(deny_all)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(top)
        box.addWidget(self.plot, 1)
        self.draft = Draft()
        self.row: int | None = None
        self._paint_value = ALLOW
        self.image.clicked.connect(self._clicked)
        self.image.dragged.connect(self._dragged)
        self.image.hovered.connect(self._hovered)
        self.row_labels: list[tuple[float, str]] = []  # the left axis's (row, first MSR)
        self.plot.getViewBox().sigResized.connect(self._label_rows)

    def show_range(self, draft: Draft, row: int | None) -> None:
        self.draft, self.row = draft, row
        if row is None or not 0 <= row < len(draft.ranges):
            self.row = None
            self.title.setText("No range selected")
            self.row_labels = []
            self.plot.getAxis("left").setTicks(None)
            self.image.show_array(np.full((1, ROW_BITS), PAST_END, dtype=np.uint8))
            return
        rng = draft.ranges[row]
        cells = range_cells(rng)
        self.title.setText(f"ranges[{row}] bitmap: {max(rng.nmsrs, 0)} MSRs from "
                           f"{rng.base:#x}, {ROW_BITS} per row")
        if self.image.show_array(cells):
            self.plot.autoRange(padding=0.02)
        self._label_rows()

    def _label_rows(self) -> None:
        """Label rows with their first MSR, as many as fit the painted height without two
        labels touching (a long range in a short dock labels every n-th row)."""
        rng = self._range()
        if rng is None:
            return
        rows = len(range_cells(rng))
        pixel = abs(self.plot.getViewBox().viewPixelSize()[1])  # rows per screen pixel
        step = max(1, math.ceil(1.5 * self.fontMetrics().height() * pixel)
                   if math.isfinite(pixel) else rows)
        self.row_labels = [(r + 0.5, f"{rng.base + r * ROW_BITS:#x}")
                           for r in range(0, rows, step)]
        self.plot.getAxis("left").setTicks([self.row_labels])

    def refresh(self) -> None:
        self.show_range(self.draft, self.row)

    def _range(self) -> DraftRange | None:
        return None if self.row is None else self.draft.ranges[self.row]

    def offset(self, row: int, col: int) -> int:
        return row * ROW_BITS + col

    def set_bit(self, offset: int, value: int) -> bool:
        """Paint one MSR of the range; False past nmsrs (nothing there to paint)."""
        rng = self._range()
        if rng is None or not 0 <= offset < min(rng.nmsrs, len(rng.bits)):
            return False
        if rng.bits[offset] != value:
            rng.bits[offset] = value
            return True
        return False

    def fill(self, value: int) -> None:
        rng = self._range()
        if rng is None:
            return
        rng.bits[: max(min(rng.nmsrs, len(rng.bits)), 0)] = value
        self._changed()

    def _changed(self) -> None:
        self.refresh()
        if self.row is not None:
            self.painted.emit(self.row)

    def _clicked(self, row: int, col: int) -> None:
        rng = self._range()
        offset = self.offset(row, col)
        if rng is not None and self.set_bit(offset, 1 - int(rng.bits[offset])):
            self._changed()

    def _dragged(self, row: int, col: int, phase: int) -> None:
        rng = self._range()
        if rng is None:
            return
        offset = self.offset(row, col)
        if phase == CellImage.DRAG_START:
            self._paint_value = 1 - int(rng.bits[offset]) if offset < len(rng.bits) else ALLOW
        if self.set_bit(offset, self._paint_value):
            self._changed()

    def _hovered(self, row: int, col: int) -> None:
        rng = self._range()
        offset = self.offset(row, col)
        if rng is None or row < 0 or offset >= max(rng.nmsrs, 0):
            self.image.setToolTip("")
            return
        self.image.setToolTip(self.describe(rng.base + offset))

    def describe(self, index: int) -> str:
        """Tooltip: the MSR, this bit, and what the whole draft would decide for it."""
        rng = self._range()
        bit = "allow" if rng is not None and rng.bits[index - rng.base] else "deny"
        words = {True: "allow", False: "deny"}
        return (f"{msr_label(index)}\nthis bit: {bit}\n"
                f"draft decides: read {words[self.draft.decision(index, False)]}, "
                f"write {words[self.draft.decision(index, True)]}")

    def mark(self, index: int) -> None:
        """Linked selection: outline the MSR if it falls in this range."""
        rng = self._range()
        if rng is None or not 0 <= index - rng.base < max(rng.nmsrs, 0):
            self.marker.mark([])
            return
        self.marker.mark([divmod(index - rng.base, ROW_BITS)])
