"""The VFIO panel driven by clicks: MSE on an s390 detached VF under both profiles (spec §4),
undo, the grid's layers and trap outline, BAR/mmap outcomes, and 5.9 beside 5.10."""

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from workbench.gui.controller import SessionController
from workbench.gui.vfio_panel import VfioPanel
from workbench.gui.vfio_panel.grid import TRAP_ROLE
from workbench.session.eventlog import EventKind
from workbench.session.runner import drive
from workbench.session.scenario import load, loads
from workbench.session.session import Session

SCENARIOS = Path(__file__).parents[2] / "resources" / "scenarios"
COMMAND, MSE_BIT = 0x04, 1


def detached_vf(profile: str) -> str:
    return f'''
version = 1
[pci]
platform = "s390"
profile = "{profile}"
[[pci.devices]]
kind = "detached_vf"
name = "dvf"
'''


@pytest.fixture
def panel_on(qtbot):
    def make(session: Session) -> VfioPanel:
        controller = SessionController()
        controller.replace_session(session)
        panel = VfioPanel(controller)
        qtbot.addWidget(panel)
        panel.resize(1300, 900)
        panel.show()
        return panel
    return make


def click(box) -> None:
    QTest.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


def user_mse(panel: VfioPanel) -> int | None:
    model = panel.grid.grid_model
    index = model.cell(COMMAND, MSE_BIT, "user")
    assert model.data(index) == str(model.bit(COMMAND, MSE_BIT, "user"))  # what is painted
    return model.bit(COMMAND, MSE_BIT, "user")


def config_writes(panel: VfioPanel, value: int) -> list[int]:
    log = panel.controller.session.log
    return [int(r) for r in log.select(kinds=[EventKind.VFIO_CONFIG_WRITE])
            if log.row(int(r))["offset"] == COMMAND and log.row(int(r))["value"] == value]


def test_mse_on_a_detached_vf_never_sticks_under_5_9(panel_on):
    panel = panel_on(Session(loads(detached_vf("linux-5.9"))))
    mse = panel.command_bits.boxes["MSE"]
    assert panel.device == "dvf" and not mse.isChecked()
    click(mse)  # opens the device, reads 0, writes MSE=1
    assert config_writes(panel, 0x0002), "the CONFIG_WRITE trap is in the session log"
    assert not mse.isChecked() and user_mse(panel) == 0, "5.9 reads MSE back as 0"
    model = panel.grid.grid_model
    assert model.bit(COMMAND, MSE_BIT, "virt") == 1 and model.bit(COMMAND, MSE_BIT, "phys") == 0
    assert model.data(model.cell(COMMAND, MSE_BIT, "user"), TRAP_ROLE), "the trap is outlined"
    assert not model.data(model.cell(0x00, 0, "user"), TRAP_ROLE)


def test_mse_on_a_detached_vf_reads_back_under_5_10(panel_on):
    panel = panel_on(Session(loads(detached_vf("linux-5.10"))))
    mse = panel.command_bits.boxes["MSE"]
    assert not mse.isChecked()  # not open yet: the device's own MSE, hardwired 0
    click(mse)  # opens the device (vconfig MSE set "for consistency with PFs"), writes 1
    assert config_writes(panel, 0x0002)
    assert mse.isChecked() and user_mse(panel) == 1, "5.10 reads MSE back as 1"
    click(mse)
    assert config_writes(panel, 0x0000)
    assert not mse.isChecked() and user_mse(panel) == 0


def test_grid_click_toggles_through_vfio_and_undo_writes_the_old_value(panel_on, qtbot):
    panel = panel_on(Session(loads(detached_vf("linux-5.10"))))
    controller = panel.controller
    grid = panel.grid
    index = grid.grid_model.cell(COMMAND, 2, "user")  # Bus Master
    grid.scrollTo(index)
    QTest.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton,
                     pos=grid.visualRect(index).center())
    assert panel.command_bits.boxes["Bus Master"].isChecked()
    assert grid.grid_model.word(COMMAND).user == 0x0006
    assert controller.undo_stack.count() == 1
    controller.undo_stack.undo()
    assert controller.session.history[-1].action.value == 0x0002, "the old user value"
    assert not panel.command_bits.boxes["Bus Master"].isChecked()
    phys_cell = grid.grid_model.cell(COMMAND, 2, "phys")
    steps = controller.session.step
    QTest.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton,
                     pos=grid.visualRect(phys_cell).center())
    assert controller.session.step == steps, "the physical layer is not clickable"


