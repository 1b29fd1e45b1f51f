"""The main window's actions, menus and toolbar: what each does lives in the window and its
panels; this module only says where the user finds it and under which key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence

from workbench.gui.navigation import SHORTCUTS

if TYPE_CHECKING:
    from workbench.gui.main_window import MainWindow


def make_action(window: MainWindow, text: str, slot: object,
                shortcut: QKeySequence | str | None = None, tip: str = "") -> QAction:
    """A window-wide action: its key works whichever panel has the focus, and its tooltip
    names the key."""
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.setToolTip(f"{tip or text} ({action.shortcut().toString()})"
                      if shortcut is not None else tip or text)
    action.triggered.connect(slot)
    window.addAction(action)
    return action


def build_actions(window: MainWindow) -> None:
    """Every action of the window, as attributes of it (menus, toolbars and tests use them)."""
    def act(*args: object, **kwargs: object) -> QAction:
        return make_action(window, *args, **kwargs)  # type: ignore[arg-type]

    panel = window.vcpu_panel
    window.open_action = act("&Open…", window.choose_file, QKeySequence.StandardKey.Open)
    window.diff_action = act("&Diff with recording…", window.choose_diff,
                             tip="Open a recording B beside this session and step both in "
                                 "lock-step")
    window.quit_action = act("&Quit", window.close, QKeySequence.StandardKey.Quit)
    window.step_action = act("&Step", panel.step, "F10", "Execute one instruction")
    window.run_action = act("&Run", panel.run, "F5", "Run while handlers answer the exits")
    window.run_to_exit_action = act("Run to next &exit", panel.run_to_exit, "F8",
                                    "KVM_RUN once")
    window.pause_action = act("&Pause", panel.pause, "Shift+F5")
    window.step_back_action = act("Step &back", window.step_back, "Shift+F10",
                                  "Go back one command (time travel)")
    stack = window.controller.undo_stack
    window.undo_action = stack.createUndoAction(window, "&Undo")
    window.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
    window.redo_action = stack.createRedoAction(window, "&Redo")
    window.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    # The toolbar shows a fixed "Undo"/"Redo" (QUndoStack renames the actions after every
    # command, which moved every button after them); the menu and the tooltip, which
    # defaults to the action's text, still name the command.
    window.undo_action.setIconText("Undo")
    window.redo_action.setIconText("Redo")
    window.addActions([window.undo_action, window.redo_action])
    window.reset_layout_action = act("&Reset layout", window.reset_layout)
    window.colour_rules_action = act("&Colouring rules…", window.edit_colour_rules)
    window.export_csv_action = act("Trap log as &CSV…", lambda: window.export_log("csv"))
    window.export_jsonl_action = act("Trap log as &JSON Lines…",
                                     lambda: window.export_log("jsonl"))
    window.export_stats_action = act("&Statistics as CSV…", window.export_statistics)
    nav = window.navigator
    window.back_action = act("&Back", nav.back, SHORTCUTS["back"],
                             "Go back to the step navigation left")
    window.forward_action = act("&Forward", nav.forward, SHORTCUTS["forward"],
                                "Go forward again")
    window.reverse_continue_action = act(
        "Reverse-continue to previous e&xit", lambda: nav.reverse_continue(),
        SHORTCUTS["reverse_continue"], "Back to the last step with an exit")
    window.previous_breakpoint_action = act(
        "Reverse-continue to previous brea&kpoint", lambda: nav.previous_breakpoint(),
        SHORTCUTS["previous_breakpoint"], "Back to the last breakpoint hit")
    window.navigation_actions = [window.back_action, window.forward_action,
                                 window.reverse_continue_action,
                                 window.previous_breakpoint_action]
    panel.toolbar.addActions([window.step_action, window.run_to_exit_action,
                              window.run_action, window.pause_action])


def build_menus(window: MainWindow) -> None:
    """The menu bar and the session toolbar over the actions build_actions made."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addAction(window.open_action)
    window.recent_menu = file_menu.addMenu("Open &recent")
    window.export_menu = file_menu.addMenu("&Export")
    window.export_menu.addActions([window.export_csv_action, window.export_jsonl_action,
                                   window.export_stats_action])
    window.export_menu.addSeparator()
    window.export_menu.addActions(window.image_export.actions())
    file_menu.addAction(window.diff_action)
    file_menu.addSeparator()
    file_menu.addAction(window.quit_action)
    window.fill_recent(window.settings.recent_files())
    if window.settings.warnings:
        window.statusBar().showMessage("; ".join(window.settings.warnings), 15000)
    edit_menu = bar.addMenu("&Edit")
    edit_menu.addActions([window.undo_action, window.redo_action])
    run_menu = bar.addMenu("&Run")
    run_menu.addActions([window.step_action, window.run_to_exit_action, window.run_action,
                         window.pause_action, window.step_back_action])
    go_menu = bar.addMenu("&Go")
    go_menu.addActions(window.navigation_actions)
    view_menu = bar.addMenu("&View")
    for dock in window.docks.values():
        view_menu.addAction(dock.toggleViewAction())
    view_menu.addSeparator()
    view_menu.addAction(window.colour_rules_action)
    view_menu.addAction(window.reset_layout_action)
    toolbar = window.addToolBar("Session")
    toolbar.setObjectName("session-toolbar")
    toolbar.addActions([window.open_action, window.undo_action, window.redo_action])
    toolbar.addSeparator()
    toolbar.addActions([window.step_back_action, window.step_action, window.run_to_exit_action,
                        window.run_action, window.pause_action])
    toolbar.addSeparator()
    toolbar.addActions([window.back_action, window.forward_action,
                        window.reverse_continue_action])
