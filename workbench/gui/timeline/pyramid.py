"""One lane's marks at every level of detail, so a frame costs pixels, not events.

Level 0 holds one entry per step that has events in the lane: (step, code), the code the
most severe of them (marks.py). Level k holds one entry per bucket of 2**k steps, the
maximum of level k-1's two halves. A view that shows S steps per pixel reads the level
whose buckets are just narrower than a pixel, a contiguous slice found by searchsorted:
at most about two entries per pixel column whatever the log holds.

Rows arrive in step order (the log's steps never decrease), so appending only ever
merges into a level's last entry; a truncated log (a new branch of history) cuts each
level and rebuilds its last bucket from the level below.
"""

from __future__ import annotations

import math

import numpy as np


class _Column:
    """A growable 1-d array: appends amortised O(new entries)."""

    def __init__(self, dtype: type) -> None:
        self.data = np.empty(16, dtype)
        self.n = 0

    def view(self) -> np.ndarray:
        return self.data[:self.n]

    def extend(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self.data):
            grown = np.empty(max(need, 2 * len(self.data)), self.data.dtype)
            grown[:self.n] = self.data[:self.n]
            self.data = grown
        self.data[self.n:need] = values
        self.n = need


def reduce_max(keys: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys with repeats -> unique keys and the maximum code of each."""
    if len(keys) == 0:
        return keys, codes
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[starts], np.maximum.reduceat(codes, starts)


class Level:
    def __init__(self) -> None:
        self.keys = _Column(np.int64)
        self.codes = _Column(np.uint32)

    def __len__(self) -> int:
        return self.keys.n

    def merge(self, keys: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Append unique sorted (keys, codes) whose first key may equal our last; return
        the entries that changed (the merged last one first), for the level above."""
        n = self.keys.n
        if n and len(keys) and keys[0] == self.keys.data[n - 1]:
            last = max(int(self.codes.data[n - 1]), int(codes[0]))
            self.codes.data[n - 1] = last
            changed_keys, changed_codes = keys, np.concatenate(([last], codes[1:]))
            keys, codes = keys[1:], codes[1:]
        else:
            changed_keys, changed_codes = keys, codes
        self.keys.extend(keys)
        self.codes.extend(codes.astype(np.uint32, copy=False))
        return changed_keys, changed_codes.astype(np.uint32, copy=False)

    def cut(self, key: int) -> None:
        """Drop the entries whose key is `key` or later."""
        at = int(np.searchsorted(self.keys.view(), key, side="left"))
        self.keys.n = self.codes.n = at


class Pyramid:
    def __init__(self) -> None:
        self.levels: list[Level] = [Level()]

    @property
    def last_step(self) -> int:
        """The last step with an entry, -1 if none."""
        base = self.levels[0]
        return int(base.keys.data[base.keys.n - 1]) if len(base) else -1

    def append(self, steps: np.ndarray, codes: np.ndarray) -> None:
        """Add events (steps ascending, not before last_step) with their codes."""
        keys, codes = reduce_max(steps.astype(np.int64, copy=False), codes)
        k = 0
        while len(keys):
            level = self.levels[k]
            keys, codes = level.merge(keys, codes)
            if k + 1 == len(self.levels):
                if len(level) <= 1:
                    return  # one bucket holds everything: no coarser level is needed yet
                self.levels.append(Level())  # a new level is built from all of this one
                keys, codes = level.keys.view(), level.codes.view()
            keys, codes = reduce_max(keys >> 1, codes)
            k += 1

    def cut(self, step: int) -> None:
        """Forget every event at `step` or later."""
        below: Level | None = None
        for k, level in enumerate(self.levels):
            bucket = step >> k
            level.cut(bucket)
            if below is not None:  # the bucket's part before `step`, from the level below
                tail = slice(int(np.searchsorted(below.keys.view(), bucket << 1)), below.keys.n)
                keys, codes = reduce_max(below.keys.view()[tail] >> 1,
                                         below.codes.view()[tail])
                level.merge(keys, codes)
            below = level

    def steps(self, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        """The steps within [lo, hi] that have events, and their codes (level 0)."""
        level = self.levels[0]
        keys = level.keys.view()
        first = int(np.searchsorted(keys, math.ceil(lo), side="left"))
        last = int(np.searchsorted(keys, math.floor(hi), side="right"))
        return keys[first:last], level.codes.view()[first:last]

    def query(self, lo: float, hi: float, steps_per_pixel: float
              ) -> tuple[np.ndarray, np.ndarray, int]:
        """Entries overlapping steps [lo, hi] at the finest level whose buckets are no
        wider than a pixel: (first steps of the buckets, codes, level)."""
        k = max(0, min(int(np.floor(np.log2(max(steps_per_pixel, 1.0)))),
                       len(self.levels) - 1))
        level = self.levels[k]
        keys = level.keys.view()
        first = int(np.searchsorted(keys, int(np.floor(lo)) >> k, side="left"))
        last = int(np.searchsorted(keys, int(np.ceil(hi)) >> k, side="right"))
        return keys[first:last] << k, level.codes.view()[first:last], k
