"""The timeline: lanes, zoom and pan, picking an event, range filtering, the cursor."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QHelpEvent, QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolTip

from workbench.cli import DEMO_SCENARIO
from workbench.gui.timeline.lanes import EMPTY
from workbench.gui.timeline.marks import CATEGORIES, COLOUR_MASK, categories

S390 = DEMO_SCENARIO.parent / "s390-detached-vf.toml"
NO_BUTTON = Qt.MouseButton.NoButton
NO_MODIFIER = Qt.KeyboardModifier.NoModifier


@pytest.fixture(autouse=True)
def every_mouse_move():
    """pyqtgraph drops mouse moves closer than 1/mouseRateLimit s apart; synthetic moves
    come faster than that, and a dropped move would turn a drag into a click."""
    limit = pg.getConfigOption("mouseRateLimit")
    pg.setConfigOptions(mouseRateLimit=-1)
    yield
    pg.setConfigOptions(mouseRateLimit=limit)


def wheel(widget, pos: QPoint, clicks: int) -> None:
    """Turn the mouse wheel `clicks` notches (positive: away from the user, zoom in)."""
    event = QWheelEvent(QPointF(pos), QPointF(widget.mapToGlobal(pos)), QPoint(0, 0),
                        QPoint(0, 120 * clicks), NO_BUTTON, NO_MODIFIER,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def drag(widget, start: QPoint, end: QPoint, button=Qt.MouseButton.LeftButton,
         modifiers=NO_MODIFIER) -> None:
    """Press, move in steps with the button held, release: a real mouse drag."""
    QTest.mousePress(widget, button, modifiers, start)
    for i in range(1, 6):
        at = start + (end - start) * i / 5
        QApplication.sendEvent(widget, QMouseEvent(
            QMouseEvent.Type.MouseMove, QPointF(at), QPointF(widget.mapToGlobal(at)),
            NO_BUTTON, button, modifiers))
    QTest.mouseRelease(widget, button, modifiers, end)


def hover(widget, at: QPoint) -> None:
    QApplication.sendEvent(widget, QMouseEvent(
        QMouseEvent.Type.MouseMove, QPointF(at), QPointF(widget.mapToGlobal(at)), NO_BUTTON,
        NO_BUTTON, NO_MODIFIER))


def steps_on(window, count: int) -> None:
    for _ in range(count):
        QTest.keyClick(window, Qt.Key.Key_F10)


def timeline_of(window):
    window.docks["timeline"].raise_()
    return window.timeline


def test_lanes_name_each_vcpu_and_each_pci_device(qtbot, make_window):
    window = make_window(DEMO_SCENARIO)
    assert timeline_of(window).lane_labels() == ["vcpu0", "VM ioctls"]
    steps_on(window, 12)
    assert window.timeline.visible_steps()[1] > 12
    window.open_path(S390)   # another scenario: its lanes, its steps
    timeline = window.timeline
    log = window.controller.session.log
    assert timeline.lane_labels() == [log.devices[d] for d in sorted(log.devices)]
    assert timeline.lane_labels()[0].count(":") == 2   # a PCI address
    lo, hi = timeline.visible_steps()
    assert lo < 0 <= window.controller.session.step < hi < 12
    assert not timeline.tsc_box.isEnabled() and "without vCPUs" in timeline.tsc_box.toolTip()


def test_the_guest_tsc_axis_labels_each_step_with_vcpu0s_tsc(qtbot, make_window):
    window = make_window(DEMO_SCENARIO)
    timeline = timeline_of(window)
    assert not timeline.tsc_box.isEnabled()   # no step yet
    steps_on(window, 6)
    session = window.controller.session
    assert timeline.tsc_box.isEnabled()
    assert not timeline.plot.getPlotItem().getAxis("top").isVisible()
    qtbot.mouseClick(timeline.tsc_box, Qt.MouseButton.LeftButton)
    top = timeline.plot.getPlotItem().getAxis("top")
    assert top.isVisible()
    tscs = [session.guest_tsc(step) for step in range(7)]
    assert all(t is not None for t in tscs) and tscs == sorted(tscs) and tscs[6] > tscs[0]
    assert top.tickStrings([0.0, 3.0, 6.0], 1.0, 1.0) == [f"{tscs[s]:,}" for s in (0, 3, 6)]
    window.controller.seek(2)      # back in time: the axis still names every step's TSC
    assert top.tickStrings([6.0], 1.0, 1.0) == [f"{tscs[6]:,}"]
    steps_on(window, 1)            # a new branch replaces the later steps' TSCs
    assert session.guest_tsc(4) is None and session.guest_tsc(3) is not None


def test_wheel_zooms_and_drag_pans_the_visible_steps(qtbot, make_window, loop):
    window = make_window(loop)
    steps_on(window, 40)
    timeline = timeline_of(window)
    timeline.view.setXRange(-0.5, 40.5, padding=0)
    viewport = timeline.plot.viewport()
    middle = timeline.point_of(20, 0)
    lo, hi = timeline.visible_steps()
    wheel(viewport, middle, 3)
    zoomed = timeline.visible_steps()
    assert zoomed[1] - zoomed[0] < (hi - lo) * 0.8
    assert zoomed[0] < 20 < zoomed[1]
    drag(viewport, middle, middle + QPoint(200, 0))
    panned = timeline.visible_steps()
    assert panned[0] < zoomed[0] and abs((panned[1] - panned[0]) - (zoomed[1] - zoomed[0])) < 1e-6
    wheel(viewport, middle, -6)
    assert timeline.visible_steps()[1] - timeline.visible_steps()[0] > zoomed[1] - zoomed[0]


def test_clicking_a_mark_selects_its_event_and_travels_there(qtbot, make_window, filtered):
    window = make_window(filtered)
    steps_on(window, 3)
    timeline = timeline_of(window)
    timeline.view.setXRange(-0.5, 4.5, padding=0)
    at = timeline.point_of(2, 0)
    hover(timeline.plot.viewport(), at)
    qtbot.mouseClick(timeline.plot.viewport(), Qt.MouseButton.LeftButton, pos=at)
    session, panel = window.controller.session, window.log_panel
    selected = panel.table.selectionModel().selectedRows()
    row = panel.model.log_row(selected[0].row())
    record = session.log.row(row)
    assert record["step"] == 2 and record["vcpu"] == 0
    at_step = session.log.rows(session.log.row_of_step(2), session.log.row_of_step(3))
    assert categories(session.log.rows(row, row + 1))[0] == categories(at_step).max()
    assert session.step == 2 and timeline.step == 2
    assert timeline.image.toolTip() == session.log.format_row(row)   # the hover said so
    assert timeline.future.isVisible()   # step 3 is now history ahead: faded, still clickable
    qtbot.mouseClick(timeline.plot.viewport(), Qt.MouseButton.LeftButton,
                     pos=timeline.point_of(3, 0))
    assert session.step == 3 and not timeline.future.isVisible()


def test_hover_shows_the_events_trap_log_line(qtbot, make_window, filtered):
    window = make_window(filtered)
    steps_on(window, 2)
    timeline = timeline_of(window)
    timeline.view.setXRange(-0.5, 4.5, padding=0)
    hover(timeline.plot.viewport(), timeline.point_of(2, 0))
    log = window.controller.session.log
    assert "MSR_EXIT" in timeline.image.toolTip()
    assert timeline.image.toolTip() == log.format_row(timeline.hover_row)
    at = timeline.point_of(2, 0)   # resting there: Qt's tooltip event shows that line
    viewport = timeline.plot.viewport()
    QApplication.sendEvent(viewport, QHelpEvent(QEvent.Type.ToolTip, at, viewport.mapToGlobal(at)))
    assert QToolTip.text() == log.format_row(timeline.hover_row)
    hover(timeline.plot.viewport(), timeline.point_of(2, 1))   # the empty VM lane
    assert timeline.image.toolTip() == ""


def test_a_dragged_range_filters_the_trap_log(qtbot, make_window, filtered):
    window = make_window(filtered)
    steps_on(window, 4)
    timeline = timeline_of(window)
    timeline.view.setXRange(-0.5, 5.5, padding=0)
    viewport = timeline.plot.viewport()
    drag(viewport, timeline.point_of(0.7, 0), timeline.point_of(2.3, 0),
         modifiers=Qt.KeyboardModifier.ShiftModifier)
    panel = window.log_panel
    assert "step=1-2" in panel.filter_edit.text()
    shown = {panel.model.record(panel.model.log_row(r))["step"]
             for r in range(panel.model.rowCount())}
    assert shown == {1, 2}
    assert timeline.visible_steps() == (-0.5, 5.5)   # selecting is not panning
    drag(viewport, timeline.point_of(3.4, 0), timeline.point_of(2.6, 0),
         button=Qt.MouseButton.RightButton)
    assert "step=3-3" in panel.filter_edit.text() and "step=1-2" not in panel.filter_edit.text()


def test_the_cursor_follows_steps_seeks_and_runs(qtbot, make_window, loop):
    window = make_window(loop)
    timeline = timeline_of(window)
    steps_on(window, 3)
    assert timeline.step == window.controller.session.step == 3
    window.controller.seek(1)
    assert timeline.step == 1
    assert timeline.future.isVisible() and timeline.future.getRegion() == (1.5, 3.5)
    QTest.keyClick(window, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)   # step back
    assert timeline.step == 0
    QTest.keyClick(window, Qt.Key.Key_F5)
    qtbot.wait(200)
    QTest.keyClick(window, Qt.Key.Key_F5, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    session = window.controller.session
    assert session.step > 0 and timeline.step == session.step
    assert not timeline.future.isVisible()   # the run replaced the later steps
    assert timeline.index.seen == len(session.log)


def test_a_new_branch_of_history_drops_the_old_marks(qtbot, make_window, filtered):
    window = make_window(filtered)
    timeline = timeline_of(window)
    steps_on(window, 3)
    assert timeline.index.last_step == 3
    window.log_panel.select_step(1)         # back in time: later marks stay until...
    assert timeline.index.last_step == 3
    QTest.keyClick(window, Qt.Key.Key_F10)  # ...a new step 2 replaces steps 2 and 3
    assert timeline.index.last_step == 2
    timeline.fit()
    column = timeline.codes[0]
    lo, hi = timeline.visible_steps()
    at_3 = int((3 - lo) / (hi - lo) * len(column))
    assert (column[at_3 - 2:at_3 + 3] == EMPTY).all()


def test_a_colour_function_recolours_the_marks(qtbot, make_window, filtered):
    window = make_window(filtered)
    steps_on(window, 2)
    timeline = timeline_of(window)
    timeline.set_colour_function(lambda rows, _first: ["#123456"] * len(rows))
    marked = timeline.codes[timeline.codes != EMPTY]
    assert marked.size and {timeline.index.colours.rgb[c & COLOUR_MASK] for c in marked} == {
        0x123456}
    timeline.set_colour_function(None)
    marked = timeline.codes[timeline.codes != EMPTY]
    defaults = {int(c.colour[1:], 16) for c in CATEGORIES}
    assert {timeline.index.colours.rgb[c & COLOUR_MASK] for c in marked} <= defaults
    assert np.any(timeline.image.pixels & 0xFFFFFF != 0xFFFFFF)


def test_the_header_never_shows_steps_past_the_sessions_end(qtbot, make_window):
    """A short session's view spans MIN_STEPS: the header once read "steps 0–4 of 2"
    (steps 0 and 1 being all there is)."""
    window = make_window(DEMO_SCENARIO)
    steps_on(window, 1)
    timeline = timeline_of(window)
    last = window.controller.session.step
    assert timeline.range_label.text().startswith(f"steps 0–{last} of {last + 1} ")
