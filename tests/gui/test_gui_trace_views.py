"""The trace-viewer views (issue 13): the Statistics dock, colouring rules, the display
filter's in-place errors, the step-range filter and File -> Export."""

import csv
import json

import pytest
from PySide6.QtCore import Qt

from workbench.gui import palette
from workbench.gui.colour_rules import DEFAULT_RULES, ColourRulesDialog, tint
from workbench.gui.log.model import KIND, STEP
from workbench.gui.settings import Settings
from workbench.gui.timeline.lanes import EMPTY
from workbench.gui.timeline.marks import COLOUR_MASK
from workbench.session.eventlog import EventKind
from workbench.session.eventlog.colouring import ColourRule
from workbench.session.eventlog.stats import compute


def _ran(qtbot, window):
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    window.stats_panel.refresh()
    return window.controller.session.log


def _table(panel, title):
    model = panel.table_models[title]
    return [[model.item(r, c).text() for c in range(model.columnCount())]
            for r in range(model.rowCount())]


def test_statistics_dock_counts_and_a_double_click_filters_the_log(qtbot, make_window):
    window = make_window()
    log = _ran(qtbot, window)
    panel = window.stats_panel
    expected = compute(log).table("MSRs")
    shown = _table(panel, "MSRs")
    assert [row[0] for row in shown] == [row.label for row in expected.rows]
    assert [[int(v) for v in row[1:]] for row in shown] == [list(r.counts)
                                                             for r in expected.rows]
    row = next(i for i, r in enumerate(shown) if r[0].startswith("0x35 "))
    view = panel.table_views["MSRs"]
    panel.activate("MSRs", row)
    assert window.log_panel.filter_edit.text() == "msr=0x35"
    model = window.log_panel.model
    assert model.rowCount() > 0
    assert all(log.row(model.log_row(r))["msr"] == 0x35 for r in range(model.rowCount()))
    view.sortByColumn(1, Qt.SortOrder.DescendingOrder)  # reads, as numbers
    reads = [int(r[1]) for r in _table(panel, "MSRs")]
    assert reads == sorted(reads, reverse=True)


def test_statistics_scopes_follow_the_log_filter_and_the_step_range(qtbot, make_window):
    window = make_window()
    log = _ran(qtbot, window)
    panel = window.stats_panel
    window.log_panel.set_filter_text("kind=MSR_EXIT and reason=FILTER")
    panel.scope.setCurrentIndex(2)
    reasons = dict((r[0], int(r[1])) for r in _table(panel, "Exit reasons"))
    assert reasons["MSR exit FILTER"] == 2 and reasons["MSR exit UNKNOWN"] == 0
    last = int(log.column("step")[-1])
    window.log_panel.set_step_range(last, last)
    panel.scope.setCurrentIndex(1)
    assert f"steps {last}–{last}" in panel.scope_note.text()
    count = int((log.column("step") == last).sum())
    assert panel.statistics.events == count
    assert {log.row(window.log_panel.model.log_row(r))["step"]
            for r in range(window.log_panel.model.rowCount())} <= {last}


def test_live_rates_are_shown_during_a_free_run(qtbot, make_window, loop):
    window = make_window(loop)
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: "UNKNOWN" in window.stats_panel.rates.text(), timeout=20_000)
    # The tables wait for the run to stop, and say so (they once read "0 events" meanwhile).
    note = window.stats_panel.scope_note.text()
    assert "counted when the run stops" in note and "so far" in note
    window.runner.pause()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    assert "/s" in window.stats_panel.rates.text()


def _background(model, kind):
    row = next(r for r in range(model.rowCount())
               if model.data(model.index(r, KIND)) == kind.name)
    return model.data(model.index(row, STEP), Qt.ItemDataRole.BackgroundRole)


def test_a_colouring_rule_colours_matching_rows_and_is_saved(qtbot, make_window, settings):
    window = make_window()
    _ran(qtbot, window)
    model = window.log_panel.model
    gp = _background(model, EventKind.MSR_GP)
    assert gp.color() == tint(palette.VERMILLION)  # a default rule
    before = _background(model, EventKind.HLT)
    rule = ColourRule("halts", "kind=HLT", palette.BLUE)
    window.set_colour_rules([rule, *DEFAULT_RULES])
    after = _background(model, EventKind.HLT)
    assert after.color() == tint(palette.BLUE) != (before.color() if before else None)
    assert Settings(settings.fileName()).colour_rules() == [rule, *DEFAULT_RULES]
    window.set_colour_rules([])
    assert _background(model, EventKind.MSR_GP).color() != tint(palette.VERMILLION)
    assert Settings(settings.fileName()).colour_rules() == []


