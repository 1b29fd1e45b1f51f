"""The lane view: every range as a draggable region on the MSR index axis.

Each range gets its own horizontal lane (ranges may overlap; the top lane is ranges[0],
which wins), so moving or resizing a region is moving or resizing that range. The x axis
is in MSR index units; the view jumps to the windows the hardware bitmaps cover.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from workbench.gui.bitmaps.cells import HexAxis
from workbench.gui.filter_editor.draft import READ, WRITE, DraftRange
from workbench.kvm.filter import U32_MAX
from workbench.kvm.intercepts import MSR_BITMAP_WINDOWS, WINDOW_MSRS
from workbench.kvm.msrs.catalogue import msr_label

WINDOWS = tuple((f"0x{first:X} – 0x{first + WINDOW_MSRS:X}", first, first + WINDOW_MSRS)
                for first in MSR_BITMAP_WINDOWS)
_COLOURS = {READ | WRITE: "#8e44ad", READ: "#2e86c1", WRITE: "#d35400", 0: "#7f8c8d"}


def _clamp(value: int) -> int:
    return min(max(value, 0), U32_MAX + 1)


class LaneView(QWidget):
    moved = Signal(int, int, int)  # row, new base, new nmsrs (from a drag)
    picked = Signal(int)           # row whose region the user grabbed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window_box = QComboBox()
        self.window_box.addItems([name for name, _, _ in WINDOWS] + ["Fit all ranges"])
        self.plot = pg.PlotWidget(axisItems={"bottom": HexAxis("bottom")})
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.hideAxis("left")
        self.plot.hideButtons()
        self.plot.setYRange(0, 1, padding=0)
        self.plot.setMinimumHeight(110)
        self.cursor_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#ffd000", width=1))
        self.cursor_line.setVisible(False)
        self.plot.addItem(self.cursor_line)
        self.regions: list[pg.LinearRegionItem] = []
        self.ranges: list[DraftRange] = []
        self._syncing = False
        top = QHBoxLayout()
        top.addWidget(QLabel("Window"))
        top.addWidget(self.window_box, 1)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(top)
        box.addWidget(self.plot, 1)
        self.window_box.currentIndexChanged.connect(self.show_window)
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)
        self.show_window(0)

    def load(self, ranges: list[DraftRange]) -> None:
        for region in self.regions:
            self.plot.removeItem(region)
        self.ranges = ranges
        self.regions = []
        for row in range(len(ranges)):
            region = pg.LinearRegionItem(bounds=(0, U32_MAX + 1), swapMode="block")
            # The end of a drag arrives only as sigRegionChangeFinished.
            for signal in (region.sigRegionChanged, region.sigRegionChangeFinished):
                signal.connect(lambda _r, row=row: self._region_changed(row))
            self.plot.addItem(region)
            self.regions.append(region)
            self.update_row(row)

    def update_row(self, row: int, selected: bool = False, error: bool = False) -> None:
        """Place and colour a range's region from the draft (not a user drag)."""
        rng, region = self.ranges[row], self.regions[row]
        count = max(len(self.ranges), 1)
        region.setSpan(1 - (row + 1) / count + 0.04 / count, 1 - row / count - 0.04 / count)
        colour = pg.mkColor("#e74c3c" if error else _COLOURS.get(rng.flags & (READ | WRITE)))
        colour.setAlpha(150 if selected else 70)
        region.setBrush(colour)
        region.lines[0].setPen(pg.mkPen("#ffffff" if selected else colour, width=2))
        region.lines[1].setPen(pg.mkPen("#ffffff" if selected else colour, width=2))
        self._syncing = True
        lo = _clamp(rng.base)
        region.setRegion((lo, _clamp(rng.base + max(rng.nmsrs, 0))))
        self._syncing = False
        region.update()

    def _region_changed(self, row: int) -> None:
        if self._syncing:
            return
        lo, hi = self.regions[row].getRegion()
        rng = self.ranges[row]
        base = round(lo)
        # A whole-region move keeps nmsrs exactly; moving an edge changes it.
        nmsrs = rng.nmsrs if abs((hi - lo) - rng.nmsrs) < 0.5 else max(round(hi) - base, 0)
        if (base, nmsrs) != (rng.base, rng.nmsrs):
            self.picked.emit(row)
            self.moved.emit(row, base, nmsrs)

    def show_window(self, which: int) -> None:
        if which < len(WINDOWS):
            _, lo, hi = WINDOWS[which]
        else:
            spans = [(r.base, r.base + r.nmsrs) for r in self.ranges if r.nmsrs > 0] or [(0, 1)]
            lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
        self.plot.setXRange(_clamp(lo), _clamp(hi), padding=0.02)

    def follow(self, index: int) -> None:
        """Show the window holding MSR `index` (when a filter is loaded, so its first
        range is in view rather than an empty lane)."""
        for which, (_, lo, hi) in enumerate(WINDOWS):
            if lo <= index < hi:
                self.window_box.setCurrentIndex(which)
                return

    def index_at(self, scene_pos: QPointF) -> int | None:
        point = self.plot.getViewBox().mapSceneToView(scene_pos)
        index = int(point.x())
        return index if 0 <= index <= U32_MAX else None

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        index = self.index_at(scene_pos)
        self.plot.setToolTip("" if index is None else msr_label(index))

    def mark(self, index: int) -> None:
        """Linked selection: a vertical line at the selected MSR."""
        self.cursor_line.setVisible(index >= 0)
        if index >= 0:
            self.cursor_line.setValue(index + 0.5)
