"""The timeline's data: the log's rows sorted into lanes, drawn as one image per frame.

A lane is a vCPU, a PCI device (the `device` column) or the VM itself (rows with
neither: filter and capability ioctls). Each lane keeps a Pyramid of mark codes, filled
incrementally from the rows the log gained since the last refresh; `render` turns the
visible step range into an (lanes, pixels) array of codes, one per pixel column, so a
frame's cost follows the widget's width, never the log's length. No Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.gui.timeline.marks import (
    SEVERITY_SHIFT,
    ColourFunction,
    ColourTable,
    by_kind,
    categories,
)
from workbench.gui.timeline.pyramid import Pyramid, reduce_max
from workbench.session.eventlog import EventLog

INGEST_ROWS = 1 << 20   # rows read from the log at a time (a copy of ~60 MB at most)
LOOKUP_ROWS = 1 << 18   # rows of one step a hover or click looks through at most
VM_KEY = 0              # lane keys: 0 the VM, 1 + vCPU, DEVICE_BASE + device id
DEVICE_BASE = 1 << 15
MARK_PX = 4.0           # half the widest a single step's mark gets when zoomed in
EMPTY = -1


@dataclass(frozen=True)
class Lane:
    key: int
    label: str


def lane_keys(rows: np.ndarray) -> np.ndarray:
    """Each row's lane key (int32)."""
    vcpu = rows["vcpu"].astype(np.int32)
    device = rows["device"].astype(np.int32)
    return np.where(vcpu >= 0, vcpu + 1, np.where(device >= 0, device + DEVICE_BASE, VM_KEY))


