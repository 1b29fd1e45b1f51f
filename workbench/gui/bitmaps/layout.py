"""Where each MSR sits in the inspector's heatmaps, in both directions.

Filter maps: the three windows the hardware bitmaps cover (spec §7), 0x2000 MSRs each,
stacked top to bottom as 64 rows of 128 MSRs with a blank gap between windows.
Hardware maps: the VMX MSR bitmap / SVM MSRPM byte for byte, one cell per bit (bit 0 of
byte 0 first), 128 bits per row, so read-low, read-high, write-low and write-high (VMX)
or the three MSRPM vectors fall on whole-row bands.
"""

from __future__ import annotations

import numpy as np

from workbench.gui.bitmaps.cells import Cell
from workbench.kvm.intercepts import MSR_BITMAP_WINDOWS as WINDOWS
from workbench.kvm.intercepts import WINDOW_MSRS, has_msr_bitmap, intercept_bit, intercept_owner

COLUMNS = 128
WINDOW_ROWS = WINDOW_MSRS // COLUMNS
GAP_ROWS = 2
FILTER_ROWS = len(WINDOWS) * WINDOW_ROWS + (len(WINDOWS) - 1) * GAP_ROWS


def window_row(window: int) -> int:
    """First heatmap row of filter window `window`."""
    return window * (WINDOW_ROWS + GAP_ROWS)


def filter_cell(index: int) -> Cell | None:
    for window, first in enumerate(WINDOWS):
        if first <= index < first + WINDOW_MSRS:
            rel = index - first
            return window_row(window) + rel // COLUMNS, rel % COLUMNS
    return None


def filter_index(cell: Cell) -> int | None:
    row, col = cell
    window, row_in = divmod(row, WINDOW_ROWS + GAP_ROWS)
    if window >= len(WINDOWS) or row_in >= WINDOW_ROWS or not 0 <= col < COLUMNS:
        return None
    return WINDOWS[window] + row_in * COLUMNS + col


def bitmap_cell(vendor: str, index: int, write: bool) -> Cell | None:
    where = intercept_bit(vendor, index, write)
    if where is None:
        return None
    byte, bit = where
    return divmod(byte * 8 + bit, COLUMNS)


def bitmap_owner(vendor: str, cell: Cell) -> tuple[int, bool] | None:
    """(MSR index, write) whose intercept bit a hardware-map cell is; None for unused bits."""
    if not has_msr_bitmap(vendor):
        return None
    byte, bit = divmod(cell[0] * COLUMNS + cell[1], 8)
    return intercept_owner(vendor, byte, bit)


def unpack(bitmap: np.ndarray) -> np.ndarray:
    """A byte bitmap as uint8 cells, one per bit, rows of COLUMNS bits."""
    return np.unpackbits(np.asarray(bitmap, dtype=np.uint8), bitorder="little").reshape(
        -1, COLUMNS)
