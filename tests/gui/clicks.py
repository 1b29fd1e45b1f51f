"""Mouse helpers the GUI tests share: a user reaches a dock through its tab, a row by
clicking it."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTabBar


def click_dock_tab(qtbot, window, title: str) -> None:
    """Click the tab that raises the dock titled `title` (docks tabbed together)."""
    for bar in window.findChildren(QTabBar):
        for i in range(bar.count()):
            if bar.tabText(i) == title:
                qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(i).center())
                qtbot.wait(30)  # let the raised dock lay out and its plots set their ranges
                return
    raise AssertionError(f"no dock tab {title!r}")


def click_row(qtbot, view, row: int, column: int = 0) -> None:
    rect = view.visualRect(view.model().index(row, column))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
