"""The Profiles dock driven through its widgets: the open scenario under two profiles in
two event columns, the first differing event marked, selected and scrolled to, each
difference explained by its switch and commit; the switch list flags inferred facts."""

from pathlib import Path

from PySide6.QtCore import Qt

from workbench.gui.controller import SessionController
from workbench.gui.profile_columns_view import FIRST_DIFFERENCE, INFERRED, WHY, A, B
from workbench.gui.profile_compare_view import ProfileCompareView
from workbench.session.scenario import load
from workbench.session.session import Session

SCENARIOS = Path(__file__).parents[2] / "resources" / "scenarios"
PROTECT = "'KVM: x86: Protect the unused bits in MSR exiting flags' (cf5029d5dd7c), v5.19"


def open_view(qtbot, scenario: str, a: str, b: str) -> ProfileCompareView:
    controller = SessionController()
    controller.replace_session(Session(load(SCENARIOS / scenario)))
    view = ProfileCompareView(controller)
    qtbot.addWidget(view)
    view.resize(900, 260)
    view.show()
    view.profile_a.setCurrentText(a)
    view.profile_b.setCurrentText(b)
    qtbot.mouseClick(view.compare_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.result is not None, timeout=10_000)
    return view


def texts(view: ProfileCompareView, column: int) -> list[str]:
    table = view.columns.table
    return [table.item(row, column).text() for row in range(table.rowCount())]


def test_kvm_scenario_in_two_event_columns_with_the_first_difference_marked(qtbot):
    view = open_view(qtbot, "lts-differences.toml", "linux-5.10", "linux-6.18")
    table, first = view.columns.table, view.columns.first_row
    assert view.tabs.currentWidget() is view.columns
    assert [table.horizontalHeaderItem(c).text() for c in (A, B)] == ["linux-5.10",
                                                                      "linux-6.18"]
    assert (table.item(first, A).text(), table.item(first, B).text()) == (
        "enable_cap: allowed", "enable_cap: EINVAL")
    assert table.item(first, A).background().color() == FIRST_DIFFERENCE
    assert table.item(first, 0).text().startswith("▶")
    assert table.selectionModel().isRowSelected(first)
    assert table.item(first, WHY).text() == (
        f"allowed under linux-5.10, EINVAL under linux-6.18: {PROTECT} "
        "(switch strict_user_space_msr_mask)")
    # Both runs are there in full: the guest's filtered TSC read only under 6.18.
    assert any("MSR_EXIT rdmsr 0x10 (IA32_TSC) reason=FILTER" in t for t in texts(view, B))
    assert not any("MSR_EXIT rdmsr 0x10" in t for t in texts(view, A))
    (atomic,) = [t for t in texts(view, WHY) if "atomic_filter_update" in t]
    assert "'KVM: x86: Protect userspace MSR filter with SRCU" in atomic


def test_pci_scenario_first_difference_is_scrolled_to_and_explained(qtbot):
    view = open_view(qtbot, "vfio-lts-differences.toml", "linux-6.12", "linux-6.18")
    table, first = view.columns.table, view.columns.first_row
    assert first > 10, "the ROM BAR read comes late in the story"
    assert "-> 0xfffe0001" in table.item(first, A).text()
    assert "-> 0x00000000" in table.item(first, B).text()
    assert table.item(first, WHY).text().endswith(
        "'vfio/pci: Remove shadow ROM specific code paths' (c5a8b5d740ef), v6.14 "
        "(switch rom_bar_from_setup_data)")
    item_rect = table.visualItemRect(table.item(first, A))
    assert table.viewport().rect().contains(item_rect.center()), "scrolled into view"
    assert table.item(first, A).background().color() == FIRST_DIFFERENCE


def test_pci_scenario_d3hot_gate_under_5_15_and_6_18(qtbot):
    view = open_view(qtbot, "vfio-lts-differences.toml", "linux-5.15", "linux-6.18")
    table, first = view.columns.table, view.columns.first_row
    assert "PHYS_CONFIG_WRITE" in table.item(first, A).text()
    assert "MMAP_ZAP" in table.item(first, B).text()
    assert "'vfio/pci: Invalidate mmaps and block the access in D3hot power state'" in \
        table.item(first, WHY).text()
    assert any("REGION_BLOCKED" in t for t in texts(view, B))
    assert not any("REGION_BLOCKED" in t for t in texts(view, A))
    assert sum(bool(t) for t in texts(view, WHY)) == 2  # D3hot, then the ROM BAR


def test_switch_list_flags_inferred_facts(qtbot):
    view = open_view(qtbot, "lts-differences.toml", "linux-5.15", "linux-6.1")
    table = view.switches
    rows = {table.item(r, 1).text(): r for r in range(table.rowCount())}
    hoist = rows["filter_flags_checked_first"]
    assert table.item(hoist, 5).text() == "inferred"
    assert table.item(hoist, 5).background().color() == INFERRED
    d3hot = rows["d3hot_gate"]
    assert [table.item(d3hot, c).text() for c in (0, 2, 3)] == ["vfio-pci", "False", "True"]
    assert "2b2c651baf1c" in table.item(d3hot, 4).text()
    assert table.item(rows["row 11f"], 5).text() == "inferred"
    assert table.item(rows["strict_user_space_msr_mask"], 5).text() == ""


def test_both_columns_and_the_explanation_fit_a_docked_panel(qtbot):
    """At the dock's width on a 1280x800 screen, A, B and the explanation are all in view
    (fixed 380 px columns once pushed B half out of it and the explanation entirely)."""
    view = open_view(qtbot, "lts-differences.toml", "linux-5.10", "linux-6.18")
    view.resize(730, 300)
    qtbot.wait(50)
    table = view.columns.table
    for column in (A, B, WHY):
        right = table.columnViewportPosition(column) + table.columnWidth(column)
        assert table.columnViewportPosition(column) >= 0 and right <= table.viewport().width()
    assert abs(table.columnWidth(A) - table.columnWidth(B)) <= 1


def test_event_lines_are_shown_whole_when_docked(qtbot):
    """Rows once kept a fixed height, eliding the end of each wrapped event line."""
    view = open_view(qtbot, "lts-differences.toml", "linux-5.10", "linux-6.18")
    view.resize(730, 300)
    qtbot.wait(50)
    table = view.columns.table
    assert any(table.sizeHintForRow(row) > table.verticalHeader().defaultSectionSize()
               for row in range(table.rowCount()))
    for row in range(table.rowCount()):
        assert table.rowHeight(row) >= table.sizeHintForRow(row), row