def test_looking_leaves_no_trap(panel_on):
    session = Session(load(SCENARIOS / "s390-detached-vf.toml"))
    list(drive(session))
    rows = len(session.log)
    panel = panel_on(session)
    panel.tabs.setCurrentIndex(1)
    panel.refresh()
    assert len(session.log) == rows


def test_bar_and_mmap_outcomes_are_shown(panel_on):
    panel = panel_on(Session(load(SCENARIOS / "x86-sriov-vf.toml")))
    access = panel.bar_access
    assert panel.tree.select("pf")
    QTest.mouseClick(access.buttons["mmap_read"], Qt.MouseButton.LeftButton)
    assert access.result.toolTip().endswith("0x10170000")
    click(panel.command_bits.boxes["MSE"])  # clear: zaps the mapping
    QTest.mouseClick(access.buttons["region_read"], Qt.MouseButton.LeftButton)
    assert "EIO" in access.result.toolTip()
    access.value.setText("0x1234")
    QTest.mouseClick(access.buttons["mmap_write"], Qt.MouseButton.LeftButton)
    assert "SIGBUS" in access.result.toolTip()
    access.offset.setText("zz")
    QTest.mouseClick(access.buttons["region_read"], Qt.MouseButton.LeftButton)
    assert "offset: not a number" in access.result.toolTip()

    s390 = panel_on(Session(loads(detached_vf("linux-5.10"))))
    QTest.mouseClick(s390.bar_access.buttons["mmap_read"], Qt.MouseButton.LeftButton)
    assert "EINVAL" in s390.bar_access.result.toolTip()
    assert "VFIO_PCI_MMAP" in s390.bar_access.result.toolTip()


def test_topology_shows_flags_and_the_pf_sriov_bits(panel_on):
    panel = panel_on(Session(load(SCENARIOS / "x86-sriov-vf.toml")))
    pf = panel.tree.item_of("pf")
    vf = panel.tree.item_of("vf1")
    assert pf.childCount() == 2 and vf.parent() is pf
    assert [vf.text(i) for i in range(6)] == ["vf1", "0000:01:00.2", "VF", "1", "pf", "1"]
    assert panel.tree.select("pf")
    assert panel.sriov_bits.isEnabled()
    assert panel.sriov_bits.boxes["VF Enable"].isChecked()
    click(panel.sriov_bits.boxes["VF Enable"])  # read-only through vfio: dropped
    assert panel.sriov_bits.boxes["VF Enable"].isChecked()
    assert panel.tree.select("vf1") and not panel.sriov_bits.isEnabled()


def test_side_by_side_shows_the_seed_storys_difference(panel_on):
    session = Session(load(SCENARIOS / "s390-detached-vf.toml"))
    panel = panel_on(session)
    for result in drive(session):
        panel.controller.announce(result)
    panel.tabs.setCurrentIndex(1)
    side = panel.profiles
    assert side.isVisible() and side.rows
    states = side.states
    assert states.item(0, 0).text() == "vf"
    assert (states.item(0, 2).text(), states.item(0, 5).text()) == ("0", "1"), "MSE read"
    assert states.item(0, 2).background().color() != states.item(0, 0).background().color()
    differing = side.differing_rows()
    assert any("BAR_RESTORE" in side.events.item(i, 2).text() for i in differing)
    assert side.events.item(differing[0], 2).background().color() != \
        side.events.item(0, 2).background().color(), "differences are tinted"
    assert "lines differ" in side.status.text()


def test_a_scenario_without_pci_disables_the_panel(panel_on):
    panel = panel_on(Session(load(SCENARIOS / "demo.toml")))
    assert not panel.tabs.isEnabled() and "no PCI system" in panel.header.text()
