"""The main window: every panel as a dock around one session, and the debugger's keys.

Panels talk to the session only through the SessionController; the window adds the
menus, the toolbar, the status bar, files (scenarios, recordings, recent ones) and a dock
layout that outlives the run (workbench.gui.settings, with View -> Reset layout).
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QWidget,
)

from workbench.gui import exports
from workbench.gui.bitmaps import BitmapInspector
from workbench.gui.colour_rules import DEFAULT_RULES, ColourRulesDialog, timeline_colours
from workbench.gui.compare_view import CompareView
from workbench.gui.controller import SessionController
from workbench.gui.diff_view import DiffView
from workbench.gui.export_image import ImageExport
from workbench.gui.filter_editor import FilterEditor
from workbench.gui.log import TrapLogPanel
from workbench.gui.machine_state import MachineStatePanel
from workbench.gui.memory_view import MemoryView
from workbench.gui.profile_compare_view import ProfileCompareView
from workbench.gui.replay import ReplayView
from workbench.gui.runner_thread import Runner
from workbench.gui.settings import Settings
from workbench.gui.stats import StatsPanel
from workbench.gui.timeline import TimelinePanel
from workbench.gui.vcpu import VcpuPanel
from workbench.gui.vfio_panel import VfioPanel
from workbench.gui.window_actions import build_actions, build_menus
from workbench.session.capture_session import is_capture, open_capture
from workbench.session.eventlog.colouring import ColourRule
from workbench.session.recording import RECORDING_SUFFIXES, is_recording, open_recording
from workbench.session.scenario import ScenarioError
from workbench.session.session import Session

TITLE = "KVM Trap Workbench"
FIT = QSize(1280, 800)  # the smallest screen the whole window must fit, docks and all


def status_texts(session: Session | None) -> dict[str, str]:
    """The status bar's fields: engine, profile, vendor and step of the session. A
    scenario without vCPUs is a PCI story: its profile is vfio-pci's, and there is no
    KVM vendor to show."""
    if session is None:
        return {"engine": "", "profile": "", "vendor": "", "step": ""}
    step = f"step {session.step}/{len(session.history)}"
    pci = session.scenario.spec.pci
    if not session.vcpu_count and pci is not None:
        return {"engine": f"engine {session.engine}", "profile": f"vfio-pci {pci.profile}",
                "vendor": "", "step": step}
    return {"engine": f"engine {session.engine}", "profile": f"profile {session.profile}",
            "vendor": f"vendor {session.vendor}", "step": step}


class MainWindow(QMainWindow):
    # The colouring rules changed (View -> Colouring rules…): the rules, in order, for
    # every view that colours events (colouring.colour_rows evaluates them).
    colour_rules_changed = Signal(list)

    def __init__(self, settings: Path | QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle(TITLE)
        self.setObjectName("main-window")
        self.resize(FIT.boundedTo(self.screen().availableGeometry().size()))
        self.setDockNestingEnabled(True)
        self.settings = Settings(settings)
        self.controller = SessionController(parent=self)
        self.runner = Runner(self.controller, parent=self)

        self.vcpu_panel = VcpuPanel(self.controller, self.runner)
        self.log_panel = TrapLogPanel(self.controller, busy=lambda: self.runner.running)
        self.timeline = TimelinePanel(self.controller, busy=lambda: self.runner.running)
        self.filter_editor = FilterEditor(self.controller)
        self.bitmaps = BitmapInspector(self.controller)
        self.vfio_panel = VfioPanel(self.controller)
        self.compare_view = CompareView(self.controller)
        self.replay_view = ReplayView(self.controller, busy=lambda: self.runner.running)
        self.stats_panel = StatsPanel(self.controller, self.runner)
        self.machine_state = MachineStatePanel(self.controller)
        self.memory_view = MemoryView(self.controller)
        self.navigator = self.controller.navigator
        self.navigator.busy = lambda: self.runner.running
        self.diff_view = DiffView(self.controller, busy_run=lambda: self.runner.running)
        self.docks = {
            "vcpu": self._dock("vCPU", self.vcpu_panel, Qt.DockWidgetArea.LeftDockWidgetArea),
            "log": self._dock("Trap log", self.log_panel, Qt.DockWidgetArea.RightDockWidgetArea),
            "filter": self._dock("MSR filter", self.filter_editor,
                                 Qt.DockWidgetArea.RightDockWidgetArea),
            "timeline": self._dock("Timeline", self.timeline,
                                   Qt.DockWidgetArea.BottomDockWidgetArea),
            "bitmaps": self._dock("Bitmaps", self.bitmaps,
                                  Qt.DockWidgetArea.RightDockWidgetArea),
            "vfio": self._dock("VFIO", self.vfio_panel, Qt.DockWidgetArea.RightDockWidgetArea),
            "compare": self._dock("Compare", self.compare_view,
                                  Qt.DockWidgetArea.RightDockWidgetArea),
            "profiles": self._dock("Profiles", ProfileCompareView(self.controller),
                                   Qt.DockWidgetArea.RightDockWidgetArea),
            "replay": self._dock("Replay", self.replay_view,
                                 Qt.DockWidgetArea.BottomDockWidgetArea),
            "stats": self._dock("Statistics", self.stats_panel,
                                Qt.DockWidgetArea.RightDockWidgetArea),
            "machine": self._dock("Machine state", self.machine_state,
                                  Qt.DockWidgetArea.RightDockWidgetArea),
            "memory": self._dock("Memory", self.memory_view,
                                 Qt.DockWidgetArea.RightDockWidgetArea),
            "diff": self._dock("Diff", self.diff_view, Qt.DockWidgetArea.RightDockWidgetArea),
        }
        for name in ("machine", "memory"):  # they read the session only while in front
            self.docks[name].visibilityChanged.connect(self.docks[name].widget().reveal)
        # The heatmaps need height to be readable: they share the tall right-hand area.
        for tab in ("stats", "filter", "bitmaps", "vfio", "compare", "profiles", "machine",
                    "memory", "diff"):
            self.tabifyDockWidget(self.docks["log"], self.docks[tab])
        self.splitDockWidget(self.docks["timeline"], self.docks["replay"],
                             Qt.Orientation.Horizontal)
        self.docks["log"].raise_()
        self.docks["timeline"].raise_()

        self.image_export = ImageExport(self, self.docks)
        build_actions(self)
        build_menus(self)
        self._build_status()
        self.log_panel.step_selected.connect(self.timeline.set_step)
        self.stats_panel.filter_requested.connect(self._filter_log_on)
        self.log_panel.filter_changed.connect(self.stats_panel.set_display_filter)
        self.log_panel.step_range_changed.connect(self.stats_panel.set_visible_steps)
        saved_rules = self.settings.colour_rules()
        self.colour_rules: list[ColourRule] = (list(DEFAULT_RULES) if saved_rules is None
                                               else saved_rules)
        self._use_colour_rules()
        self.timeline.view.sigXRangeChanged.connect(self._visible_steps_changed)
        self.timeline.event_clicked.connect(self.log_panel.select_row)
        self.timeline.range_selected.connect(
            lambda first, last: self.log_panel.add_filter_token(f"step={first}-{last}"))
        self.controller.changed.connect(self._show_session)
        self.controller.error.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.controller.notice.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.navigator.moved.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.navigator.history_changed.connect(self._update_actions)
        self.runner.failed.connect(self._show_failure)
        self.runner.started.connect(self._on_run_state)
        self.runner.stopped.connect(self._on_run_state)
        self.runner.stopped.connect(lambda _vcpu: self.diff_view.refresh())
        self._show_session()

        self._default_state = self.saveState()
        self.restore_layout()

    # --- building ------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower().replace(' ', '-')}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_status(self) -> None:
        self.status = {name: QLabel() for name in ("engine", "profile", "vendor", "step")}
        for label in self.status.values():
            label.setContentsMargins(6, 0, 6, 0)
            self.statusBar().addPermanentWidget(label)

    # --- files -------------------------------------------------------------------------------
    def choose_file(self) -> None:
        recordings = " ".join(f"*{suffix}" for suffix in RECORDING_SUFFIXES)
        kinds = f"Scenarios and recordings (*.toml {recordings});;Scenarios (*.toml);;" \
            f"Recordings ({recordings});;Captures and traces (*.capture *.txt *.log *.gz)"
        name, _ = QFileDialog.getOpenFileName(self, "Open", "", kinds + ";;All files (*)")
        if name:
            self.open_path(Path(name))

    def open_path(self, path: Path, engine: str = "sim") -> bool:
        """Open a scenario (on `engine`), a recording or a capture; a message box says why
        not (the old session stays)."""
        self.runner.stop()
        try:
            if is_recording(path):
                self._open_recording(path)
            elif is_capture(path):
                self.controller.replace_session(open_capture(path), path)
            else:
                self.controller.open_scenario(path, engine)
        except (ScenarioError, OSError, ValueError, RuntimeError) as exc:
            QMessageBox.warning(self, "Cannot open", str(exc))
            return False
        self.fill_recent(self.settings.add_recent(path))
        return True

    def _open_recording(self, path: Path) -> None:
        """Replay the recording's commands, so its whole history is there to travel."""
        replay = open_recording(path)
        for _ in replay.play():
            pass
        self.replay_view.set_replay(replay)
        self.controller.replace_session(replay.session, path)
        self.docks["replay"].show()
        self.docks["replay"].raise_()
        if replay.problem:
            self.statusBar().showMessage(replay.problem, 15000)

    def choose_diff(self) -> None:
        recordings = " ".join(f"*{suffix}" for suffix in RECORDING_SUFFIXES)
        name, _ = QFileDialog.getOpenFileName(self, "Diff with recording", "",
                                              f"Recordings ({recordings});;All files (*)")
        if name:
            self.diff_with(Path(name))

    def diff_with(self, path: Path) -> bool:
        """Show recording `path` as B in the Diff dock, following this session's step."""
        problem = self.diff_view.open_recording(path)
        self.docks["diff"].show()
        self.docks["diff"].raise_()
        if problem is not None:
            self.statusBar().showMessage(problem, 15000)
        return problem is None

    def fill_recent(self, files: list[Path]) -> None:
        self.recent_menu.clear()
        for path in files:
            self.recent_menu.addAction(str(path), lambda p=path: self.open_path(p))
        self.recent_menu.setEnabled(bool(files))

    # --- commands that are the window's own -----------------------------------------------------
    def step_back(self) -> None:
        session = self.controller.session
        if session is None or self.runner.running or session.step == 0:
            return
        try:
            self.controller.seek(session.step - 1)
        except (ValueError, RuntimeError) as exc:
            self.statusBar().showMessage(str(exc), 8000)

    def _filter_log_on(self, text: str) -> None:
        """A statistics row was double-clicked: the trap log shows its events."""
        self.log_panel.set_filter_text(text)
        self.docks["log"].show()
        self.docks["log"].raise_()

    def edit_colour_rules(self) -> None:
        dialog = ColourRulesDialog(self.colour_rules, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.set_colour_rules(dialog.rules())

    def set_colour_rules(self, rules: list[ColourRule]) -> None:
        """Use and save `rules`; a file that cannot be written keeps them for this run."""
        self.colour_rules = list(rules)
        self._use_colour_rules()
        self.colour_rules_changed.emit(self.colour_rules)
        try:
            self.settings.save_colour_rules(self.colour_rules)
        except OSError as exc:
            self.statusBar().showMessage(f"colouring rules not saved: {exc}", 15000)

    def _use_colour_rules(self) -> None:
        """The trap log's rows and the timeline's marks take the rules' colours."""
        self.log_panel.model.set_colour_rules(self.colour_rules)
        session = self.controller
        self.timeline.set_colour_function(timeline_colours(
            self.colour_rules,
            lambda: session.session.log.devices if session.session is not None else {}))

    def _visible_steps_changed(self) -> None:
        """The Statistics dock's "visible steps" scope follows the timeline's x range."""
        lo, hi = self.timeline.visible_steps()
        self.stats_panel.set_visible_steps(max(0, math.ceil(lo)), math.floor(hi))

    def export_log(self, fmt: str, path: Path | None = None) -> bool:
        """File -> Export -> Trap log: the rows the trap log shows, as CSV or JSON Lines."""
        if self.runner.running:
            self.statusBar().showMessage("nothing is exported while a free run owns the "
                                         "session", 8000)
            return False
        return exports.export_log(self, self.controller.session,
                                  self.log_panel.model.shown_rows(), fmt, path)

    def export_statistics(self, path: Path | None = None) -> bool:
        """File -> Export -> Statistics: the Statistics dock's tables, in its scope."""
        self.stats_panel.refresh()
        return exports.export_statistics(self, self.stats_panel.statistics, path)

    def _show_failure(self, text: str) -> None:
        """A free run's worker failed: say so where the user looks, and stay usable."""
        self.statusBar().showMessage(text, 15000)
        self.vcpu_panel.state.setText(text)

    # --- status -------------------------------------------------------------------------------
    def _show_session(self) -> None:
        """Title, status bar and actions, from the session as it is now (the controller's
        one refresh path calls this after every change)."""
        session = self.controller.session
        path = self.controller.path
        name = session.scenario.name if session is not None else ""
        self.setWindowTitle(f"{name or (path.name if path else '')} — {TITLE}")
        for key, text in status_texts(session).items():
            self.status[key].setText(text)
            self.status[key].setVisible(bool(text))
        self._update_actions()

    def _on_run_state(self, *_: object) -> None:
        self.replay_view.pause()  # a free run owns the session; the buttons follow
        self._update_actions()

    def _update_actions(self) -> None:
        """Enable what can act now; a disabled run action's tooltip says why."""
        running = self.runner.running
        for action in (self.open_action, self.reverse_continue_action,
                       self.previous_breakpoint_action):
            action.setEnabled(not running)
        session = self.controller.session
        at_start = session is None or session.step == 0
        self.step_back_action.setEnabled(not running and not at_start)
        self.step_back_action.setToolTip(
            ("At step 0: nothing to go back to" if at_start
             else "Go back one command (time travel)") + " (Shift+F10)")
        self.back_action.setEnabled(not running and bool(self.navigator.back_steps))
        self.forward_action.setEnabled(not running and bool(self.navigator.forward_steps))
        self.undo_action.setEnabled(not running and self.controller.undo_stack.canUndo())
        self.redo_action.setEnabled(not running and self.controller.undo_stack.canRedo())
        step_tip, run_tip = self.vcpu_panel.action_tips()
        for action, tip, base in ((self.step_action, step_tip, "Execute one instruction"),
                                  (self.run_action, run_tip,
                                   "Run while handlers answer the exits"),
                                  (self.run_to_exit_action, run_tip, "KVM_RUN once")):
            action.setEnabled(not running and tip is None)
            key = action.shortcut().toString()
            action.setToolTip(f"{tip or base} ({key})")
        self.pause_action.setEnabled(running)
        self.pause_action.setToolTip("Interrupt the free run (Shift+F5)" if running
                                     else "Nothing is running (Shift+F5)")

    # --- layout --------------------------------------------------------------------------------
    def restore_layout(self) -> bool:
        """Restore the saved layout; one that no longer fits the screen (or FIT) is
        discarded, so a squeezed layout is never restored again."""
        geometry, state = self.settings.layout()
        saved = self.settings.saved_size()
        if geometry is None or saved is None or not self.fits(saved):
            self.settings.forget_layout()
            return False
        self.restoreGeometry(geometry)
        if state is not None and self.restoreState(state) and self.fits(self.size()):
            return True
        self.settings.forget_layout()
        self.restoreState(self._default_state)
        self.resize(FIT.boundedTo(self.screen().availableGeometry().size()))
        return False

    def fits(self, size: QSize) -> bool:
        """A window of `size`, and the docks' minimum, fit FIT or the screen if larger."""
        room = FIT.expandedTo(self.screen().availableGeometry().size())
        need = size.expandedTo(self.minimumSizeHint())
        return need.width() <= room.width() and need.height() <= room.height()

    def save_layout(self) -> None:
        """Save the layout, unless it does not fit: a squeezed layout is never kept."""
        if self.fits(self.size()):
            self.settings.save_layout(self.saveGeometry(), self.saveState(), self.size())
        else:
            self.settings.forget_layout()

    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        for dock in self.docks.values():
            dock.show()
        self.docks["log"].raise_()
        self.docks["timeline"].raise_()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        self.runner.stop()
        self.save_layout()
        super().closeEvent(event)
