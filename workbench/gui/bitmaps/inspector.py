"""Bitmap inspector: the filter's read/write decisions beside the vCPU's hardware bitmap.

Seeing both at once shows the passthrough guard at work (spec §7): deny FS_BASE writes and
its write bit in the VMX bitmap / MSRPM turns back to "intercept" while the read bit stays
clear. The widget only reads the session; a click selects an MSR through the controller.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from workbench.gui import palette
from workbench.gui.bitmaps import layout as lay
from workbench.gui.bitmaps.cells import Cell, CellImage, CellMarker
from workbench.gui.controller import SessionController
from workbench.kvm.filter import X2APIC_FIRST, X2APIC_LAST
from workbench.kvm.intercepts import NoMsrBitmap, has_msr_bitmap
from workbench.kvm.msrs.catalogue import msr_label

DENY, ALLOW, EXEMPT, GAP = 0, 1, 2, 3
FILTER_COLOURS = (palette.DENY, palette.ALLOW, palette.EXEMPT, "#1b1b1b")
PASSTHROUGH, INTERCEPT = 0, 1
BITMAP_COLOURS = (palette.PASSTHROUGH, palette.INTERCEPT)

# Cell value masks that never change: the gaps between windows and the x2APIC MSRs, which
# the filter never applies to (spec §4).
_GAPS = np.ones((lay.FILTER_ROWS, lay.COLUMNS), dtype=bool)
for _w in range(len(lay.WINDOWS)):
    _GAPS[lay.window_row(_w): lay.window_row(_w) + lay.WINDOW_ROWS] = False
_EXEMPT = np.zeros_like(_GAPS)
_EXEMPT.reshape(-1)[lay.filter_cell(X2APIC_FIRST)[0] * lay.COLUMNS:
                    lay.filter_cell(X2APIC_LAST)[0] * lay.COLUMNS + lay.COLUMNS] = True


def _filter_ticks() -> list[tuple[float, str]]:
    return [(lay.window_row(w), f"{first:#x}") for w, first in enumerate(lay.WINDOWS)]


def _bitmap_ticks(vendor: str) -> list[tuple[float, str]]:
    if vendor == "intel":
        bands = ("read 0x0", "read 0xc0000000", "write 0x0", "write 0xc0000000")
        return [(i * 0x400 * 8 / lay.COLUMNS, name) for i, name in enumerate(bands)]
    return [(i * 0x800 * 8 / lay.COLUMNS, f"{first:#x}") for i, first in enumerate(lay.WINDOWS)]


class BitmapInspector(QWidget):
    """Heatmaps "read", "write" (filter decisions) and "bitmap" (VMX bitmap / MSRPM)."""

    HEATMAPS = ("read", "write", "bitmap")

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.vcpu_box = QComboBox()
        self.vcpu_box.setToolTip("The vCPU whose intercept bitmap is shown")
        self.status = QLabel()
        self.status.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("vCPU"))
        top.addWidget(self.vcpu_box)
        top.addWidget(self.status, 1)
        self.graphics = pg.GraphicsLayoutWidget()
        self.images: dict[str, CellImage] = {}
        self.markers: dict[str, CellMarker] = {}
        self.plots: dict[str, pg.PlotItem] = {}
        titles = {"read": "Filter: read", "write": "Filter: write", "bitmap": "Intercept bitmap"}
        for name in self.HEATMAPS:
            colours = BITMAP_COLOURS if name == "bitmap" else FILTER_COLOURS
            self._add_heatmap(name, titles[name], colours)
        self.plots["read"].getAxis("left").setTicks([_filter_ticks()])
        self.plots["write"].getAxis("left").setTicks([_filter_ticks()])
        legend = QLabel(" ".join(
            f"<span style='color:{colour}'>■</span> {meaning}" for colour, meaning in (
                (palette.ALLOW, "allow"), (palette.DENY, "deny"),
                (palette.EXEMPT, "x2APIC (never filtered)"),
                (palette.PASSTHROUGH, "passthrough"), (palette.INTERCEPT, "intercept"))))
        box = QVBoxLayout(self)
        box.addLayout(top)
        box.addWidget(self.graphics, 1)
        box.addWidget(legend)
        self.vendor = ""
        self.vcpu_box.currentIndexChanged.connect(lambda _: self.refresh())
        controller.changed.connect(self.refresh)
        controller.session_replaced.connect(self._on_session_replaced)
        controller.msr_selected.connect(self._on_selected)
        self._on_session_replaced()
        self.refresh()

    def _add_heatmap(self, name: str, title: str, colours: tuple[str, ...]) -> None:
        plot = self.graphics.addPlot(title=title)
        plot.invertY(True)
        plot.setAspectLocked(True)
        plot.hideButtons()
        # Column offsets in decimal, as the filter editor's painter labels them: short
        # enough that "+0" and "+64" never touch in a docked map.
        plot.getAxis("bottom").setTicks([[(c, f"+{c}") for c in range(0, lay.COLUMNS, 64)]])
        image = CellImage(colours)
        marker = CellMarker()
        plot.addItem(image)
        plot.addItem(marker)
        image.hovered.connect(lambda row, col, n=name: self._hover(n, (row, col)))
        image.clicked.connect(lambda row, col, n=name: self._click(n, (row, col)))
        self.plots[name], self.images[name], self.markers[name] = plot, image, marker

    # --- session events ---------------------------------------------------------------
    def _on_session_replaced(self) -> None:
        session = self.controller.session
        self.vcpu_box.blockSignals(True)
        self.vcpu_box.clear()
        if session is not None:
            self.vcpu_box.addItems([f"vcpu{i}" for i in range(session.vcpu_count)])
        self.vcpu_box.blockSignals(False)
        self.vendor = session.vendor if session is not None else ""
        # The layout's own name: a longer title widened the map past the dock's edge.
        self.plots["bitmap"].setTitle({"intel": "VMX MSR bitmap", "amd": "SVM MSRPM"}.get(
            self.vendor, "Intercept bitmap"))
        if self.vendor in ("intel", "amd"):
            self.plots["bitmap"].getAxis("left").setTicks([_bitmap_ticks(self.vendor)])
        self._on_selected(self.controller.selected_msr)

    def refresh(self) -> bool:
        """Recompute every map; only heatmaps whose cells changed are redrawn. Returns
        whether any did."""
        session = self.controller.session
        if session is None or not session.can_inspect_filter:
            self.status.setText("The heatmaps read the sim engine's filter and bitmaps."
                                if session is not None else "No session.")
            return False
        self.status.setText(f"{session.vendor} · {session.profile}")
        changed = False
        for name, write in (("read", False), ("write", True)):
            cells = np.full((lay.FILTER_ROWS, lay.COLUMNS), GAP, dtype=np.uint8)
            for w, first in enumerate(lay.WINDOWS):
                allowed = session.filter_map(first, lay.WINDOW_MSRS, write)
                row = lay.window_row(w)
                cells[row: row + lay.WINDOW_ROWS] = allowed.reshape(lay.WINDOW_ROWS, -1)
            cells[_EXEMPT] = EXEMPT
            changed |= self.images[name].show_array(cells)
        if not session.vcpu_count:
            self.status.setText(f"{session.vendor} · {session.profile} · no vCPU, no bitmap")
            return self._blank_bitmap() or changed
        vcpu = max(self.vcpu_box.currentIndex(), 0)
        try:
            bitmap = session.msr_bitmap(vcpu)
        except NoMsrBitmap as exc:
            self.status.setText(f"{session.vendor} · {session.profile} · {exc}")
            return self._blank_bitmap() or changed
        changed |= self.images["bitmap"].show_array(lay.unpack(bitmap))
        return changed

    def _blank_bitmap(self) -> bool:
        """Empty the bitmap heatmap (a vendor module without one); whether it showed cells."""
        image = self.images["bitmap"]
        if image.values is None:
            return False
        image.values = None
        image.clear()
        return True

    # --- reading cells ----------------------------------------------------------------
    def _cell(self, name: str, index: int, write: bool) -> Cell | None:
        if name == "bitmap":
            if not has_msr_bitmap(self.vendor):
                return None
            return lay.bitmap_cell(self.vendor, index, write)
        return lay.filter_cell(index)

    def pixel(self, name: str, index: int, write: bool = False) -> int:
        """The value painted for MSR `index` in heatmap `name` ("read", "write" or
        "bitmap"; `write` picks the bitmap's direction). Raises KeyError for an MSR the
        heatmap does not show."""
        values = self.images[name].values
        cell = self._cell(name, index, write)
        if values is None or cell is None:
            raise KeyError(f"{name} heatmap has no cell for MSR {index:#x}")
        return int(values[cell])

    def _owner(self, name: str, cell: Cell) -> tuple[int, bool] | None:
        if name == "bitmap":
            return lay.bitmap_owner(self.vendor, cell)
        index = lay.filter_index(cell)
        return None if index is None else (index, name == "write")

    def describe(self, index: int) -> str:
        """Tooltip text: the MSR, the filter's decisions and its intercept bits."""
        lines = [msr_label(index)]
        if lay.filter_cell(index) is not None and self.images["read"].values is not None:
            words = {DENY: "deny", ALLOW: "allow", EXEMPT: "allow (x2APIC, not filtered)"}
            lines.append(f"filter: read {words[self.pixel('read', index)]}, "
                         f"write {words[self.pixel('write', index)]}")
        if self.images["bitmap"].values is not None and self.vendor in ("intel", "amd"):
            if lay.bitmap_cell(self.vendor, index, False) is None:
                lines.append("intercept: outside the bitmap, every access exits")
            else:
                state = {PASSTHROUGH: "passthrough", INTERCEPT: "exit"}
                lines.append(f"intercept: read {state[self.pixel('bitmap', index, False)]}, "
                             f"write {state[self.pixel('bitmap', index, True)]}")
        return "\n".join(lines)

    def _hover(self, name: str, cell: Cell) -> None:
        owner = self._owner(name, cell) if cell != (-1, -1) else None
        text = "" if owner is None else self.describe(owner[0])
        if owner is not None and name == "bitmap":
            text += f"\nthis cell: {'write' if owner[1] else 'read'} intercept bit"
        self.images[name].setToolTip(text)

    def _click(self, name: str, cell: Cell) -> None:
        owner = self._owner(name, cell)
        if owner is not None:
            self.controller.select_msr(owner[0])

    def _on_selected(self, index: int) -> None:
        for name in self.HEATMAPS:
            cells = [] if index < 0 else [self._cell(name, index, w) for w in (False, True)]
            self.markers[name].mark(sorted({c for c in cells if c is not None}))
