"""File -> Export: any panel, or the whole window, as a PNG or an SVG file.

A PNG is the widget's pixels as they are on screen; an SVG is the widget painted into a
QSvgGenerator, so plots and text stay vectors where Qt draws them as such. Files are
written atomically (a temporary file beside the target, then a rename): a failed export
never leaves half an image where the user's file was.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import QObject, QPoint, QRect
from PySide6.QtGui import QAction, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QMainWindow,
    QMessageBox,
    QWidget,
)

FILTERS = {".png": "PNG image (*.png)", ".svg": "SVG drawing (*.svg)"}


class ExportError(Exception):
    """An image could not be written; the message names the file and why."""


def export_widget(widget: QWidget, path: Path, title: str = "") -> Path:
    """Write `widget` to `path` as PNG or SVG (by its suffix); returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FILTERS:
        raise ExportError(f"{path.name}: cannot export as {suffix or 'a file without a suffix'};"
                          " name the file .png or .svg")
    scratch = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        if suffix == ".png":
            written = widget.grab().save(str(scratch), "PNG")
        else:
            written = _write_svg(widget, scratch, title)
        if not written:
            raise ExportError(f"{path}: cannot write the {suffix[1:].upper()} file "
                              f"(is the folder there and writable?)")
        os.replace(scratch, path)
    except OSError as exc:
        raise ExportError(f"{path}: {exc.strerror or exc}") from None
    finally:
        scratch.unlink(missing_ok=True)
    return path


def _write_svg(widget: QWidget, path: Path, title: str) -> bool:
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(widget.size())
    generator.setViewBox(QRect(QPoint(0, 0), widget.size()))
    generator.setTitle(title or widget.windowTitle())
    painter = QPainter()
    if not painter.begin(generator):
        return False
    try:
        widget.render(painter, QPoint(0, 0))
    finally:
        ended = painter.end()  # before the generator goes: Qt crashes otherwise
    return ended and path.exists()


class ImageExport(QObject):
    """The two menu actions and what they do, for a main window and its docks."""

    def __init__(self, window: QMainWindow, docks: Mapping[str, QDockWidget]) -> None:
        super().__init__(window)
        self.window, self.docks = window, docks
        self.panel_action = QAction("&Panel as PNG/SVG…", window)
        self.panel_action.triggered.connect(self.choose_panel)
        self.window_action = QAction("&Window as PNG/SVG…", window)
        self.window_action.triggered.connect(self.choose_window)

    def actions(self) -> list[QAction]:
        return [self.panel_action, self.window_action]

    def current_panel(self) -> str:
        """The dock holding the keyboard focus, else the first visible one."""
        focus = self.window.focusWidget()
        visible = [name for name, dock in self.docks.items() if dock.isVisible()]
        for name in visible:
            if focus is not None and self.docks[name].isAncestorOf(focus):
                return name
        return visible[0] if visible else next(iter(self.docks))

    def choose_panel(self) -> None:
        names = [name for name, dock in self.docks.items() if dock.isVisible()]
        if not names:
            QMessageBox.information(self.window, "Export panel", "No panel is shown.")
            return
        titles = [self.docks[name].windowTitle() for name in names]
        current = names.index(self.current_panel()) if self.current_panel() in names else 0
        title, ok = QInputDialog.getItem(self.window, "Export panel", "Panel:", titles,
                                         current, False)
        if ok:
            name = names[titles.index(title)]
            self._save(self.docks[name].widget(), title, title.lower().replace(" ", "-"))

    def choose_window(self) -> None:
        self._save(self.window, self.window.windowTitle(), "workbench")

    def _save(self, widget: QWidget, title: str, stem: str) -> None:
        name, chosen = QFileDialog.getSaveFileName(self.window, f"Export {title}",
                                                   f"{stem}.png", ";;".join(FILTERS.values()))
        if not name:
            return
        path = Path(name)
        if path.suffix.lower() not in FILTERS:  # the chosen filter names the format
            path = path.with_name(path.name + next(
                (s for s, f in FILTERS.items() if f == chosen), ".png"))
        try:
            export_widget(widget, path, title)
        except ExportError as exc:
            QMessageBox.warning(self.window, "Cannot export", str(exc))
            return
        self.window.statusBar().showMessage(f"Exported {title} to {path}", 8000)
