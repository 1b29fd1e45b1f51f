"""File -> Export: ask for a file, write it atomically (session.eventlog.export), and say
what happened in the status bar or, for a file that cannot be written, a message box."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from workbench.session.eventlog import export
from workbench.session.eventlog.stats import Statistics
from workbench.session.session import Session

_KINDS = {"csv": "CSV (*.csv)", "jsonl": "JSON Lines (*.jsonl)"}


def _write(window: QMainWindow, path: Path, write: Callable[[], str]) -> bool:
    try:
        done = write()
    except OSError as exc:
        QMessageBox.warning(window, "Cannot export", f"{path}: {exc.strerror or exc}")
        return False
    window.statusBar().showMessage(done, 8000)
    return True


def _ask(window: QMainWindow, title: str, fmt: str) -> Path | None:
    name, _ = QFileDialog.getSaveFileName(window, title, f"export.{fmt}", _KINDS[fmt])
    return Path(name) if name else None


def export_log(window: QMainWindow, session: Session | None, rows: np.ndarray, fmt: str,
               path: Path | None = None) -> bool:
    """The trap log's shown rows as `fmt` (csv, jsonl); asks for the file without `path`."""
    if session is None:
        return False
    path = path or _ask(window, "Export the trap log", fmt)
    if path is None:
        return False
    return _write(window, path, lambda: (
        f"exported {export.write_events(session.log, rows, path, fmt)} events to {path}"))


def export_statistics(window: QMainWindow, stats: Statistics | None,
                      path: Path | None = None) -> bool:
    if stats is None:
        return False
    path = path or _ask(window, "Export the statistics", "csv")
    if path is None:
        return False
    return _write(window, path, lambda: (export.write_statistics(stats, path),
                                         f"statistics exported to {path}")[1])
