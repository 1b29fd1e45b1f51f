"""The Diff dock: recording B beside the open session, its first divergent step, B stepping
in lock-step with the session, and what differs at the current step."""

from PySide6.QtCore import Qt

from tests.session.recording_loop import LOOP_SCENARIO, record_session
from tests.session.test_recording_diff import STEPS, change_event_value, tampered
from workbench.session.recording import Recorder
from workbench.session.recording.diff import Difference
from workbench.session.scenario import loads
from workbench.session.session import Session


def recorded(tmp_path):
    path = tmp_path / "a.jsonl"
    record_session(path, STEPS).close()
    return path


def test_a_recording_diffed_with_itself_agrees_at_every_step(make_window, tmp_path):
    path = recorded(tmp_path)
    window = make_window(path)
    assert window.diff_with(path)
    view = window.diff_view
    assert window.docks["diff"].isVisible()
    assert view.first_divergence is None
    assert "no divergence" in view.title.text()
    assert not view.go_button.isEnabled()
    for step in (3, 6, 0, 2):
        window.controller.seek(step)
        assert view.replay.step == step          # B follows the session's step
        assert view.differences == []
        assert view.table.item(0, 0).text() == "events: same"


def test_a_tampered_copy_shows_the_tampered_step(qtbot, make_window, tmp_path):
    path = recorded(tmp_path)
    copy = tampered(path, 5, change_event_value)
    window = make_window(path)
    window.controller.seek(2)
    assert window.diff_with(copy)
    view = window.diff_view
    assert view.first_divergence == 5
    assert view.differences == []                # step 2 agrees
    qtbot.mouseClick(view.go_button, Qt.MouseButton.LeftButton)
    assert window.controller.session.step == view.replay.step == 5
    [(kind, difference)] = view.differences
    assert kind == "events" and difference.what == "event 1"
    assert "(HWCR) -> 0x0 " in difference.a and "(HWCR) -> 0x1 " in difference.b
    assert "first divergence at step 5" in view.title.text()
    shown = [view.table.item(row, 0).text() for row in range(view.table.rowCount())]
    assert shown == ["events: differ", "event 1", "registers: same", "MSRs: same"]


def test_registers_that_differ_are_listed(make_window, tmp_path):
    path = recorded(tmp_path)
    other = tmp_path / "other.jsonl"
    session = Session(loads(LOOP_SCENARIO.replace("inc r13", "add r13, 2")))
    recorder = Recorder.start(session, other)
    for command in STEPS:
        session.apply(command)
    recorder.close()
    session.close()
    window = make_window(path)
    assert window.diff_with(other)
    view = window.diff_view
    assert view.first_divergence == 0
    assert "first divergence: the scenario" in view.title.text()
    window.controller.seek(5)
    assert ("registers", Difference("vcpu0 r13", "0x1", "0x2")) in view.differences


def test_an_unreadable_recording_is_named_and_nothing_changes(make_window, tmp_path):
    window = make_window(recorded(tmp_path))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{}\n")
    assert not window.diff_with(bad)
    assert window.diff_view.replay is None
    assert f"Cannot diff with {bad}" in window.diff_view.title.text()


def test_a_long_event_line_is_shown_whole(qtbot, make_window, tmp_path):
    """Rows once kept a fixed height, eliding the end of a wrapped event line: where the
    differing value usually is."""
    path = recorded(tmp_path)
    copy = tampered(path, 5, change_event_value)
    window = make_window(path)
    window.controller.seek(5)
    assert window.diff_with(copy)
    dock, table = window.docks["diff"], window.diff_view.table
    dock.setFloating(True)
    dock.resize(520, 400)           # event lines wrap to three or more lines
    qtbot.wait(50)
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "event 1")
    assert table.sizeHintForRow(row) > table.verticalHeader().defaultSectionSize()
    assert table.rowHeight(row) >= table.sizeHintForRow(row)
