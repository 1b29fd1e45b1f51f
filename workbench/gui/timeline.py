"""Events per step by kind: where in the session the traps happened.

One line per group of kinds, counted with numpy (bincount of the step column under a
kind mask) over the rows added since the last refresh, so a free run adding millions of
rows redraws in milliseconds. A vertical line marks the session's current step (or the
one selected in the trap log); clicking the plot selects a step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from workbench.gui import palette
from workbench.gui.controller import SessionController
from workbench.session.eventlog import EventKind, EventLog
from workbench.session.eventlog.kinds import EXIT_KINDS

# (label, kinds, Okabe-Ito colour, symbol): the groups a hypervisor developer tells apart
# at a glance. Each has its own symbol, so series with equal counts stay visible.
GROUPS: tuple[tuple[str, frozenset[EventKind], str, str], ...] = (
    ("MSR exits", frozenset({EventKind.MSR_EXIT}), palette.ORANGE, "o"),
    ("answers", frozenset({EventKind.USER_ANSWER, EventKind.IO_ANSWER}),
     palette.BLUISH_GREEN, "s"),
    ("in-kernel MSR", frozenset({EventKind.MSR_READ, EventKind.MSR_WRITE}), palette.BLUE, "t"),
    ("#GP", frozenset({EventKind.MSR_GP}), palette.VERMILLION, "d"),
    ("other exits", EXIT_KINDS - {EventKind.MSR_EXIT}, palette.REDDISH_PURPLE, "+"),
    ("vfio", frozenset(k for k in EventKind if k.is_vfio), palette.SKY_BLUE, "x"),
)
DASHES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine,
          Qt.PenStyle.DashDotLine, Qt.PenStyle.DashDotDotLine, Qt.PenStyle.SolidLine)
SYMBOL_GLYPH = {"o": "●", "s": "■", "t": "▼", "d": "◆", "+": "+", "x": "×"}


class StepAxis(pg.AxisItem):
    """An x axis of whole steps: no tick between two steps."""

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # noqa: N802,N803
        levels = [(spacing, [v for v in values if float(v).is_integer()])
                  for spacing, values in super().tickValues(minVal, maxVal, size)
                  if spacing >= 1]
        if levels:
            return levels
        return [(1.0, [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)])]


BUSY_HZ = 2


def _lut(kinds: frozenset[EventKind]) -> np.ndarray:
    lut = np.zeros(256, dtype=bool)
    lut[[int(k) for k in kinds]] = True
    return lut


def counts_per_step(steps: np.ndarray, kinds: np.ndarray, lut: np.ndarray,
                    length: int) -> np.ndarray:
    """Rows of the kinds in `lut` per step 0..length-1."""
    return np.bincount(steps[lut[kinds]].astype(np.int64), minlength=length)[:length]


class TimelinePanel(QWidget):
    step_clicked = Signal(int)

    def __init__(self, controller: SessionController,
                 busy: Callable[[], bool] | None = None, parent: QWidget | None = None) -> None:
        """`busy()` says a free run is going: then redraw at BUSY_HZ, not on every sync
        (a redraw costs ~10 ms of the GUI thread, mostly pyqtgraph's axes)."""
        super().__init__(parent)
        self.controller = controller
        self._busy = busy or (lambda: False)
        self._drawn_at = 0.0
        self.plot = pg.PlotWidget(background="w", axisItems={"bottom": StepAxis("bottom")})
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "events")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setMouseEnabled(y=False)
        # Series with equal counts must not hide each other: each keeps its own dash
        # pattern and a hollow symbol, larger the earlier it is drawn (underneath).
        self.curves = {
            label: self.plot.plot([], [], pen=pg.mkPen(colour, width=3 if i == 0 else 2,
                                                        style=DASHES[i]),
                                  symbol=symbol, symbolSize=max(7, 18 - 3 * i),
                                  symbolBrush=None, symbolPen=pg.mkPen(colour, width=2))
            for i, (label, _, colour, symbol) in enumerate(GROUPS)
        }
        # The legend is a label under the plot: inside it would cover data.
        self.legend = QLabel("  ".join(
            f"<span style='color:{colour}'>{SYMBOL_GLYPH[symbol]}</span> {label}"
            for label, _, colour, symbol in GROUPS))
        self._luts = {label: _lut(kinds) for label, kinds, _, _ in GROUPS}
        self._log: EventLog | None = None
        self._seen = 0  # log rows counted into _counts
        self._counts: dict[str, np.ndarray] = {}
        self._rewound = False  # rows we counted were truncated (a new branch of history)
        self._unsubscribe: Callable[[], None] | None = None
        self.line = pg.InfiniteLine(pos=0, angle=90, movable=False,
                                    pen=pg.mkPen("#202020", width=1))
        self.plot.addItem(self.line, ignoreBounds=True)
        self.plot.scene().sigMouseClicked.connect(self._on_click)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.legend)
        controller.changed.connect(self._on_changed)
        self._on_changed()

    def _on_changed(self) -> None:
        """The controller's one refresh path: count new rows, mark the current step. During
        a free run both wait for the next BUSY_HZ tick: moving the marker repaints the whole
        plot, axes included, which a 30 Hz refresh would pay for with the run's speed."""
        if not self.refresh():
            return
        session = self.controller.session
        self.set_step(0 if session is None else session.step)

    def refresh(self, *_: Any) -> bool:
        """Count the rows logged since the last refresh (all of them after a truncate or a
        new session), so a long free run costs per refresh only what it added. False when
        a free run's refresh was left for a later tick."""
        now = time.monotonic()
        if self._busy() and now - self._drawn_at < 1 / BUSY_HZ:
            return False  # the rows wait for a later refresh: counting is incremental
        self._drawn_at = now
        session = self.controller.session
        log = None if session is None else session.log
        rewound, self._rewound = self._rewound, False
        if log is not self._log or rewound or log is None or len(log) < self._seen:
            if self._unsubscribe is not None:
                self._unsubscribe()
            self._unsubscribe = None if log is None else log.subscribe(self._on_batch)
            if log is not self._log:
                self.plot.enableAutoRange()  # another session: forget the old axis range
            self._log, self._seen = log, 0
            self._counts = {label: np.zeros(0, np.int64) for label in self.curves}
        if log is None or len(log) == self._seen:
            self._draw()
            return True
        block = log.rows(self._seen, len(log))
        self._seen = len(log)
        steps, kinds = block["step"], block["kind"]
        length = int(steps[-1]) + 1
        for label, old in self._counts.items():
            counts = counts_per_step(steps, kinds, self._luts[label], length)
            counts[:len(old)] += old
            self._counts[label] = counts
        self._draw()
        return True

    def _on_batch(self, first: int, _last: int) -> None:
        """EventLog observer (maybe in the runner's thread): notes truncations only."""
        if first < self._seen:
            self._rewound = True

    def _draw(self) -> None:
        for label, curve in self.curves.items():
            counts = self._counts[label]
            if counts.any():
                curve.setData(np.arange(len(counts)), counts)
            else:
                curve.setData([], [])

    def set_step(self, step: int) -> None:
        """Move the marker to `step` (the trap log's selection)."""
        self.line.setValue(step)

    @property
    def step(self) -> int:
        return round(self.line.value())

    def _on_click(self, event: Any) -> None:
        view = self.plot.getPlotItem().getViewBox()
        pos: QPointF = event.scenePos()
        if not view.sceneBoundingRect().contains(pos):
            return
        step = max(0, round(view.mapSceneToView(pos).x()))
        self.set_step(step)
        self.step_clicked.emit(step)
