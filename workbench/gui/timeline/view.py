"""The timeline's plot parts: whole-step ticks, lane names, and the mouse.

The ViewBox keeps pyqtgraph's wheel zoom and left-drag pan along x (lanes never scroll),
and adds what a trace viewer needs: a click reports where it landed, and a shift+drag or
a right-drag marks a step range instead of panning (KernelShark's markers, Perfetto's
area selection).
"""

from __future__ import annotations

import math
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics


class StepAxis(pg.AxisItem):
    """An x axis of whole steps: no tick between two steps."""

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # noqa: N802,N803
        levels = [(spacing, [v for v in values if float(v).is_integer()])
                  for spacing, values in super().tickValues(minVal, maxVal, size)
                  if spacing >= 1]
        if levels:
            return levels
        return [(1.0, [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)])]


class LaneAxis(pg.AxisItem):
    """A y axis naming the lanes at their centres (lane i at y = i)."""

    def set_lanes(self, labels: list[str]) -> None:
        """Name the lanes; the axis widens to the longest name (a PCI address)."""
        self.setTicks([[(float(i), label) for i, label in enumerate(labels)], []])
        metrics = QFontMetrics(self.style.get("tickFont") or QFont())
        self.setWidth(max((metrics.horizontalAdvance(t) for t in labels), default=0) + 16)


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
