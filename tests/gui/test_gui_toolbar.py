"""The session toolbar stays put while the undo stack names its commands."""

from workbench.kvm import MsrFilter


def test_undo_and_redo_buttons_keep_their_place_and_name_the_command(qtbot, make_window):
    window = make_window()
    toolbar = window.findChild(type(window.addToolBar("probe")), "session-toolbar")
    step = toolbar.widgetForAction(window.step_action)
    undo = toolbar.widgetForAction(window.undo_action)
    x_before, text_before = step.x(), undo.text()
    window.controller.set_filter(MsrFilter())
    qtbot.wait(50)
    assert undo.text() == text_before == "Undo"
    assert step.x() == x_before
    assert window.undo_action.toolTip().startswith("Undo ")
    assert window.undo_action.toolTip() != "Undo"
