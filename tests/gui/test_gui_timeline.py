"""The timeline: events per step by kind, its marker following the log selection."""

from pyqtgraph import Point
from PySide6.QtCore import QPoint, Qt


def test_counts_per_step_and_marker_follow_the_log(qtbot, make_window, filtered):
    window = make_window(filtered)
    timeline, panel = window.timeline, window.log_panel
    for _ in range(2):
        qtbot.keyClick(window, Qt.Key.Key_F10)
    x, y = timeline.curves["MSR exits"].getData()
    assert list(x) == [0, 1, 2] and list(y) == [0, 0, 1]
    assert timeline.curves["vfio"].getData()[0] is None or not len(
        timeline.curves["vfio"].getData()[0])

    panel.table.selectRow(panel.model.view_row_of_step(2))
    assert timeline.step == 2
    panel.table.selectRow(panel.model.view_row_of_step(1))
    assert timeline.step == 1


def test_clicking_the_plot_selects_that_step_in_the_log(qtbot, make_window):
    window = make_window()
    qtbot.keyClick(window, Qt.Key.Key_F10)
    qtbot.keyClick(window, Qt.Key.Key_F10)
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    window.docks["timeline"].raise_()
    timeline = window.timeline
    timeline.plot.setXRange(0, 3, padding=0)
    qtbot.wait(10)
    view = timeline.plot.getPlotItem().getViewBox()
    scene_pos = view.mapViewToScene(Point(2, view.viewRect().center().y()))
    widget_pos = timeline.plot.mapFromScene(scene_pos)
    qtbot.mouseClick(timeline.plot.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(round(widget_pos.x()), round(widget_pos.y())))
    assert timeline.step == 2
    selected = window.log_panel.table.selectionModel().selectedRows()
    log_row = window.log_panel.model.log_row(selected[0].row())
    assert window.controller.session.log.row(log_row)["step"] == 2
    assert window.controller.session.step == 2


def test_counts_start_over_when_the_log_is_cut(qtbot, make_window, filtered):
    window = make_window(filtered)
    timeline = window.timeline
    for _ in range(3):
        qtbot.keyClick(window, Qt.Key.Key_F10)
    window.log_panel.select_step(1)        # back in time; the later rows stay
    assert window.controller.session.step == 1
    qtbot.keyClick(window, Qt.Key.Key_F10)  # a new step 2 replaces steps 2 and 3
    x, y = timeline.curves["MSR exits"].getData()
    assert list(x) == [0, 1, 2] and list(y) == [0, 0, 1]
    assert timeline.curves["answers"].getData()[0] is None or not len(
        timeline.curves["answers"].getData()[0])
