"""The timeline's plot parts: whole-step ticks, lane names, and the mouse.

The ViewBox keeps pyqtgraph's wheel zoom and left-drag pan along x (lanes never scroll),
and adds what a trace viewer needs: a click reports where it landed, and a shift+drag or
a right-drag marks a step range instead of panning (KernelShark's markers, Perfetto's
area selection).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QImage, QPainter


class StepAxis(pg.AxisItem):
    """An x axis of whole steps: no tick between two steps."""

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # noqa: N802,N803
        levels = [(spacing, [v for v in values if float(v).is_integer()])
                  for spacing, values in super().tickValues(minVal, maxVal, size)
                  if spacing >= 1]
        if levels:
            return levels
        return [(1.0, [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)])]


class TscAxis(StepAxis):
    """A second x axis over the same whole steps, labelled with vCPU 0's guest TSC at the
    end of each (the session's guest_tsc query)."""

    def __init__(self) -> None:
        super().__init__("top")
        self.tsc_of: Callable[[int], int | None] = lambda _step: None

    def set_source(self, tsc_of: Callable[[int], int | None]) -> None:
        self.tsc_of = tsc_of
        self.picture = None   # pyqtgraph redraws the labels from tickStrings
        self.update()

    def tickStrings(self, values: list, scale: float, spacing: float) -> list[str]:  # noqa: N802
        labels = []
        for value in values:
            tsc = self.tsc_of(round(value))
            labels.append("" if tsc is None else f"{tsc:,}")
        return labels


class LaneAxis(pg.AxisItem):
    """A y axis naming the lanes at their centres (lane i at y = i)."""

    def set_lanes(self, labels: list[str]) -> None:
        """Name the lanes; the axis widens to the longest name (a PCI address)."""
        self.setTicks([[(float(i), label) for i, label in enumerate(labels)], []])
        metrics = QFontMetrics(self.style.get("tickFont") or QFont())
        self.setWidth(max((metrics.horizontalAdvance(t) for t in labels), default=0) + 16)


class LaneImage(pg.GraphicsObject):
    """The marks: one ARGB32 image (rows of lanes x pixel columns) stretched over a view
    rectangle. Qt's raster engine blits premultiplied ARGB32 without conversion, which
    pyqtgraph's ImageItem (levels, lookup tables, a format change per frame) cannot."""

    def __init__(self) -> None:
        super().__init__()
        self._pixels = np.zeros((1, 1), np.uint32)   # kept alive: the QImage shares it
        self._image = QImage()
        self._rect = QRectF()

    def set_pixels(self, pixels: np.ndarray, rect: QRectF) -> None:
        """`pixels`: (rows, columns) uint32 0xAARRGGBB, opaque, shown over `rect`."""
        self.prepareGeometryChange()
        self._pixels = np.ascontiguousarray(pixels, np.uint32)
        rows, columns = self._pixels.shape
        self._image = QImage(self._pixels.data, columns, rows, columns * 4,
                             QImage.Format.Format_ARGB32_Premultiplied)
        self._rect = QRectF(rect)
        self.update()

    @property
    def pixels(self) -> np.ndarray:
        return self._pixels

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt's name)
        return self._rect

    def paint(self, painter: QPainter, *_: Any) -> None:
        if not self._image.isNull():
            painter.drawImage(self._rect, self._image)


class TimelineView(pg.ViewBox):
    clicked = Signal(QPointF)               # a left click, in view coordinates
    range_dragging = Signal(float, float)   # a range drag so far (steps, unordered)
    range_dragged = Signal(float, float)    # the range drag ended here

    def __init__(self) -> None:
        super().__init__(enableMenu=False)
        self.setMouseEnabled(x=True, y=False)

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph's name)
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.clicked.emit(self.mapSceneToView(ev.scenePos()))
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:  # noqa: N802
        shift = bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        selecting = ev.button() == Qt.MouseButton.RightButton or (
            ev.button() == Qt.MouseButton.LeftButton and shift)
        if not selecting:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        start = self.mapSceneToView(ev.buttonDownScenePos()).x()
        now = self.mapSceneToView(ev.scenePos()).x()
        (self.range_dragged if ev.isFinish() else self.range_dragging).emit(start, now)
