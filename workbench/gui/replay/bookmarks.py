"""Bookmarks of a recording: steps with a note, kept in the recording file itself.

Every change goes through Replay.add_bookmark and is written back at once with
Replay.save_as (atomic), so a bookmark survives closing the workbench. A recording whose
tail is damaged is not rewritten (that would drop the damaged lines for good): its
bookmarks then live only until it is closed, and the view says so.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.session.recording import Replay


class BookmarkList(QWidget):
    jump = Signal(int)  # the user picked a bookmark: go to its step

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.replay: Replay | None = None
        self.current_step = 0
        self.list = QListWidget()
        self.list.setMinimumHeight(3 * self.list.fontMetrics().height())  # docked at 800 px
        self.list.itemActivated.connect(self._activated)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("Bookmark the current step with a note")
        self.edit_button = QPushButton("Edit…")
        self.remove_button = QPushButton("Remove")
        self.add_button.clicked.connect(self._ask_add)
        self.edit_button.clicked.connect(self._ask_edit)
        self.remove_button.clicked.connect(lambda: self.remove(self.selected_step()))
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for button in (self.add_button, self.edit_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Bookmarks"))
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.note)
        self.set_replay(None)

    def set_replay(self, replay: Replay | None) -> None:
        self.replay = replay
        for widget in (self.add_button, self.edit_button, self.remove_button, self.list):
            widget.setEnabled(replay is not None)
        self.note.setText("Bookmarks belong to a recording: open one (workbench record "
                          "makes them) to keep notes on its steps." if replay is None
                          else "" if replay.problem is None else
                          "This recording is damaged after its valid part: bookmarks are "
                          "kept until it is closed, not written to the file.")
        self._fill()

    def bookmarks(self) -> dict[int, str]:
        return {} if self.replay is None else self.replay.bookmarks()

    # --- editing ----------------------------------------------------------------------
    def set_note(self, step: int, note: str) -> None:
        """Add, change (same step) or remove (empty note) a bookmark, and save it."""
        if self.replay is None:
            return
        self.replay.add_bookmark(step, note.strip())
        if self.replay.problem is None:
            self.replay.save_as(self.replay.recording.path)
        self._fill(step)

    def remove(self, step: int | None) -> None:
        if step is not None:
            self.set_note(step, "")

    def selected_step(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def _ask_add(self) -> None:
        step = self.current_step
        note, ok = QInputDialog.getText(self, "Bookmark", f"Note for step {step}:",
                                        text=self.bookmarks().get(step, ""))
        if ok and note.strip():
            self.set_note(step, note)

    def _ask_edit(self) -> None:
        step = self.selected_step()
        if step is None:
            return
        note, ok = QInputDialog.getText(self, "Bookmark", f"Note for step {step}:",
                                        text=self.bookmarks().get(step, ""))
        if ok:
            self.set_note(step, note)

    # --- showing ----------------------------------------------------------------------
    def _fill(self, select: int | None = None) -> None:
        self.list.clear()
        for step, note in sorted(self.bookmarks().items()):
            item = QListWidgetItem(f"step {step}: {note}")
            item.setData(Qt.ItemDataRole.UserRole, step)
            self.list.addItem(item)
            if step == select:
                self.list.setCurrentItem(item)

    def _activated(self, item: QListWidgetItem) -> None:
        self.jump.emit(int(item.data(Qt.ItemDataRole.UserRole)))
