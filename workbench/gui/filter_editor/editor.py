"""The MSR filter editor: build a KVM_X86_SET_MSR_FILTER argument and apply it.

The edit lives in a Draft until Apply; the session's filter changes only through
controller.set_filter, so it is undoable and a rejection leaves both the kernel's filter
and the user's edit as they were, with the kernel's errno and failing field shown inline.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.controller import SessionController
from workbench.gui.filter_editor.draft import (
    Draft,
    DraftRange,
    Rejection,
    parse_rejection,
    preview_profile,
)
from workbench.gui.filter_editor.files import FilterFiles
from workbench.gui.filter_editor.lane import WINDOWS, LaneView
from workbench.gui.filter_editor.painter import PAST_END, BitmapPainter
from workbench.gui.filter_editor.table import RangesTable
from workbench.gui.filter_editor.whatif_dialog import WhatIfDialog
from workbench.kvm.filter import MsrFilter
from workbench.session.session import CommandResult

_BANNER = "background:#f8d7da; color:#842029; border:1px solid #e06666; padding:4px;"


class FilterEditor(QWidget):
    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.draft = Draft()
        self.rejection: Rejection | None = None
        self._in_force: tuple[object, MsrFilter] = (None, MsrFilter())  # the edit's origin
        self._applying = False
        self.default_box = QComboBox()
        self.default_box.addItems(["allow", "deny"])
        self.default_box.setToolTip("What an MSR no range matches gets "
                                    "(KVM_MSR_FILTER_DEFAULT_ALLOW / _DENY)")
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("KVM_X86_SET_MSR_FILTER with this filter (undoable)")
        self.use_button = QPushButton("Use in a scenario")
        self.use_button.setToolTip("This capture's filter is the VMM's, shown read-only: open a "
                                   "runnable copy (the captured accesses as a guest program) "
                                   "to edit and run it")
        self.whatif_button = QPushButton("What if…")
        self.whatif_button.setToolTip("Replay the capture's accesses under this filter (as "
                                      "edited, never applied) and list what would change")
        self.revert_button = QPushButton("Revert")
        self.revert_button.setToolTip("Discard the edit: reload the filter in force")
        self.banner = QLabel()
        self.banner.setStyleSheet(_BANNER)
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.hide()
        self.table = RangesTable()
        self.lane = LaneView()
        self.painter = BitmapPainter()
        buttons = {name: QPushButton(name) for name in ("Add", "Remove", "Up", "Down")}
        buttons["Up"].setToolTip("Earlier ranges win: the first matching range decides")
        top = QHBoxLayout()
        top.addWidget(QLabel("Default action"))
        top.addWidget(self.default_box)
        top.addStretch(1)
        for button in buttons.values():
            top.addWidget(button)
        self.files = FilterFiles(self, self.edit_as_filter, self.load, self._show_error,
                                 controller.notice.emit)
        top.addWidget(self.files.button)
        top.addWidget(self.revert_button)
        top.addWidget(self.apply_button)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.lane)
        split.addWidget(self.painter)
        split.setSizes([160, 120, 260])
        # A capture's own row, so its buttons never widen the editor past a 1280 px screen.
        self.capture_row = QWidget()
        capture = QHBoxLayout(self.capture_row)
        capture.setContentsMargins(0, 0, 0, 0)
        capture.addWidget(QLabel("The VMM's filter, read-only: edit it to ask"), 1)
        capture.addWidget(self.whatif_button)
        capture.addWidget(self.use_button)
        self.capture_row.hide()
        box = QVBoxLayout(self)
        box.addLayout(top)
        box.addWidget(self.capture_row)
        box.addWidget(self.banner)
        box.addWidget(split, 1)
        buttons["Add"].clicked.connect(self.add_range)
        buttons["Remove"].clicked.connect(lambda: self.remove_range(self.current_row()))
        buttons["Up"].clicked.connect(lambda: self.move_range(self.current_row(), -1))
        buttons["Down"].clicked.connect(lambda: self.move_range(self.current_row(), 1))
        self.use_button.clicked.connect(self.use_in_scenario)
        self.whatif_button.clicked.connect(self.what_if)
        self.apply_button.clicked.connect(self.apply)
        self.revert_button.clicked.connect(self.revert)
        self.default_box.currentIndexChanged.connect(self._default_changed)
        self.table.edited.connect(self._row_edited)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.lane.moved.connect(self._lane_moved)
        self.lane.picked.connect(self.select_row)
        controller.changed.connect(self._on_changed)
        controller.msr_selected.connect(self._on_msr_selected)
        self.revert()

    # --- loading ----------------------------------------------------------------------
    def load(self, msr_filter: MsrFilter) -> None:
        """Show `msr_filter` as the edit, keeping the selected row where possible."""
        row = self.current_row()
        session = self.controller.session
        profile = preview_profile(session.profile if session is not None else None)
        self.draft = Draft.from_filter(msr_filter, profile)
        self._show_draft(row)
        self._clear_rejection()
        if self.draft.ranges:
            self.lane.follow(self.draft.ranges[0 if row is None else
                                                min(row, len(self.draft.ranges) - 1)].base)

    def revert(self) -> None:
        """Reload the filter in force from the session (drops the edit). A capture's filter
        is the VMM's: never applied (until "Use in a scenario"), an edit of it only feeds
        "What if"."""
        self._in_force = self._session_filter()
        self.load(self._in_force[1])
        session = self.controller.session
        read_only = bool(getattr(session, "read_only", False))
        self.apply_button.setEnabled(not read_only)
        self.capture_row.setVisible(read_only)
        self.files.set_next_step("What if… replays the capture under it" if read_only
                                 else "Apply installs it")

    def what_if(self) -> WhatIfDialog | None:
        """Open the what-if dialog on the edited filter, already replayed once."""
        session = self.controller.session
        if session is None or not getattr(session, "read_only", False):
            return None
        msr_filter = self.draft.to_filter()
        dialog = WhatIfDialog(lambda profile, vendor: session.whatif_lines(
            msr_filter, profile, vendor), self)
        dialog.replay()
        dialog.show()
        return dialog

    def use_in_scenario(self) -> None:
        """Replace the read-only capture by a runnable session on its scenario."""
        session = self.controller.session
        if session is not None and getattr(session, "read_only", False):
            self.controller.restart(session.scenario)

    def _session_filter(self) -> tuple[object, MsrFilter]:
        session = self.controller.session
        return session, MsrFilter() if session is None else session.msr_filter()

    def _on_changed(self) -> None:
        """The edit follows the filter in force whenever that moves under it (a filter
        applied, undone or redone, a seek, another session); any other change (a step, a
        rejected filter) keeps the user's edit."""
        if self._applying:
            return
        now = self._session_filter()
        if now[0] is not self._in_force[0] or now[1] != self._in_force[1]:
            self.revert()

    def _show_draft(self, row: int | None) -> None:
        self.default_box.blockSignals(True)
        self.default_box.setCurrentIndex(0 if self.draft.default_allow else 1)
        self.default_box.blockSignals(False)
        self.table.load(self.draft)
        self.lane.load(self.draft.ranges)
        count = len(self.draft.ranges)
        self.select_row(None if not count else min(row if row is not None else 0, count - 1))

    # --- rows -------------------------------------------------------------------------
    def current_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return rows[0].row() if rows else None

    def select_row(self, row: int | None) -> None:
        if row is not None:
            self.table.selectRow(row)
        self._selection_changed()

    def _selection_changed(self) -> None:
        row = self.current_row()
        error_row = self.rejection.row if self.rejection is not None else None
        for i in range(len(self.draft.ranges)):
            self.lane.update_row(i, selected=i == row, error=i == error_row)
        self.painter.show_range(self.draft, row)
        self.painter.mark(self.controller.selected_msr)

    def add_range(self) -> None:
        """A new read+write range denying 64 MSRs at the start of the lane's window."""
        window = self.lane.window_box.currentIndex()
        base = WINDOWS[window][1] if window < len(WINDOWS) else 0
        self.draft.ranges.append(DraftRange(base=base))
        self._show_draft(len(self.draft.ranges) - 1)

    def remove_range(self, row: int | None) -> None:
        if row is None or not 0 <= row < len(self.draft.ranges):
            return
        del self.draft.ranges[row]
        self._show_draft(row)

    def move_range(self, row: int | None, delta: int) -> None:
        """Reorder: the first matching range decides, so order changes decisions."""
        if row is None or not 0 <= row + delta < len(self.draft.ranges):
            return
        ranges = self.draft.ranges
        ranges[row], ranges[row + delta] = ranges[row + delta], ranges[row]
        self._show_draft(row + delta)

    def _row_edited(self, row: int) -> None:
        self.lane.update_row(row, selected=row == self.current_row())
        if row == self.current_row():
            self.painter.show_range(self.draft, row)

    def _lane_moved(self, row: int, base: int, nmsrs: int) -> None:
        rng = self.draft.ranges[row]
        rng.base = base
        rng.resize(nmsrs)
        self.table.sync_row(row)
        if row == self.current_row():
            self.painter.show_range(self.draft, row)

    def _default_changed(self, index: int) -> None:
        self.draft.default_allow = index == 0

    # --- applying -----------------------------------------------------------------------
    def edit_as_filter(self) -> MsrFilter | None:
        """The edit as a filter; None, with the cell at fault shown, if the table has text
        that is not a number."""
        bad = self.table.invalid_cells()
        if bad:
            row, field, text = bad[0]
            self._show_rejection(Rejection("invalid input", f"ranges[{row}].{field}: {text!r} "
                                           "is not a hex or decimal number", f"ranges[{row}]."
                                           f"{field}", row, field))
            return None
        return self.draft.to_filter()

    def apply(self) -> CommandResult | None:
        """Send the edit to the kernel. Returns the result (None if the table has text
        that is not a number, which never reaches the kernel)."""
        if self.controller.session is None:
            return None
        msr_filter = self.edit_as_filter()
        if msr_filter is None:
            return None
        before = self.controller.session.msr_filter()
        self._applying = True
        try:
            result = self.controller.set_filter(msr_filter)
        finally:
            self._applying = False
        if result is None or result.error is None:
            self.revert()
        else:
            # A rejection keeps the edit, with its error, over what is now in force.
            self._in_force = self._session_filter()
            rejection = parse_rejection(result.error)
            if self._in_force[1] != before:
                rejection = Rejection(rejection.errno_name, rejection.message + " — the "
                                      "ranges before it were installed anyway (linux-5.10 "
                                      "is not atomic)", rejection.field, rejection.row,
                                      rejection.column)
            self._show_rejection(rejection)
        return result

    def _show_rejection(self, rejection: Rejection) -> None:
        self.rejection = rejection
        self.banner.setText(f"Rejected — {rejection.banner()}")
        self.banner.show()
        self.table.mark_error(rejection.row, rejection.column)
        # The filter's own flags are the default action: point at its selector.
        self.default_box.setStyleSheet("background:#e06666;" if rejection.field == "flags"
                                       else "")
        self._selection_changed()

    def _show_error(self, text: str) -> None:
        """A problem that is no kernel rejection of the edit (a file that cannot be read
        or written): the banner says it, the edit stays as it is."""
        self.banner.setText(text)
        self.banner.show()

    def _clear_rejection(self) -> None:
        self.rejection = None
        self.banner.hide()
        self.banner.clear()
        self.table.clear_marks()
        self.default_box.setStyleSheet("")
        self._selection_changed()

    # --- reading (tests, other panels) --------------------------------------------------
    def cell_value(self, row: int, offset: int) -> int:
        """The value painted for offset `offset` of ranges[row]: 0 deny, 1 allow,
        2 past nmsrs."""
        rng = self.draft.ranges[row]
        if not 0 <= offset < min(max(rng.nmsrs, 0), len(rng.bits)):
            return PAST_END
        return int(rng.bits[offset])

    def _on_msr_selected(self, index: int) -> None:
        self.lane.mark(index)
        self.painter.mark(index)