class LaneIndex:
    def __init__(self) -> None:
        self.colours = ColourTable()
        self.colour: ColourFunction = by_kind
        self.log: EventLog | None = None
        self.vcpu_count = 0
        self.seen = 0
        self.pyramids: dict[int, Pyramid] = {}

    def reset(self, log: EventLog | None, vcpu_count: int) -> None:
        """Start over on `log` (another session, or new colours)."""
        self.log, self.vcpu_count, self.seen = log, vcpu_count, 0
        self.pyramids = {}
        self.colours = ColourTable()

    def ingest(self) -> bool:
        """Take in the rows logged since the last call; whether there were any."""
        log = self.log
        if log is None or self.seen == len(log):
            return False
        while self.seen < len(log):
            last = min(len(log), self.seen + INGEST_ROWS)
            self._add(log.rows(self.seen, last), self.seen)
            self.seen = last
        return True

    def _add(self, rows: np.ndarray, first: int) -> None:
        keys = lane_keys(rows)
        codes = self.colours.codes(rows, first, self.colour)
        steps = rows["step"]
        for key in np.flatnonzero(np.bincount(keys)).tolist():
            mine = keys == key
            self.pyramids.setdefault(key, Pyramid()).append(steps[mine], codes[mine])

    def cut(self, first: int) -> None:
        """Rows `first` and later were truncated (maybe replaced): forget their steps."""
        if self.log is None or first >= self.seen:
            return
        if first == 0:
            self.reset(self.log, self.vcpu_count)
            return
        step = int(self.log.rows(first - 1, first)["step"][0])
        for pyramid in self.pyramids.values():
            pyramid.cut(step)
        self.seen = self.log.row_of_step(step)

    # --- what there is ------------------------------------------------------------------
    def lanes(self) -> list[Lane]:
        """vCPUs, then PCI devices, then the VM: every lane the session has, with rows or
        not (an idle vCPU is worth seeing), and any lane its rows name."""
        devices = {} if self.log is None else self.log.devices
        keys = set(self.pyramids) | {1 + v for v in range(self.vcpu_count)}
        keys |= {DEVICE_BASE + d for d in devices}
        if self.vcpu_count:
            keys.add(VM_KEY)
        out = []
        for key in sorted(keys, key=lambda k: (k == VM_KEY, k)):
            if key == VM_KEY:
                out.append(Lane(key, "VM ioctls"))
            elif key < DEVICE_BASE:
                out.append(Lane(key, f"vcpu{key - 1}"))
            else:
                out.append(Lane(key, devices.get(key - DEVICE_BASE, f"device {key - DEVICE_BASE}")))
        return out

    @property
    def last_step(self) -> int:
        """The last step any lane has an event at (-1: none)."""
        return max((p.last_step for p in self.pyramids.values()), default=-1)

    # --- drawing ------------------------------------------------------------------------
    def render(self, lanes: list[Lane], lo: float, hi: float, width: int) -> np.ndarray:
        """Codes per lane and pixel column for steps [lo, hi] over `width` pixels (EMPTY
        where no event falls): each column holds its most severe event's code."""
        out = np.full((len(lanes), width), EMPTY, np.int64)
        if width <= 0 or hi <= lo:
            return out
        per_px = (hi - lo) / width
        cells, marks = [], []   # flat (lane * width + column) indices and their codes
        for row, lane in enumerate(lanes):
            pyramid = self.pyramids.get(lane.key)
            if pyramid is None:
                continue
            keys, codes, k = pyramid.query(lo - 1, hi + 1, per_px)
            if not len(keys):
                continue
            if k == 0:  # one step: a mark centred on it, at most 2 * MARK_PX wide; marks
                # are at most 0.8 of a step wide, so they never overlap and cells ascend
                centre = (keys - lo) / per_px
                half = min(max(0.4 / per_px, 0.5), MARK_PX)
                start, end = np.floor(centre - half + 0.5), np.floor(centre + half + 0.5)
            else:       # a bucket of 2**k steps: the pixels it spans
                start = np.floor((keys - 0.5 - lo) / per_px)
                end = np.floor((keys + (1 << k) - 0.5 - lo) / per_px)
            end = np.maximum(end, start + 1)
            seen = (end > 0) & (start < width)   # a mark just off screen stays off it
            start = np.clip(start[seen], 0, width - 1).astype(np.int64)
            lengths = np.clip(end[seen], 1, width).astype(np.int64) - start
            codes = codes[seen].astype(np.int64)
            if len(lengths) and lengths.max() > 1:   # zoomed in: marks wider than a pixel
                offsets = np.arange(int(lengths.sum())) - np.repeat(
                    np.cumsum(lengths) - lengths, lengths)
                start, codes = np.repeat(start, lengths) + offsets, np.repeat(codes, lengths)
            cells.append(start + row * width)
            marks.append(codes)
        if cells:   # cells ascend (lanes in order, columns sorted): reduce runs, no ufunc.at
            flat, codes = reduce_max(np.concatenate(cells), np.concatenate(marks))
            out.ravel()[flat] = codes
        return out

    # --- finding one event ----------------------------------------------------------------
    def event_at(self, lane: Lane, lo: float, hi: float, centre: float) -> int | None:
        """The log row to show for steps [lo, hi] of `lane`: the most severe event, at the
        step nearest `centre` among equals, the first logged among those. None: nothing.
        The step comes from the lane's own marks, so only that step's rows are read."""
        log, pyramid = self.log, self.pyramids.get(lane.key)
        if log is None or pyramid is None:
            return None
        keys, codes = pyramid.steps(lo, hi)
        if not len(keys):
            return None
        distance = np.abs(keys - centre)
        step = int(keys[np.lexsort((distance, -(codes >> SEVERITY_SHIFT).astype(np.int64)))[0]])
        first = log.row_of_step(step)
        last = min(log.row_of_step(step + 1), first + LOOKUP_ROWS, self.seen)
        rows = log.rows(first, last)
        mine = np.flatnonzero(lane_keys(rows) == lane.key)
        if not len(mine):
            return None
        return first + int(mine[np.argmax(categories(rows[mine]))])
