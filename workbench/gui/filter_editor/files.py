"""The filter editor's File button (Export and Import): the edit as C, Rust, JSON or TOML, and a
JSON/TOML filter back into the edit (Apply then installs it, undoably).

The formats and their checks live in workbench.session.filter_files (no Qt); this module
only asks for a path and shows what went wrong in the editor's banner, naming the file's
line, the field and the kernel's errno.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMenu, QToolButton, QWidget

from workbench.kvm.filter import MsrFilter
from workbench.session import filter_files

KINDS = {"c": "C (struct kvm_msr_filter)", "rust": "Rust (kvm-bindings)",
         "json": "JSON", "toml": "TOML"}


class FilterFiles:
    """Export/Import for an editor: `current` gives the edit as a filter (None with a
    reason shown when the table holds text that is not a number), `load` shows a filter as
    the edit, `show_error` puts a message in the editor's banner."""

    def __init__(self, parent: QWidget, current: Callable[[], MsrFilter | None],
                 load: Callable[[MsrFilter], None], show_error: Callable[[str], None],
                 notice: Callable[[str], None]) -> None:
        self.parent, self.current, self.load = parent, current, load
        self.show_error, self.notice = show_error, notice
        self.button = QToolButton(parent)
        self.button.setText("File")
        self.button.setToolTip("Export the edit as code for your VMM (C, Rust) or as the "
                               "workbench's JSON/TOML; import a JSON/TOML filter")
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.button)
        self.import_action = menu.addAction("", self._choose_import)
        self.set_next_step("Apply installs it")
        menu.addSeparator()
        self.export_actions = {kind: menu.addAction(f"Export as {text}…",
                                                    lambda k=kind: self._choose_export(k))
                               for kind, text in KINDS.items()}
        self.button.setMenu(menu)

    def set_next_step(self, text: str) -> None:
        """What the user does with an imported filter (a capture's editor cannot Apply)."""
        self.next_step = text
        self.import_action.setText(f"Import JSON/TOML… ({text})")

    def export_to(self, path: Path, kind: str | None = None) -> bool:
        """Write the edit to `path`; False (with the reason in the banner) if it cannot be."""
        msr_filter = self.current()
        if msr_filter is None:
            return False
        try:
            kind = filter_files.export(msr_filter, path, kind)
        except OSError as exc:
            code = f"{filter_files.errno_name(exc.errno)}: " if exc.errno else ""
            self.show_error(f"Cannot export — {code}{exc.strerror or exc}")
            return False
        except ValueError as exc:
            self.show_error(f"Cannot export — {exc}")
            return False
        self.notice(f"MSR filter exported as {KINDS[kind]} to {path}")
        return True

    def import_from(self, path: Path) -> bool:
        """Show the filter in `path` as the edit; False (reason in the banner) if unusable."""
        try:
            msr_filter = filter_files.load(path)
        except filter_files.FilterFileError as exc:
            self.show_error(f"Cannot import — {exc}")
            return False
        self.load(msr_filter)
        self.notice(f"MSR filter imported from {path}: {self.next_step}")
        return True

    def _choose_export(self, kind: str) -> None:
        suffix = filter_files.SUFFIXES[kind]
        name, _ = QFileDialog.getSaveFileName(self.parent, f"Export MSR filter as {KINDS[kind]}",
                                              f"msr_filter{suffix}",
                                              f"{KINDS[kind]} (*{suffix});;All files (*)")
        if name:
            self.export_to(Path(name), kind)

    def _choose_import(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self.parent, "Import MSR filter", "",
                                              "MSR filters (*.json *.toml);;All files (*)")
        if name:
            self.import_from(Path(name))