def test_a_colouring_rule_colours_the_timeline_marks(qtbot, make_window):
    window = make_window()
    _ran(qtbot, window)
    timeline = window.timeline
    blue = int(palette.BLUE[1:], 16)

    def mark_colours() -> set[int]:
        marked = timeline.codes[timeline.codes != EMPTY]
        return {timeline.index.colours.rgb[c & COLOUR_MASK] for c in marked}

    assert blue not in mark_colours()
    # A free run is one step: its crowded mark shows the most severe event, the #GP.
    window.set_colour_rules([ColourRule("#GP", "kind=MSR_GP", palette.BLUE)])
    assert blue in mark_colours()
    window.set_colour_rules([])
    assert blue not in mark_colours()


def test_colour_rules_dialog_edits_the_ordered_list(qtbot):
    dialog = ColourRulesDialog(list(DEFAULT_RULES))
    qtbot.addWidget(dialog)
    dialog.add_rule()
    dialog.filter_edit.selectAll()
    qtbot.keyClicks(dialog.filter_edit, "kind=HLT and (")
    assert dialog.filter_error.isVisibleTo(dialog) and "^" in dialog.filter_error.text()
    assert "border" in dialog.filter_edit.styleSheet()
    for _ in " and (":  # back to "kind=HLT"
        qtbot.keyClick(dialog.filter_edit, Qt.Key.Key_Backspace)
    assert not dialog.filter_error.isVisibleTo(dialog)
    dialog.set_current(colour=palette.YELLOW)
    for _ in range(len(DEFAULT_RULES)):
        dialog.move_rule(-1)
    rules = dialog.rules()
    assert rules[0] == ColourRule("new rule", "kind=HLT", palette.YELLOW)
    dialog.remove_rule()
    assert dialog.rules() == list(DEFAULT_RULES)


def test_a_filter_syntax_error_is_shown_in_place_with_its_position(qtbot, make_window):
    window = make_window()
    _ran(qtbot, window)
    panel = window.log_panel
    shown = panel.model.rowCount()
    assert not panel.set_filter_text("kind=MSR_EXIT and (vcpu=0 or")
    assert panel.filter_error.isVisible() and "border" in panel.filter_edit.styleSheet()
    text, caret = panel.filter_error.text().splitlines()[:2]
    assert text == "kind=MSR_EXIT and (vcpu=0 or" and caret.index("^") == len(text)
    assert panel.model.rowCount() == shown
    assert panel.set_filter_text("msr=IA32_TSC or value>0xfff")
    assert not panel.filter_error.isVisible()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_reads_back_as_the_rows_shown(qtbot, make_window, tmp_path, fmt):
    window = make_window()
    log = _ran(qtbot, window)
    assert window.log_panel.set_filter_text("kind=MSR_EXIT or kind=MSR_GP or vcpu!=0")
    model = window.log_panel.model
    path = tmp_path / f"log.{fmt}"
    assert window.export_log(fmt, path)
    with path.open(newline="") as f:
        read = list(csv.DictReader(f)) if fmt == "csv" else [json.loads(line) for line in f]
    assert [int(r["row"]) for r in read] == [model.log_row(i) for i in range(model.rowCount())]
    for r in read:
        row = log.row(int(r["row"]))
        assert r["kind"] == row["kind"].name and int(r["step"]) == row["step"]
        assert int(r["msr"]) == row["msr"] and int(r["value"]) == row["value"]
    assert [r["kind"] for r in read] == [model.data(model.index(i, KIND))
                                         for i in range(model.rowCount())]
    stats_path = tmp_path / "stats.csv"
    assert window.export_statistics(stats_path)
    with stats_path.open(newline="") as f:
        lines = [row for row in csv.reader(f) if row]
    assert [row[1] for row in lines if row[0] == "table"] == ["MSR", "vCPU", "Device",
                                                             "Exit reason"]
    assert any(row[:2] == ["MSRs", "0x35 MSR_CORE_THREAD_COUNT"] for row in lines)


def test_a_long_filter_error_never_widens_the_colour_rules_dialog(qtbot):
    """An error listing every field name once grew the dialog past the screen, OK and
    Cancel with it."""
    dialog = ColourRulesDialog(list(DEFAULT_RULES))
    qtbot.addWidget(dialog)
    dialog.show()
    width = dialog.width()
    dialog.filter_edit.selectAll()
    qtbot.keyClicks(dialog.filter_edit, "kind=MSR_GP and (v")
    assert "fields: row, step" in dialog.filter_error.text()
    qtbot.wait(50)
    assert dialog.minimumSizeHint().width() <= width and dialog.width() == width


def test_the_colour_rules_dialog_opens_wide_enough_to_read_each_default_rule(qtbot):
    dialog = ColourRulesDialog(list(DEFAULT_RULES))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.wait(20)
    assert dialog.list.sizeHintForColumn(0) <= dialog.list.viewport().width()
