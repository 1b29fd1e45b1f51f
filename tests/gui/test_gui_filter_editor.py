"""FilterEditor: painting, applying, kernel rejections inline, undo, lane drags, order."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from workbench.gui.bitmaps import BitmapInspector
from workbench.gui.controller import SessionController
from workbench.gui.filter_editor import FilterEditor
from workbench.gui.filter_editor.table import NMSRS, READ_COL, WRITE_COL
from workbench.kvm.filter import MsrFilter, MsrFilterRange
from workbench.session import commands as c
from workbench.session.scenario import loads
from workbench.session.session import Session

SCENARIO = 'version = 1\n[vm]\nvendor = "{vendor}"\n[[vcpus]]\nsource = "hlt"\n'
RW = 3
MOVE_GAP_MS = 12  # pyqtgraph drops mouse moves closer than 10 ms (mouseRateLimit 100/s)


def make_controller(vendor: str = "intel", msr_filter: MsrFilter | None = None
                    ) -> SessionController:
    controller = SessionController(Session(loads(SCENARIO.format(vendor=vendor))))
    if msr_filter is not None:
        assert controller.set_filter(msr_filter).error is None
        controller.undo_stack.clear()
    return controller


@pytest.fixture
def editor(qtbot):
    """An editor on a filter allowing 0x10..0x4f (read+write) with a default of deny."""
    controller = make_controller(msr_filter=MsrFilter(1, (
        MsrFilterRange(RW, 0x10, 64, b"\xff" * 8),)))
    widget = FilterEditor(controller)
    widget.resize(900, 700)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.wait(30)  # let the views settle their ranges before tests map cells to pixels
    return widget


def view_point(plot_widget, item, x: float, y: float) -> QPoint:
    """Viewport pixel of item coordinates (x, y), for real mouse events."""
    scene = item.mapToScene(QPointF(x, y))
    return plot_widget.mapFromScene(scene)


def cell_point(editor: FilterEditor, row: int, col: int) -> QPoint:
    return view_point(editor.painter.plot, editor.painter.image, col + 0.5, row + 0.5)


def drag(qtbot, widget, points: list[QPoint]) -> None:
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=points[0])
    for point in points[1:]:
        qtbot.wait(MOVE_GAP_MS)
        qtbot.mouseMove(widget, point)
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=points[-1])


def hover(qtbot, widget, point: QPoint) -> None:
    """Arrive from a neighbouring pixel, as a real pointer does."""
    qtbot.mouseMove(widget, point + QPoint(3, 0))
    qtbot.wait(MOVE_GAP_MS)
    qtbot.mouseMove(widget, point)


def test_painting_a_cell_and_applying_changes_the_decision_and_the_heatmap(qtbot, editor):
    controller = editor.controller
    inspector = BitmapInspector(controller)
    qtbot.addWidget(inspector)
    session = controller.session
    assert session.msr_allowed(0x10, False) and inspector.pixel("read", 0x10) == 1
    viewport = editor.painter.plot.viewport()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=cell_point(editor, 0, 0))
    assert editor.cell_value(0, 0) == 0
    assert session.msr_allowed(0x10, False), "nothing reaches the kernel before Apply"
    assert editor.apply().error is None
    assert not session.msr_allowed(0x10, False) and not session.msr_allowed(0x10, True)
    assert session.msr_allowed(0x11, False)
    assert inspector.pixel("read", 0x10) == 0 and inspector.pixel("write", 0x10) == 0
    assert inspector.pixel("read", 0x11) == 1


def test_a_drag_paints_every_cell_it_crosses(qtbot, editor):
    viewport = editor.painter.plot.viewport()
    drag(qtbot, viewport, [cell_point(editor, 0, 2), cell_point(editor, 0, 5),
                           cell_point(editor, 0, 9)])
    assert [editor.cell_value(0, i) for i in range(1, 11)] == [1] + [0] * 8 + [1]
    assert editor.cell_value(0, 64) == 2, "past nmsrs"


def test_a_drag_from_a_denied_cell_paints_allow(qtbot, editor):
    editor.painter.fill(0)
    drag(qtbot, editor.painter.plot.viewport(), [cell_point(editor, 0, 4),
                                                 cell_point(editor, 0, 6)])
    assert [editor.cell_value(0, i) for i in range(2, 9)] == [0, 0, 1, 1, 1, 0, 0]


def test_flags_neither_read_nor_write_is_rejected_inline_and_the_edit_stays(qtbot, editor):
    session = editor.controller.session
    before = session.msr_filter()
    editor.table.set_checked(0, READ_COL, False)
    editor.table.set_checked(0, WRITE_COL, False)
    result = editor.apply()
    assert "ranges[0].flags" in result.error
    assert session.msr_filter() == before
    assert editor.banner.isVisible() and "EINVAL" in editor.banner.text()
    assert "ranges[0].flags" in editor.banner.text()
    assert editor.table.error_row == 0
    assert editor.table.item(0, READ_COL).checkState() == Qt.CheckState.Unchecked
    assert editor.table.item(0, WRITE_COL).checkState() == Qt.CheckState.Unchecked
    assert editor.controller.undo_stack.count() == 0


def test_nmsrs_13000_is_rejected_naming_the_field(qtbot, editor):
    session = editor.controller.session
    before = session.msr_filter()
    editor.table.set_text(0, NMSRS, "13000")
    editor.apply()
    assert session.msr_filter() == before
    assert "EINVAL" in editor.banner.text() and "ranges[0].nmsrs" in editor.banner.text()
    assert editor.table.item(0, NMSRS).text() == "13000"
    assert editor.table.item(0, NMSRS).font().bold()
    # Fixing the field and applying again clears the banner.
    editor.table.set_text(0, NMSRS, "0x20")
    assert editor.apply().error is None
    assert editor.banner.isHidden() and editor.table.error_row is None
    assert session.msr_filter().ranges[0].nmsrs == 0x20


def test_default_deny_without_ranges_points_at_the_default_action(qtbot, editor):
    editor.remove_range(0)
    result = editor.apply()
    assert result.error is not None and editor.rejection.field == "flags"
    assert "EINVAL" in editor.banner.text() and editor.default_box.styleSheet()
    editor.revert()
    assert editor.banner.isHidden() and not editor.default_box.styleSheet()
    assert editor.table.rowCount() == 1


def test_values_past_u32_reach_the_kernel_check(qtbot, editor):
    editor.table.set_text(0, 0, "0x1_0000_0000")
    result = editor.apply()
    assert "ranges[0].base" in result.error and "u32" in result.error
    assert editor.table.item(0, 0).text() == "0x1_0000_0000"


def test_text_that_is_not_a_number_never_reaches_the_kernel(qtbot, editor):
    steps = editor.controller.session.step
    editor.table.set_text(0, 0, "fs_base")
    assert editor.apply() is None
    assert editor.controller.session.step == steps
    assert "ranges[0].base" in editor.banner.text()


def test_undo_restores_the_previous_filter_and_the_editor_shows_it(qtbot, editor):
    controller = editor.controller
    before = controller.session.msr_filter()
    editor.add_range()
    editor.default_box.setCurrentIndex(0)
    assert editor.apply().error is None
    assert len(controller.session.msr_filter().ranges) == 2
    controller.undo_stack.undo()
    assert controller.session.msr_filter() == before
    assert editor.table.rowCount() == 1 and editor.default_box.currentText() == "deny"
    controller.undo_stack.redo()
    assert editor.table.rowCount() == 2 and editor.default_box.currentText() == "allow"


def test_dragging_a_lane_region_changes_base_in_the_table(qtbot, editor):
    lane = editor.lane
    region = lane.regions[0]
    box = lane.plot.getViewBox()
    lo, hi = region.getRegion()
    middle_y = box.viewRange()[1][0] + 0.5 * (box.viewRange()[1][1] - box.viewRange()[1][0])
    start = view_point(lane.plot, box.childGroup, (lo + hi) / 2, middle_y)
    end = view_point(lane.plot, box.childGroup, (lo + hi) / 2 + 0x100, middle_y)
    drag(qtbot, lane.plot.viewport(), [start, QPoint((start.x() + end.x()) // 2, start.y()),
                                       end])
    base = int(editor.table.item(0, 0).text(), 16)
    assert 0x10 + 0xC0 <= base <= 0x10 + 0x140
    assert editor.table.item(0, NMSRS).text() == "64", "a move keeps nmsrs"
    assert editor.draft.ranges[0].base == base


def test_reordering_ranges_changes_the_decision_for_an_msr_in_both(qtbot, editor):
    session = editor.controller.session
    editor.add_range()                      # ranges[1]: 0x0..0x3f, all denied
    editor.table.set_text(1, 0, "0x0")
    assert editor.apply().error is None
    assert session.msr_allowed(0x10, False), "ranges[0] (allow) matches first"
    editor.move_range(1, -1)
    assert editor.draft.ranges[0].base == 0 and editor.current_row() == 0
    assert editor.apply().error is None
    assert not session.msr_allowed(0x10, False), "now the deny range matches first"


def test_hovering_a_cell_names_the_msr(qtbot, editor):
    editor.table.set_text(0, 0, "0x1b")
    hover(qtbot, editor.painter.plot.viewport(), cell_point(editor, 0, 0))
    assert "APIC_BASE" in editor.painter.image.toolTip()
    assert editor.painter.image.toolTip().startswith("0x1b IA32_APIC_BASE\n")
    lane = editor.lane
    box = lane.plot.getViewBox()
    lane.plot.setXRange(0x30, 0x50, padding=0)  # a few pixels per MSR
    qtbot.wait(20)
    hover(qtbot, lane.plot.viewport(), view_point(lane.plot, box.childGroup, 0x3A + 0.5, 0.5))
    assert lane.plot.toolTip() == "0x3a IA32_FEATURE_CONTROL"


def test_lane_window_selector_zooms_to_the_high_window(qtbot, editor):
    editor.lane.window_box.setCurrentIndex(1)
    lo, hi = editor.lane.plot.getViewBox().viewRange()[0]
    assert lo < 0xC0000000 + 0x100 and 0xC0002000 - 0x100 < hi < 0xC0003000


def test_session_replaced_reloads_the_editor(qtbot, editor):
    editor.table.set_text(0, NMSRS, "13000")
    editor.controller.replace_session(Session(loads(SCENARIO.format(vendor="amd"))))
    assert editor.table.rowCount() == 0 and editor.default_box.currentText() == "allow"


def test_other_commands_do_not_reset_the_edit(qtbot, editor):
    editor.table.set_text(0, NMSRS, "0x30")
    editor.controller.apply(c.StepVcpu(vcpu=0))
    assert editor.table.item(0, NMSRS).text() == "0x30"
