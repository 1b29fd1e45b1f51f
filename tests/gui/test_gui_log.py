"""The trap log: a million rows filtered and scrolled, the filter box, selection and
time travel, batched appends."""


import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu

from workbench.cli import DEMO_SCENARIO
from workbench.gui.log.model import COLUMNS, KIND, MSR
from workbench.session.eventlog import EventKind

ROWS = 1_000_000


def bulk_rows(log, count):
    """`count` MSR rows over 1000 steps after the log's last one, by extend_columns."""
    rng = np.random.default_rng(6)
    first_step = int(log.column("step")[-1]) + 1 if len(log) else 0
    kinds = rng.choice([int(EventKind.MSR_READ), int(EventKind.MSR_EXIT),
                        int(EventKind.USER_ANSWER)], count).astype(np.uint8)
    log.extend_columns(
        kind=kinds, step=first_step + np.arange(count) * 1000 // count, vcpu=0,
        msr=rng.choice([0x10, 0x35, 0xC0010015], count).astype(np.uint32),
        value=rng.integers(0, 1 << 63, count, dtype=np.uint64),
        reason=np.where(kinds == int(EventKind.MSR_EXIT), 4, 0).astype(np.uint8))
    log.flush_observers()


def test_million_rows_filter_and_scroll(qtbot, make_window):
    window = make_window()
    panel, log = window.log_panel, window.controller.session.log
    bulk_rows(log, ROWS)
    panel.refresh()
    assert panel.model.rowCount() == len(log) >= ROWS

    panel.filter_edit.setText("kind=MSR_EXIT msr=0x35")
    assert panel.apply_filter()
    expected = np.count_nonzero((log.column("kind") == EventKind.MSR_EXIT)
                                & (log.column("msr") == 0x35))
    assert panel.model.rowCount() == expected > ROWS // 20

    for fraction in (0.25, 0.5, 0.75, 1.0):
        bar = panel.table.verticalScrollBar()
        bar.setValue(int(bar.maximum() * fraction))
        qtbot.wait(1)
    last = panel.model.rowCount() - 1
    assert panel.model.data(panel.model.index(last, MSR)).startswith("0x35 ")
    assert panel.table.rowAt(panel.table.viewport().height() - 2) > last - 100


def test_bad_filter_names_the_token_and_keeps_the_rows(qtbot, make_window):
    window = make_window()
    panel = window.log_panel
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    shown = panel.model.rowCount()
    qtbot.keyClicks(panel.filter_edit, "kind=MSR_EXIT vcpu=zero")
    qtbot.keyClick(panel.filter_edit, Qt.Key.Key_Return)
    assert panel.filter_error.isVisible()
    assert "vcpu=zero" in panel.filter_error.text()
    assert "border" in panel.filter_edit.styleSheet()
    assert panel.model.rowCount() == shown
    panel.filter_edit.setText("kind=MSR_EXIT reason=FILTER")
    qtbot.waitUntil(lambda: not panel.filter_error.isVisible(), timeout=10_000)
    assert panel.filter_edit.styleSheet() == ""
    assert panel.model.rowCount() == 2   # HWCR and DE_CFG exits
    assert "FILTER 2" in panel.counters.text()


def test_filter_on_this_value_from_a_cell(qtbot, make_window):
    window = make_window()
    panel = window.log_panel
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    model = panel.model
    row = next(r for r in range(model.rowCount())
               if model.data(model.index(r, KIND)) == "MSR_EXIT")
    menu = QMenu()
    panel.filter_action(row, MSR, menu).trigger()
    assert panel.filter_edit.text() == "msr=0x35"
    assert {model.data(model.index(r, MSR)) for r in range(model.rowCount())} == {
        "0x35 MSR_CORE_THREAD_COUNT"}
    panel.filter_action(0, KIND, menu).trigger()
    assert panel.filter_edit.text() == "msr=0x35 kind=MSR_EXIT"
    assert model.rowCount() == 1


def test_selecting_a_row_travels_in_time_and_greys_the_future(qtbot, make_window, filtered):
    window = make_window(filtered)
    panel, session = window.log_panel, window.controller.session
    for _ in range(3):
        qtbot.keyClick(window, Qt.Key.Key_F10)
    rows = len(session.log)
    assert session.step == 3 and panel.model.rowCount() == rows
    first_step1 = panel.model.view_row_of_step(1)
    panel.table.selectRow(first_step1)
    assert session.step == 1
    assert panel.model.rowCount() == rows            # nothing deleted by looking back
    assert "STEP" in panel.details.toPlainText()
    assert window.controller.selected_msr == -1
    assert session.regs(0).rcx == 0xC0010015 and not session.needs_answer(0)
    future = panel.model.index(rows - 1, KIND)
    assert panel.model.data(future, Qt.ItemDataRole.ForegroundRole) is not None
    assert panel.model.data(panel.model.index(0, KIND),
                            Qt.ItemDataRole.ForegroundRole) is None
    assert window.status["step"].text() == "step 1/3"

    resets = []
    panel.model.modelReset.connect(lambda: resets.append(1))
    qtbot.keyClick(window, Qt.Key.Key_F10)           # a new branch: the future is cut
    assert resets and panel.model.rowCount() == len(session.log) < rows + 2
    assert panel.model.future_from == len(session.log)
    panel.table.selectRow(panel.model.view_row_of_step(2) + 1)   # the MSR exit row
    assert window.controller.selected_msr == 0xC0010015


def test_appends_insert_rows_without_reset(qtbot, make_window, filtered):
    window = make_window(filtered)
    model = window.log_panel.model
    inserted, resets = [], []
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    model.modelReset.connect(lambda: resets.append(1))
    qtbot.keyClick(window, Qt.Key.Key_F10)
    qtbot.keyClick(window, Qt.Key.Key_F10)
    assert inserted == [(0, 0), (1, 2)] and not resets
    assert model.data(model.index(2, KIND)) == "MSR_EXIT"
    assert model.data(model.index(2, KIND), Qt.ItemDataRole.BackgroundRole) is not None


def test_columns_a_session_kind_leaves_empty_are_hidden(qtbot, make_window):
    """A VFIO-only scenario has no vCPU: its MSR and Reason columns sat empty and pushed
    Device off the right edge. Each session swap decides again."""
    window = make_window(DEMO_SCENARIO.parent / "s390-detached-vf.toml")
    table = window.log_panel.table

    def shown() -> set[str]:
        return {name for i, name in enumerate(COLUMNS) if not table.isColumnHidden(i)}

    assert {"vCPU", "MSR", "Reason"}.isdisjoint(shown())
    assert {"Device", "Details"} <= shown()
    assert window.open_path(DEMO_SCENARIO)          # vCPUs, no PCI
    assert {"vCPU", "MSR", "Reason"} <= shown() and "Device" not in shown()
