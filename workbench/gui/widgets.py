"""Small widget helpers the panels share, so each look and behaviour is defined once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QWidget,
)


def read_only_table(headers: Sequence[str]) -> QTableWidget:
    """A table of results: whole-row selection, no editing, no row numbers."""
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().hide()
    return table


def side_by_side_table(headers: Sequence[str]) -> QTableWidget:
    """A read-only table of a name and two values to compare (sim/host, A/B), in a
    monospace font so hex values line up."""
    table = read_only_table(headers)
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    for column in (1, 2):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
    mono = QFont("monospace")
    mono.setStyleHint(QFont.StyleHint.Monospace)
    table.setFont(mono)
    return table


class ReadsWhenShown(QWidget):
    """A panel that reads the session only while it is on screen: a background tab costs
    nothing during a free run and catches up when it comes to the front. Subclasses
    implement _read()."""

    _stale = True

    def refresh(self, *_: object) -> None:
        """Re-read the session; a hidden panel (a background tab) waits for reveal()."""
        self._stale = not self.isVisible() or self.visibleRegion().isEmpty()
        if not self._stale:
            self._read()

    def reveal(self, visible: bool = True) -> None:
        """The panel's tab came to the front: catch up if a step went by meanwhile."""
        if visible and self._stale:
            self._stale = False
            self._read()

    def _read(self) -> None:
        raise NotImplementedError


def show_vcpu_choice(spin: QSpinBox, count: int) -> None:
    """A vCPU chooser that ranges over the session's vCPUs and shows only where there is
    a choice."""
    spin.setMaximum(max(count - 1, 0))
    spin.setVisible(count > 1)


@contextlib.contextmanager
def busy() -> Iterator[None]:
    """The wait cursor while a comparison runs in the GUI thread."""
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        yield
    finally:
        QApplication.restoreOverrideCursor()


class ElidedLabel(QLabel):
    """One line of text that never resizes its panel: elided to the width it is given, the
    whole text in the tooltip. A message (an EIO, a hint) of any length leaves the docks
    where they were."""

    def __init__(self, text: str = "", chars: int = 20, least: int = 0,
                 parent: QLabel | None = None) -> None:
        """`chars`: the width it asks for, `least` the narrowest it gets, in average
        characters, whatever the text."""
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.chars, self.least = chars, least
        self.full_text = ""
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self.full_text = text
        self.setToolTip(text)
        self._elide()

    def _elide(self) -> None:
        width = max(self.contentsRect().width(), 0)
        super().setText(self.fontMetrics().elidedText(self.full_text,
                                                      Qt.TextElideMode.ElideRight, width))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._elide()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(self.fontMetrics().averageCharWidth() * self.chars,
                     self.fontMetrics().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(self.fontMetrics().averageCharWidth() * self.least,
                     self.fontMetrics().height())
