"""BitmapInspector: filter decision maps, VMX bitmap / SVM MSRPM cells, hover, selection."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from workbench.gui import palette
from workbench.gui.bitmaps import BitmapInspector
from workbench.gui.bitmaps import layout as lay
from workbench.gui.bitmaps.inspector import ALLOW, DENY, EXEMPT, INTERCEPT, PASSTHROUGH
from workbench.gui.controller import SessionController
from workbench.kvm.filter import MsrFilter, MsrFilterRange
from workbench.kvm.intercepts import intercept_bit
from workbench.session import commands as c
from workbench.session.scenario import loads
from workbench.session.session import Session

SCENARIO = 'version = 1\n[vm]\nvendor = "{vendor}"\n[[vcpus]]\nsource = "hlt"\n'
FS_BASE = 0xC0000100
MOVE_GAP_MS = 12  # pyqtgraph drops mouse moves closer than 10 ms
DENY_FS_BASE_WRITES = MsrFilter(0, (MsrFilterRange(2, FS_BASE, 1, b"\0"),))


def make_inspector(qtbot, vendor: str = "intel") -> BitmapInspector:
    controller = SessionController(Session(loads(SCENARIO.format(vendor=vendor))))
    inspector = BitmapInspector(controller)
    inspector.resize(1000, 650)
    qtbot.addWidget(inspector)
    inspector.show()
    qtbot.waitExposed(inspector)
    qtbot.wait(30)
    return inspector


@pytest.mark.parametrize("vendor", ["intel", "amd"])
def test_denying_fs_base_writes_sets_only_its_write_intercept_bit(qtbot, vendor):
    inspector = make_inspector(qtbot, vendor)
    controller = inspector.controller
    assert inspector.pixel("bitmap", FS_BASE, write=True) == PASSTHROUGH
    assert inspector.pixel("bitmap", FS_BASE, write=False) == PASSTHROUGH
    assert controller.set_filter(DENY_FS_BASE_WRITES).error is None
    assert inspector.pixel("bitmap", FS_BASE, write=True) == INTERCEPT
    assert inspector.pixel("bitmap", FS_BASE, write=False) == PASSTHROUGH
    assert inspector.pixel("write", FS_BASE) == DENY and inspector.pixel("read", FS_BASE) == ALLOW
    # The cell is the hardware bit: same place as intercept_bit says.
    byte, bit = intercept_bit(vendor, FS_BASE, True)
    cells = inspector.images["bitmap"].values.reshape(-1)
    assert cells[byte * 8 + bit] == INTERCEPT
    assert (cells == np.unpackbits(controller.session.msr_bitmap(0), bitorder="little")).all()
    controller.undo_stack.undo()
    assert inspector.pixel("bitmap", FS_BASE, write=True) == PASSTHROUGH


def test_the_filter_maps_follow_filter_map_and_mark_x2apic(qtbot):
    inspector = make_inspector(qtbot)
    session = inspector.controller.session
    rng = MsrFilterRange.from_indices(3, 0x0, 0x1000, [0x10, 0x1B])
    assert inspector.controller.set_filter(MsrFilter(1, (rng,))).error is None
    for first in lay.WINDOWS:
        expected = session.filter_map(first, lay.WINDOW_MSRS, True).astype(np.uint8)
        if first == 0:
            expected[0x800:0x900] = EXEMPT
        shown = [inspector.pixel("write", first + i) for i in range(lay.WINDOW_MSRS)]
        assert shown == expected.tolist()
    assert inspector.pixel("read", 0x10) == ALLOW and inspector.pixel("read", 0x11) == DENY
    assert inspector.pixel("read", 0x830) == EXEMPT
    with pytest.raises(KeyError):
        inspector.pixel("read", 0x40000000)


def test_the_lookup_table_paints_each_value_in_its_own_colour(qtbot):
    inspector = make_inspector(qtbot)
    image = inspector.images["read"]
    image.render()
    row, col = lay.filter_cell(0x830)
    assert image.qimage.pixelColor(col, row).name() == palette.EXEMPT.lower()  # not a blend
    row, col = lay.filter_cell(0x10)
    assert image.qimage.pixelColor(col, row).name() == palette.ALLOW.lower()
    assert image.levels is not None and list(image.levels) == [0, 4]


def test_redraw_only_when_the_cells_change(qtbot):
    inspector = make_inspector(qtbot)
    assert inspector.refresh() is False
    drawn = inspector.images["bitmap"].values
    inspector.controller.apply(c.StepVcpu(vcpu=0))
    assert inspector.images["bitmap"].values is drawn, "a step left the bitmap alone"
    assert inspector.controller.set_filter(DENY_FS_BASE_WRITES).error is None
    assert inspector.images["bitmap"].values is not drawn


def cell_point(inspector: BitmapInspector, name: str, cell: tuple[int, int]) -> QPoint:
    """Viewport pixel of a cell's centre (zoom in first: cells may be ~2 px)."""
    scene = inspector.images[name].mapToScene(QPointF(cell[1] + 0.5, cell[0] + 0.5))
    return inspector.graphics.mapFromScene(scene)


