"""Issue 12, defect 13: what a user sees in the docked window at 1280x800 is whole and
stays put (instructions, register names, messages, MSR labels)."""

from pathlib import Path

from clicks import click_dock_tab, click_row
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QFont, QFontMetrics

from workbench.cli import DEMO_SCENARIO
from workbench.gui.vcpu.disassembly import ADDRESS, TEXT
from workbench.gui.vfio_panel.grid import HEX_COLUMN

SRIOV = DEMO_SCENARIO.parent / "x86-sriov-vf.toml"
S390 = DEMO_SCENARIO.parent / "s390-detached-vf.toml"


def test_the_disassembly_shows_whole_addresses_and_instructions_at_1280x800(
        qtbot, make_window):
    window = make_window()
    window.resize(1280, 800)
    view = window.vcpu_panel.disassembly
    for _ in range(3):
        qtbot.keyClick(window, Qt.Key.Key_F10)
        assert view.horizontalScrollBar().value() == 0
        metrics = view.fontMetrics()
        for row in range(view.rowCount()):
            for column in (ADDRESS, TEXT):
                rect = view.visualRect(view.model().index(row, column))
                text = view.item(row, column).text()
                assert rect.left() >= 0 and rect.right() <= view.viewport().width(), text
                assert rect.width() > metrics.horizontalAdvance(text), text


def test_the_vfio_grid_keeps_register_names_and_all_bits_in_view(qtbot, make_window):
    window = make_window(SRIOV)
    window.resize(1280, 800)
    click_dock_tab(qtbot, window, "VFIO")
    grid = window.vfio_panel.grid
    for _ in range(3):  # step 3, clear_memory on vf0, traps on the command register
        qtbot.keyClick(window, Qt.Key.Key_F10)
        assert grid.horizontalScrollBar().value() == 0
    width = grid.viewport().width()
    last = grid.columnViewportPosition(HEX_COLUMN) + grid.columnWidth(HEX_COLUMN)
    assert grid.columnViewportPosition(1) >= 0 and last <= width  # name ... value, whole
    assert grid.viewport().height() >= 7 * grid.rowHeight(0)  # two words and more
    names = grid.grid_model
    row = grid.rowAt(grid.viewport().height() // 2)
    assert grid.visualRect(names.index(row - row % 3, 1)).width() >= grid.fontMetrics(
    ).horizontalAdvance(names.data(names.index(row - row % 3, 1)))


def test_a_long_bar_message_never_resizes_the_panel(qtbot, make_window):
    window = make_window(S390)
    window.resize(1280, 800)
    click_dock_tab(qtbot, window, "VFIO")
    panel = window.vfio_panel
    bar = panel.bar_access
    before = (bar.sizeHint(), bar.height(), panel.grid.height(), window.size(),
              [dock.geometry() for dock in window.docks.values()])
    qtbot.mouseClick(bar.buttons["mmap_read"], Qt.MouseButton.LeftButton)  # EINVAL + a hint
    qtbot.wait(30)
    message = bar.result.toolTip()
    assert "EINVAL" in message and "VFIO_PCI_MMAP" in message
    assert bar.result.fontMetrics().horizontalAdvance(message) > bar.result.width()
    assert (bar.sizeHint(), bar.height(), panel.grid.height(), window.size(),
            [dock.geometry() for dock in window.docks.values()]) == before


UNNAMED = '''
version = 1
name = "an MSR without a name"
[caps]
user_space_msr = ["UNKNOWN"]
[[vcpus]]
source = """
    mov ecx, 0x1234
    rdmsr
    hlt
"""
[[handlers]]
msr = "0x1234"
kind = "constant"
value = "0x7"
'''


def test_an_unnamed_msr_is_labelled_by_its_index_once(qtbot, make_window, tmp_path: Path):
    path = tmp_path / "unnamed.toml"
    path.write_text(UNNAMED)
    window = make_window(path)
    handlers = window.vcpu_panel.handlers
    assert handlers.table.item(0, 0).text() == "0x1234"
    click_row(qtbot, handlers.table, 0)
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    model = window.log_panel.model
    labels = {model.text(model.log_row(r), 3) for r in range(model.rowCount())} - {""}
    assert labels == {"0x1234"}
    click_dock_tab(qtbot, window, "Bitmaps")
    assert window.bitmaps.describe(0x1234).splitlines()[0] == "0x1234"
    assert window.bitmaps.describe(0x10).splitlines()[0] == "0x10 IA32_TSC"
    window.vcpu_panel.msr_breakpoints.index.setText("0x1234")
    tabs = window.vcpu_panel.side_tabs
    qtbot.mouseClick(tabs.tabBar(), Qt.MouseButton.LeftButton,
                     pos=tabs.tabBar().tabRect(1).center())
    qtbot.mouseClick(window.vcpu_panel.msr_breakpoints.add_button, Qt.MouseButton.LeftButton,
                     pos=QPoint(5, 5))
    assert window.vcpu_panel.msr_breakpoints.list.item(0).text() == "0x1234"


def test_the_vcpu_state_stays_readable_beside_the_toolbar(qtbot, make_window, filtered):
    window = make_window(filtered)
    window.resize(1280, 800)
    for _ in range(2):
        qtbot.keyClick(window, Qt.Key.Key_F10)
    qtbot.wait(20)
    state = window.vcpu_panel.state
    assert state.isVisible() and state.text() == state.toolTip() == "waiting for user space"
    assert state.width() >= state.fontMetrics().horizontalAdvance(state.text())


def test_the_filter_bitmap_labels_rows_without_overlap_at_1280x800(qtbot, make_window):
    window = make_window()
    window.resize(1280, 800)
    click_dock_tab(qtbot, window, "MSR filter")
    painter = window.filter_editor.painter
    qtbot.wait(50)
    box = painter.plot.getViewBox()
    ys = [box.mapViewToDevice(QPointF(0, row)).y() for row, _ in painter.row_labels]
    assert len(ys) >= 2 and painter.row_labels[0][1] == "0xc0010000"
    gaps = [b - a for a, b in zip(ys, ys[1:], strict=False)]
    assert min(gaps) >= painter.fontMetrics().height()


def test_every_handler_rule_is_one_whole_row_at_1280x800(qtbot, make_window):
    window = make_window()
    window.resize(1280, 800)
    qtbot.wait(20)
    table = window.vcpu_panel.handlers.table
    assert table.rowCount() == 3 and not table.wordWrap()  # a long name is elided
    for row in range(table.rowCount()):
        rect = table.visualRect(table.model().index(row, 1))
        assert table.viewport().rect().contains(rect), table.item(row, 0).text()


def test_the_docked_heatmaps_are_whole_and_their_column_labels_apart(qtbot, make_window):
    window = make_window()
    window.resize(1280, 800)
    click_dock_tab(qtbot, window, "Bitmaps")
    graphics = window.bitmaps.graphics
    for name, plot in window.bitmaps.plots.items():
        shown = graphics.mapFromScene(plot.sceneBoundingRect()).boundingRect()
        assert graphics.viewport().rect().contains(shown), name  # not cut at the edge
        box = plot.getViewBox()
        left, right = (box.mapViewToDevice(QPointF(x, 0)).x() for x in (0, 64))
        label = QFontMetrics(plot.getAxis("bottom").style["tickFont"] or QFont())
        half_widths = (label.horizontalAdvance("+0") + label.horizontalAdvance("+64")) / 2
        assert right - left > half_widths + 4, name
