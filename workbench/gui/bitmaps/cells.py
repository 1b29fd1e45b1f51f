"""Heatmap building blocks shared by the filter editor and the bitmap inspector.

Every heatmap is a uint8 row-major image with a few-entry lookup table and fixed levels
(0, len(lut)), so value v is drawn exactly with colour lut[v]: no float images, no
autoLevels, and Qt draws it as an Indexed8 image. Cells are reported as (row, column).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal

Cell = tuple[int, int]


def lookup_table(colours: Sequence[str]) -> np.ndarray:
    """An RGBA uint8 LUT from colour names/hex strings, one entry per cell value."""
    return np.array([pg.mkColor(c).getRgb() for c in colours], dtype=np.uint8)


def cells_between(a: Cell, b: Cell) -> list[Cell]:
    """The cells a straight drag from `a` to `b` crosses, `b` included, `a` excluded, so a
    fast drag paints every cell it passed over instead of skipping some."""
    steps = max(abs(b[0] - a[0]), abs(b[1] - a[1]))
    if steps == 0:
        return [b]
    rows = np.rint(np.linspace(a[0], b[0], steps + 1)).astype(int)[1:]
    cols = np.rint(np.linspace(a[1], b[1], steps + 1)).astype(int)[1:]
    return list(zip(rows.tolist(), cols.tolist(), strict=True))


class CellImage(pg.ImageItem):
    """An ImageItem that reports clicks, drags and hovers in cell coordinates.

    A drag is accepted (and so does not pan the view) only when `paintable` is set.
    """

    clicked = Signal(int, int)
    # row, column, phase: 0 = drag started on this cell, 1 = crossed, 2 = finished here
    dragged = Signal(int, int, int)
    hovered = Signal(int, int)  # (-1, -1) when the cursor leaves

    DRAG_START, DRAG_MOVE, DRAG_FINISH = 0, 1, 2

    def __init__(self, colours: Sequence[str], paintable: bool = False) -> None:
        super().__init__(axisOrder="row-major")
        self.lut = lookup_table(colours)
        self.setLookupTable(self.lut)
        self.paintable = paintable
        self.values: np.ndarray | None = None
        self._last: Cell | None = None
        self.setAcceptHoverEvents(True)

    def show_array(self, data: np.ndarray) -> bool:
        """Show `data` (uint8, rows x columns); skip the repaint when nothing changed."""
        if self.values is not None and self.values.shape == data.shape \
                and np.array_equal(self.values, data):
            return False
        self.values = data
        self.setImage(data, autoLevels=False, levels=(0, len(self.lut)))
        return True

    def cell_at(self, pos: QPointF) -> Cell | None:
        if self.values is None:
            return None
        row, col = int(np.floor(pos.y())), int(np.floor(pos.x()))
        rows, cols = self.values.shape
        return (row, col) if 0 <= row < rows and 0 <= col < cols else None

    def _clamped(self, pos: QPointF) -> Cell:
        rows, cols = self.values.shape if self.values is not None else (1, 1)
        return (min(max(int(np.floor(pos.y())), 0), rows - 1),
                min(max(int(np.floor(pos.x())), 0), cols - 1))

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph's event name
        cell = self.cell_at(ev.pos())
        if ev.button() != pg.QtCore.Qt.MouseButton.LeftButton or cell is None:
            ev.ignore()
            return
        ev.accept()
        self.clicked.emit(*cell)

    def mouseDragEvent(self, ev) -> None:  # noqa: N802
        if not self.paintable or ev.button() != pg.QtCore.Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            start = self.cell_at(ev.buttonDownPos())
            if start is None:
                ev.ignore()
                return
            self._last = start
            self.dragged.emit(*start, self.DRAG_START)
        ev.accept()
        if self._last is None:
            return
        here = self._clamped(ev.pos())
        if here != self._last:
            for cell in cells_between(self._last, here):
                self.dragged.emit(*cell, self.DRAG_MOVE)
            self._last = here
        if ev.isFinish():
            self.dragged.emit(*self._last, self.DRAG_FINISH)
            self._last = None

    def hoverEvent(self, ev) -> None:  # noqa: N802
        cell = None if ev.isExit() else self.cell_at(ev.pos())
        self.hovered.emit(*(cell or (-1, -1)))


class CellMarker(pg.ScatterPlotItem):
    """Hollow squares around selected cells, a fixed size on screen so they stay visible
    however far the view is zoomed out."""

    def __init__(self) -> None:
        super().__init__(symbol="s", size=11, pxMode=True, brush=None,
                         pen=pg.mkPen("#ffd000", width=2))
        self.setZValue(10)

    def mark(self, cells: Sequence[Cell]) -> None:
        self.setData(x=[c + 0.5 for _, c in cells], y=[r + 0.5 for r, _ in cells])


class HexAxis(pg.AxisItem):
    """Axis labels in hex on power-of-two steps: MSR indices read better that way."""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph's names
        if self._tickLevels is not None or maxVal <= minVal:
            return super().tickSpacing(minVal, maxVal, size)
        major = 2 ** max(int(np.ceil(np.log2((maxVal - minVal) / max(size / 90, 1)))), 0)
        return [(major, 0), (major / 4, 0)]

    def tickStrings(self, values, scale, spacing) -> list[str]:  # noqa: N802
        return [f"{int(round(v)):#x}" for v in values]
