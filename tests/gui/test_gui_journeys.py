"""One journey per mission workflow, driven through the window's widgets only (keys,
clicks on docks, tabs, buttons and heatmap cells), checking what the user sees as well
as the session underneath."""

from pathlib import Path

from clicks import click_dock_tab
from PySide6.QtCore import QPoint, QPointF, Qt

from workbench.cli import DEMO_SCENARIO
from workbench.gui.bitmaps import layout as lay
from workbench.gui.bitmaps.inspector import ALLOW, DENY
from workbench.gui.log.model import KIND, VALUE
from workbench.session.eventlog import EventKind

S390 = DEMO_SCENARIO.parent / "s390-detached-vf.toml"
HWCR = 0xC0010015


def scene_point(view, item, x: float, y: float) -> QPoint:
    return view.mapFromScene(item.mapToScene(QPointF(x, y)))


def log_texts(window, column: int) -> list[str]:
    model = window.log_panel.model
    return [model.text(model.log_row(r), column) for r in range(model.rowCount())]


def test_journey_edit_the_filter_visually_and_apply(qtbot, make_window):
    window = make_window()
    session = window.controller.session
    assert not session.msr_allowed(HWCR, False)
    click_dock_tab(qtbot, window, "MSR filter")
    editor = window.filter_editor
    offset = HWCR - 0xC0010000  # the demo's one range starts at 0xc0010000, 64 per row
    cell = scene_point(editor.painter.plot, editor.painter.image, offset % 64 + 0.5,
                       offset // 64 + 0.5)
    qtbot.mouseClick(editor.painter.plot.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    assert editor.cell_value(0, offset) == 1 and not session.msr_allowed(HWCR, False)
    qtbot.mouseClick(editor.apply_button, Qt.MouseButton.LeftButton)
    assert session.msr_allowed(HWCR, False) and not session.msr_allowed(HWCR + 1, False)
    assert log_texts(window, KIND)[-1] == "FILTER_SET"
    assert window.bitmaps.pixel("read", HWCR) == ALLOW
    assert window.bitmaps.pixel("read", HWCR + 1) == DENY
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not session.msr_allowed(HWCR, False) and window.bitmaps.pixel("read", HWCR) == DENY


def test_journey_step_to_a_user_space_exit_and_answer_it(qtbot, make_window, filtered):
    window = make_window(filtered)
    panel, session = window.vcpu_panel, window.controller.session
    for _ in range(2):
        qtbot.keyClick(window, Qt.Key.Key_F10)
    assert panel.pending.isVisible() and "0xc0010015" in panel.pending.what.text()
    assert panel.state.text() == "waiting for user space"
    panel.pending.data.clear()
    qtbot.keyClicks(panel.pending.data, "0xfeed")
    qtbot.mouseClick(panel.pending.answer_button, Qt.MouseButton.LeftButton)
    assert log_texts(window, KIND)[-1] == "USER_ANSWER"
    assert log_texts(window, VALUE)[-1] == "0xfeed"
    qtbot.keyClick(window, Qt.Key.Key_F10)  # re-entry completes the RDMSR
    assert session.regs(0).rax == 0xFEED and not panel.pending.isVisible()
    assert panel.registers.item(0, 0).text() == f"{0xFEED:#018x}"
    assert "rax" in panel.registers.changed


def test_journey_select_an_msr_in_the_heatmap_and_see_it_everywhere(qtbot, make_window):
    window = make_window()
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    click_dock_tab(qtbot, window, "Bitmaps")
    bitmaps = window.bitmaps
    row, col = lay.filter_cell(HWCR)
    bitmaps.plots["read"].getViewBox().setRange(xRange=(col - 4, col + 5),
                                                yRange=(row - 4, row + 5), padding=0)
    qtbot.wait(30)
    point = scene_point(bitmaps.graphics, bitmaps.images["read"], col + 0.5, row + 0.5)
    qtbot.mouseClick(bitmaps.graphics.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert window.controller.selected_msr == HWCR
    assert len(bitmaps.markers["read"].data) == 1
    model = window.log_panel.model
    bold = [r for r in range(model.rowCount())
            if model.data(model.index(r, 0), Qt.ItemDataRole.FontRole) is not None
            and model.data(model.index(r, 0), Qt.ItemDataRole.FontRole).bold()]
    assert bold and {model.text(model.log_row(r), 3).split()[0] for r in bold} == {hex(HWCR)}
    assert len(window.filter_editor.painter.marker.data) == 1  # the editor marks it too
    assert window.controller.session.step == 1, "selecting never travels in time"


def test_journey_toggle_mse_on_the_s390_vf_under_both_profiles(qtbot, make_window,
                                                              tmp_path: Path):
    reads = {}
    for profile in ("linux-5.9", "linux-5.10"):
        path = tmp_path / f"s390-{profile}.toml"
        path.write_text(S390.read_text().replace('profile = "linux-5.9"',
                                                 f'profile = "{profile}"'))
        window = make_window(path)
        assert window.status["profile"].text() == f"vfio-pci {profile}"
        click_dock_tab(qtbot, window, "VFIO")
        boxes = window.vfio_panel.command_bits.boxes
        mse = boxes["MSE"]
        qtbot.mouseClick(mse, Qt.MouseButton.LeftButton, pos=QPoint(8, mse.height() // 2))
        checked_after_write = mse.isChecked()
        # pci_set_master: a read-modify-write of the command register, as the driver does.
        master = boxes["Bus Master"]
        qtbot.mouseClick(master, Qt.MouseButton.LeftButton,
                         pos=QPoint(8, master.height() // 2))
        session = window.controller.session
        kinds = [EventKind(k) for k in session.log.column("kind")]
        assert EventKind.VFIO_CONFIG_WRITE in kinds, "the write trapped into vfio-pci"
        bar = window.vfio_panel.bar_access
        qtbot.mouseClick(bar.buttons["region_read"], Qt.MouseButton.LeftButton)
        reads[profile] = (checked_after_write, bar.result.toolTip())
    assert reads["linux-5.9"][0] is False and "EIO" in reads["linux-5.9"][1]
    assert reads["linux-5.10"][0] is True and "EIO" not in reads["linux-5.10"][1]