def zoom(qtbot, inspector: BitmapInspector, name: str, cell: tuple[int, int]) -> None:
    row, col = cell
    inspector.plots[name].getViewBox().setRange(xRange=(col - 4, col + 5),
                                                yRange=(row - 4, row + 5), padding=0)
    qtbot.wait(20)


def test_hover_names_the_msr_with_its_decisions_and_intercept_bits(qtbot):
    inspector = make_inspector(qtbot)
    inspector.controller.set_filter(DENY_FS_BASE_WRITES)
    viewport = inspector.graphics.viewport()
    cell = lay.bitmap_cell("intel", FS_BASE, True)
    zoom(qtbot, inspector, "bitmap", cell)
    point = cell_point(inspector, "bitmap", cell)
    qtbot.mouseMove(viewport, point + QPoint(0, 4))
    qtbot.wait(MOVE_GAP_MS)
    qtbot.mouseMove(viewport, point)
    tip = inspector.images["bitmap"].toolTip()
    assert "FS_BASE" in tip and "write deny" in tip and "write exit" in tip
    assert "read passthrough" in tip and "this cell: write" in tip


def test_clicking_a_cell_selects_the_msr_and_every_heatmap_marks_it(qtbot):
    inspector = make_inspector(qtbot)
    controller = inspector.controller
    zoom(qtbot, inspector, "read", lay.filter_cell(0x1B))
    point = cell_point(inspector, "read", lay.filter_cell(0x1B))
    with qtbot.waitSignal(controller.msr_selected, timeout=10_000) as selected:
        qtbot.mouseClick(inspector.graphics.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert selected.args == [0x1B]
    marks = {name: len(inspector.markers[name].data) for name in inspector.HEATMAPS}
    assert marks == {"read": 1, "write": 1, "bitmap": 2}
    x, y = inspector.markers["bitmap"].getData()
    assert (y[0] - 0.5, x[0] - 0.5) == lay.bitmap_cell("intel", 0x1B, False)
    controller.select_msr(-1)
    assert len(inspector.markers["read"].data) == 0


@pytest.mark.parametrize("vendor", ["intel", "amd"])
def test_cells_and_msrs_map_both_ways(vendor):
    for first in lay.WINDOWS:
        for index in (first, first + 1, first + 0x7F, first + 0x80, first + 0x1FFF):
            assert lay.filter_index(lay.filter_cell(index)) == index
            for write in (False, True):
                cell = lay.bitmap_cell(vendor, index, write)
                if cell is None:
                    assert vendor == "intel" and first == 0xC0010000
                else:
                    assert lay.bitmap_owner(vendor, cell) == (index, write)
    assert lay.filter_cell(0x2000) is None and lay.filter_index((lay.WINDOW_ROWS, 0)) is None
    rows = 8192 * 8 // lay.COLUMNS if vendor == "amd" else 4096 * 8 // lay.COLUMNS
    assert lay.unpack(np.zeros(rows * lay.COLUMNS // 8, np.uint8)).shape == (rows, lay.COLUMNS)


def test_session_replaced_switches_to_the_msrpm(qtbot):
    inspector = make_inspector(qtbot)
    assert inspector.images["bitmap"].values.shape == (256, lay.COLUMNS)
    inspector.controller.replace_session(Session(loads(SCENARIO.format(vendor="amd"))))
    assert inspector.images["bitmap"].values.shape == (512, lay.COLUMNS)
    assert "MSRPM" in inspector.plots["bitmap"].titleLabel.text


def test_a_scenario_without_vcpus_shows_the_filter_maps_and_says_why_no_bitmap(qtbot):
    from workbench.gui.bitmaps import BitmapInspector
    from workbench.gui.controller import SessionController
    from workbench.session.scenario import loads
    from workbench.session.session import Session

    controller = SessionController(Session(loads("version = 1\n")))
    inspector = BitmapInspector(controller)
    qtbot.addWidget(inspector)
    inspector.refresh()
    assert "no vCPU" in inspector.status.text()
    assert inspector.pixel("read", 0x10) == 1


def test_pvm_has_no_bitmap_and_says_why(qtbot):
    """kvm_pvm has no VMX bitmap / MSRPM: the filter maps stay, the bitmap heatmap is empty,
    the status says why, and selecting an MSR marks only the filter maps."""
    inspector = make_inspector(qtbot, "intel")
    inspector.controller.replace_session(Session(loads(SCENARIO.format(vendor="pvm"))))
    assert inspector.images["bitmap"].values is None
    assert "no MSR intercept bitmap" in inspector.status.text()
    assert inspector.pixel("read", FS_BASE) == ALLOW
    with pytest.raises(KeyError):
        inspector.pixel("bitmap", FS_BASE)
    inspector.controller.select_msr(FS_BASE)
    assert "intercept" not in inspector.describe(FS_BASE)
