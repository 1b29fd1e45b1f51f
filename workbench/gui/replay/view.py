"""The replay view: play, pause, step and seek through the session's history.

Every move is a controller.seek, so each panel redraws from the controller's one `changed`
exactly as after a command; the view itself holds no state but the recording (for its
bookmarks). Playing is a QTimer stepping forward one command per tick on the GUI thread:
a seek is short (a checkpoint plus at most checkpoint_every commands), and a timer stops
between any two ticks, which a thread would not.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.controller import SessionController
from workbench.gui.replay.bookmarks import BookmarkList
from workbench.gui.replay.landmarks import LANDMARKS, Landmark, first_step
from workbench.session.recording import Replay

PLAY_INTERVAL_MS = 250


class ReplayView(QWidget):
    def __init__(self, controller: SessionController, busy: Callable[[], bool] | None = None,
                 parent: QWidget | None = None) -> None:
        """`busy()` says a free run owns the session: no seeking then."""
        super().__init__(parent)
        self.controller = controller
        self._busy = busy or (lambda: False)
        self.replay: Replay | None = None
        self._session: object = None  # the session last shown: another one drops `replay`
        self.timer = QTimer(self, interval=PLAY_INTERVAL_MS)
        self.timer.timeout.connect(self._tick)

        icon = QStyle.StandardPixmap
        self.back_button = self._button(icon.SP_MediaSkipBackward, "Step back one command",
                                        self.step_back)
        self.play_button = self._button(icon.SP_MediaPlay, "Play: one command per tick",
                                        self.play)
        self.pause_button = self._button(icon.SP_MediaPause, "Pause playing", self.pause)
        self.forward_button = self._button(icon.SP_MediaSkipForward,
                                           "Step forward one command", self.step_forward)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setTracking(True)
        self.slider.valueChanged.connect(self._slid)
        self.step_label = QLabel()
        self.step_label.setMinimumWidth(110)
        self.source_label = QLabel()
        self.source_label.setWordWrap(True)
        self.jump_buttons: dict[str, QPushButton] = {}
        jumps = QHBoxLayout()
        jumps.setContentsMargins(0, 0, 0, 0)
        for landmark in LANDMARKS:
            button = QPushButton(landmark.label)
            button.setToolTip(landmark.tip)
            button.clicked.connect(lambda _=False, m=landmark: self.jump_to(m))
            jumps.addWidget(button)
            self.jump_buttons[landmark.label] = button
        jumps.addStretch(1)
        self.bookmarks = BookmarkList()
        self.bookmarks.jump.connect(self.seek)

        transport = QHBoxLayout()
        transport.setContentsMargins(0, 0, 0, 0)
        for button in (self.back_button, self.play_button, self.pause_button,
                       self.forward_button):
            transport.addWidget(button)
        transport.addWidget(self.slider, 1)
        transport.addWidget(self.step_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(transport)
        layout.addLayout(jumps)
        layout.addWidget(self.source_label)
        layout.addWidget(self.bookmarks, 1)

        controller.changed.connect(self.refresh)
        self.refresh()

    def _button(self, icon: QStyle.StandardPixmap, tip: str, slot: Callable[[], object]
                ) -> QToolButton:
        """The style's own media icons: no font needs the media glyphs."""
        button = QToolButton()
        button.setIcon(self.style().standardIcon(icon))
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # --- the recording ----------------------------------------------------------------
    def set_replay(self, replay: Replay | None) -> None:
        """The recording whose session the controller announces next: bookmarks and the
        divergence come from it. Any other session drops it."""
        self.replay = replay

    def refresh(self) -> None:
        """From the session as it stands (after a command, seek or swap). Landmarks scan the
        log: not while a free run owns it (its last announcement comes after it stopped)."""
        session = self.controller.session
        if session is not self._session:
            self._session = session
            self.pause()
            if self.replay is not None and (session is None
                                            or self.replay.session is not session):
                self.replay = None
            self.bookmarks.set_replay(self.replay)
        if not self._busy():
            self._update_landmarks()
        self._show_step()

    # --- moving -----------------------------------------------------------------------
    @property
    def last_step(self) -> int:
        session = self.controller.session
        return 0 if session is None else len(session.history)

    def seek(self, step: int) -> bool:
        """Go to `step` (clamped to the history) through the controller; False if the
        session cannot travel now or there."""
        session = self.controller.session
        if session is None or self._busy():
            return False
        step = max(0, min(step, self.last_step))
        if step == session.step:
            return True
        try:
            self.controller.seek(step)
        except (ValueError, RuntimeError) as exc:
            self.pause()
            self.source_label.setText(f"Cannot go to step {step}: {exc}")
            return False
        return True

    def step_back(self) -> None:
        session = self.controller.session
        if session is not None:
            self.seek(session.step - 1)

    def step_forward(self) -> None:
        session = self.controller.session
        if session is not None:
            self.seek(session.step + 1)

    def play(self) -> None:
        """Step forward every PLAY_INTERVAL_MS until the end (from the start if at it)."""
        session = self.controller.session
        if session is None or self._busy() or self.last_step == 0:
            return
        if session.step >= self.last_step:
            self.seek(0)
        self.timer.start()
        self._show_buttons()

    def pause(self) -> None:
        self.timer.stop()
        self._show_buttons()

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def _tick(self) -> None:
        session = self.controller.session
        moved = session is not None and session.step < self.last_step and self.seek(
            session.step + 1)
        if not moved or session.step >= self.last_step:
            self.pause()

    def _slid(self, value: int) -> None:
        session = self.controller.session
        if session is not None and value != session.step:
            self.seek(value)

    def jump_to(self, landmark: Landmark) -> int | None:
        """Seek to the first step with a `landmark` row; that step, or None if none."""
        session = self.controller.session
        step = None if session is None else first_step(session.log, landmark)
        if step is not None and self.seek(step):
            return step
        return None

    # --- showing ----------------------------------------------------------------------
    def _update_landmarks(self) -> None:
        session = self.controller.session
        for landmark in LANDMARKS:
            step = None if session is None else first_step(session.log, landmark)
            button = self.jump_buttons[landmark.label]
            button.setEnabled(step is not None)
            button.setText(landmark.label if step is None else f"{landmark.label} (step {step})")

    def _show_step(self) -> None:
        session = self.controller.session
        step = 0 if session is None else session.step
        self.slider.blockSignals(True)
        self.slider.setRange(0, self.last_step)
        self.slider.setValue(step)
        self.slider.blockSignals(False)
        self.step_label.setText(f"step {step} / {self.last_step}")
        self.bookmarks.current_step = step
        self.source_label.setText(self._source_text())
        self._show_buttons()

    def _source_text(self) -> str:
        if self.replay is None:
            return "The session's own history (open a recording to replay one)."
        steps = self.replay.steps
        text = (f"Recording {self.replay.recording.path.name}: {steps} "
                f"step{'' if steps == 1 else 's'}.")
        divergence = self.replay.divergence
        if divergence is not None:
            text += (f" Replay diverged at step {divergence.step}: its events differ from "
                     "the recorded ones, so the history stops there.")
        return text

    def _show_buttons(self) -> None:
        session = self.controller.session
        idle = session is not None and not self._busy()
        step = 0 if session is None else session.step
        self.back_button.setEnabled(idle and step > 0)
        self.forward_button.setEnabled(idle and step < self.last_step)
        self.play_button.setEnabled(idle and not self.playing and self.last_step > 0)
        self.pause_button.setEnabled(self.playing)
        self.slider.setEnabled(idle)
