"""The timeline panel: every event as a mark in its vCPU's, device's or the VM's lane.

x is the step. Wheel zooms, drag pans, a click picks the event under the mouse (the
trap log selects it and the session travels to its step), shift+drag or right-drag
filters the trap log to a step range, hovering shows the event's trap-log line. Each
frame draws only the visible range: lanes.LaneIndex renders one image of
(lanes x pixel columns), so a 10-million-event log pans like a ten-event one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from workbench.gui.controller import SessionController
from workbench.gui.timeline.lanes import EMPTY, Lane, LaneIndex
from workbench.gui.timeline.marks import CATEGORIES, COLOUR_MASK, ColourFunction, by_kind
from workbench.gui.timeline.view import LaneAxis, LaneImage, StepAxis, TimelineView, TscAxis

BUSY_HZ = 4            # redraws per second while a free run adds rows
ROWS_PER_LANE = 5      # image rows per lane: marks fill the middle three
PICK_PX = 3            # how far (pixels) from a mark a click or hover still finds it
MIN_STEPS = 4          # the narrowest zoom, in steps
MIN_LANES = 6          # lanes get at most 1/MIN_LANES of the height: marks, not walls
# Lane backgrounds, alternating white and a light band so lanes read as rows.
BACKGROUNDS = np.array([0xFFFFFFFF, 0xFFF3F3F3], np.uint32)
TSC_UNAVAILABLE = (
    "Guest TSC axis unavailable here: the session reads vCPU 0's IA32_TSC (as KVM_GET_MSRS "
    "does) after each command it applies; a capture or a scenario without vCPUs has none.")
TSC_AVAILABLE = ("A second x axis above the steps: vCPU 0's guest TSC at the end of each "
                 "step (IA32_TSC as KVM_GET_MSRS reads it, outside the log's digests).")


def legend_html() -> str:
    """One entry per category, never broken inside an entry when the label wraps."""
    return "  ".join(f"<span style='color:{c.colour}'>■</span>&nbsp;"
                     f"{c.label.replace(' ', '&nbsp;')}" for c in CATEGORIES)


class TimelinePanel(QWidget):
    event_clicked = Signal(int)       # a log row the user clicked
    range_selected = Signal(int, int)  # steps a..b (inclusive) the user dragged over

    def __init__(self, controller: SessionController,
                 busy: Callable[[], bool] | None = None, parent: QWidget | None = None) -> None:
        """`busy()` says a free run is going: then redraw at BUSY_HZ, not on every sync."""
        super().__init__(parent)
        self.controller = controller
        self._busy = busy or (lambda: False)
        self._drawn_at = 0.0
        self.index = LaneIndex()
        self.lanes: list[Lane] = []
        self.codes = np.full((0, 0), EMPTY, np.int64)   # the last frame, per lane and pixel
        self.hover_row: int | None = None
        self._follow = True       # fit the whole session until the user zooms or pans
        self._cut_from: int | None = None  # the log was truncated from this row
        self._unsubscribe: Callable[[], None] | None = None

        self.view = TimelineView()
        self.lane_axis = LaneAxis("left")
        self.tsc_axis = TscAxis()
        self.plot = pg.PlotWidget(background="w", viewBox=self.view, axisItems={
            "bottom": StepAxis("bottom"), "left": self.lane_axis, "top": self.tsc_axis})
        self.plot.showAxis("top", False)
        self.plot.setLabel("bottom", "step")
        self.plot.getPlotItem().hideButtons()   # pyqtgraph's auto-range "A": Fit does that
        self.view.invertY(True)
        self.image = LaneImage()
        self.view.addItem(self.image, ignoreBounds=True)
        self.cursor = pg.InfiniteLine(pos=0, angle=90, movable=False,
                                      pen=pg.mkPen("#202020", width=1))
        self.view.addItem(self.cursor, ignoreBounds=True)
        self.region = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(86, 180, 233, 50))
        self.region.hide()
        self.view.addItem(self.region, ignoreBounds=True)
        # After travelling back, later steps' events are history that a new command will
        # replace: faded, as the trap log greys their rows.
        self.future = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(255, 255, 255, 160),
                                          pen=pg.mkPen(None))
        self.future.setZValue(5)
        self.future.hide()
        self.view.addItem(self.future, ignoreBounds=True)

        self.range_label = QLabel()
        self.tsc_box = QCheckBox("guest TSC axis", enabled=False, toolTip=TSC_UNAVAILABLE)
        self.tsc_box.toggled.connect(self._show_tsc_axis)
        self.fit_button = QPushButton("Fit", toolTip="Show the whole session and follow it")
        self.fit_button.clicked.connect(self.fit)
        # The legend is a label under the plot: inside it would cover data.
        self.legend = QLabel(legend_html(), wordWrap=True)
        top = QHBoxLayout()
        top.addWidget(self.range_label, 1)
        top.addWidget(self.tsc_box)
        top.addWidget(self.fit_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.legend)

        self.view.sigXRangeChanged.connect(self._draw)
        self.view.sigResized.connect(self._draw)
        self.view.sigRangeChangedManually.connect(self._stop_following)
        self.view.clicked.connect(self._on_click)
        self.view.range_dragging.connect(self._show_region)
        self.view.range_dragged.connect(self._on_range)
        self.plot.scene().sigMouseMoved.connect(self._on_hover)
        controller.session_replaced.connect(self._on_session)
        controller.changed.connect(self._on_changed)
        self._on_session()

    # --- following the session ------------------------------------------------------------
    def _on_session(self) -> None:
        """Another scenario or recording: its lanes, its steps, and follow it."""
        session = self.controller.session
        log = None if session is None else session.log
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = None if log is None else log.subscribe(self._on_batch)
        self.index.reset(log, 0 if session is None else session.vcpu_count)
        self._cut_from = None
        self.region.hide()
        self._follow = True
        self._on_changed(force=True)

    def _on_batch(self, first: int, _last: int) -> None:
        """EventLog observer (maybe in the runner's thread): notes truncations only."""
        if first < self.index.seen:
            self._cut_from = first if self._cut_from is None else min(self._cut_from, first)

    def _on_changed(self, force: bool = False) -> None:
        """The controller's one refresh path: new rows, the cursor, the range if following."""
        now = time.monotonic()
        session = self.controller.session
        self.cursor.setValue(0 if session is None else session.step)
        if not force and self._busy() and now - self._drawn_at < 1 / BUSY_HZ:
            return  # rows wait for a later refresh: ingesting is incremental
        self._drawn_at = now
        self._follow_tsc(session)
        cut, self._cut_from = self._cut_from, None
        log = self.index.log
        if log is not None and len(log) < self.index.seen:
            cut = len(log) if cut is None else min(cut, len(log))
        if cut is not None:
            self.index.cut(cut)
        self.index.ingest()
        step, last = (0 if session is None else session.step), self.index.last_step
        self.future.setVisible(step < last)
        self.future.setRegion((step + 0.5, last + 0.5))
        lanes = self.index.lanes()
        if lanes != self.lanes:
            self.lanes = lanes
            self.lane_axis.set_lanes([lane.label for lane in lanes])
            self.view.setYRange(-0.5, max(len(lanes), MIN_LANES) - 0.5, padding=0)
        end = self._end()
        self.view.setLimits(xMin=-1.0, xMax=end + 1.5, minXRange=MIN_STEPS)
        if self._follow:
            self.view.setXRange(-0.5, end + 0.5, padding=0)
        self._draw()

    def _follow_tsc(self, session: object) -> None:
        """The TSC axis can be shown where every step has its guest TSC."""
        has = session is not None and session.has_guest_tsc()
        self.tsc_box.setEnabled(has)
        self.tsc_box.setToolTip(TSC_AVAILABLE if has else TSC_UNAVAILABLE)
        self.plot.showAxis("top", has and self.tsc_box.isChecked())
        if has and self.tsc_box.isChecked():
            self.tsc_axis.set_source(session.guest_tsc)

    def _show_tsc_axis(self, shown: bool) -> None:
        self._follow_tsc(self.controller.session)

    def _end(self) -> int:
        session = self.controller.session
        return max(self.index.last_step, 0 if session is None else session.step, MIN_STEPS)

    def _stop_following(self, *_: Any) -> None:
        self._follow = False

    def fit(self) -> None:
        """Show every step and follow new ones."""
        self._follow = True
        self.view.setXRange(-0.5, self._end() + 0.5, padding=0)

    # --- drawing ------------------------------------------------------------------------
    def visible_steps(self) -> tuple[float, float]:
        (lo, hi), _ = self.view.viewRange()
        return lo, hi

    def _draw(self, *_: Any) -> None:
        """Render the visible steps into the lane image: one pixel column per screen pixel."""
        lo, hi = self.visible_steps()
        width = max(1, int(self.view.width()))
        self.codes = self.index.render(self.lanes, lo, hi, width)
        self.image.setVisible(bool(self.lanes))
        # The view spans at least MIN_STEPS: the header names only steps the session has.
        session = self.controller.session
        last = max(self.index.last_step, 0 if session is None else session.step, 0)
        first, final = (min(last, max(0, edge)) for edge in (math.ceil(lo), math.floor(hi)))
        shown = f"steps {first}–{final}"
        count = f"{len(self.lanes)} lane{'' if len(self.lanes) == 1 else 's'}"
        self.range_label.setText(f"{shown} of {last + 1}   {count}   "
                                 f"{self.index.seen:,} events")
        if not self.lanes:
            return
        lanes = len(self.lanes)
        table = np.concatenate([self.index.colours.argb(), BACKGROUNDS])
        background = len(table) - 2 + np.arange(lanes) % 2   # each lane's, alternating
        colours = np.where(self.codes == EMPTY, background[:, None], self.codes & COLOUR_MASK)
        pixels = np.empty((lanes, ROWS_PER_LANE, width), np.uint32)
        pixels[:] = table[background][:, None, None]
        pixels[:, 1:-1] = table[colours][:, None]
        self.image.set_pixels(pixels.reshape(lanes * ROWS_PER_LANE, width),
                              QRectF(lo, -0.5, hi - lo, lanes))

    def set_colour_function(self, fn: ColourFunction | None) -> None:
        """Colour marks with fn(rows, first) -> colours ((n, 3|4) uint8 or '#rrggbb' strings,
        one per row of the log's structured rows, rows[0] being log row `first`); None
        restores colouring by kind. Which event a crowded pixel shows still follows the
        kinds' severity."""
        self.index.colour = fn or by_kind
        self.index.reset(self.index.log, self.index.vcpu_count)
        self._on_changed(force=True)

    # --- the mouse --------------------------------------------------------------------------
    def _pick(self, pos: QPointF) -> int | None:
        """The log row under view position `pos` (a lane and a step), or None."""
        lane = round(pos.y())
        if not 0 <= lane < len(self.lanes):
            return None
        lo, hi = self.visible_steps()
        reach = max(0.5, PICK_PX * (hi - lo) / max(1.0, self.view.width()))
        return self.index.event_at(self.lanes[lane], pos.x() - reach, pos.x() + reach,
                                   pos.x())

    def _on_hover(self, scene_pos: QPointF) -> None:
        if not self.view.sceneBoundingRect().contains(scene_pos):
            return
        row = self._pick(self.view.mapSceneToView(scene_pos))
        if row != self.hover_row:
            self.hover_row = row
            log = self.index.log
            # On the image item: QGraphicsView shows only the tooltips of scene items.
            self.image.setToolTip("" if row is None or log is None else log.format_row(row))

    def _on_click(self, pos: QPointF) -> None:
        row = self._pick(pos)
        if row is not None:
            self.select_row(row)

    def select_row(self, row: int) -> None:
        """Travel to log row `row`'s step (when the session can) and announce the row."""
        log, session = self.index.log, self.controller.session
        if log is None or session is None:
            return
        step = int(log.rows(row, row + 1)["step"][0])
        if session.history and step != session.step and not self._busy():
            try:
                self.controller.seek(step)
            except (ValueError, RuntimeError) as exc:
                self.controller.notice.emit(f"cannot go to step {step}: {exc}")
        self.cursor.setValue(step)
        self.event_clicked.emit(row)

    def _show_region(self, start: float, now: float) -> None:
        self.region.setRegion(sorted((start, now)))
        self.region.show()

    def _on_range(self, start: float, end: float) -> None:
        lo, hi = sorted((start, end))
        first, last = max(0, math.ceil(lo)), math.floor(hi)
        if last < first:
            self.region.hide()
            return
        self.region.setRegion((first - 0.5, last + 0.5))
        self.region.show()
        self.range_selected.emit(first, last)

    # --- for callers and tests ---------------------------------------------------------------
    def set_step(self, step: int) -> None:
        """Move the cursor to `step` (the trap log's selection)."""
        self.cursor.setValue(step)

    @property
    def step(self) -> int:
        return round(self.cursor.value())

    def lane_labels(self) -> list[str]:
        return [lane.label for lane in self.lanes]

    def point_of(self, step: float, lane: int) -> QPoint:
        """Where (step, lane) is in the plot's viewport, for a mouse event."""
        scene = self.view.mapViewToScene(QPointF(step, lane))
        at = self.plot.mapFromScene(scene)
        return QPoint(round(at.x()), round(at.y()))
