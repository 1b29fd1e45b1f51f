"""What the workbench remembers between runs: the dock layout and the recent files.

They live in Qt's INI format where QSettings keeps them
($XDG_CONFIG_HOME/kvm-trap-workbench/workbench.ini), but QSettings never parses the file:
it would unpickle a `@Variant(... PySide::PyObjectWrapper ...)` value, so a settings file
someone planted could run code when the workbench starts. `workbench.gui.ini` reads and
writes it instead and only ever yields strings, lists of strings and bytes; every value is
type-checked, and one of another type is discarded with a warning naming its key. The file
is written whole (atomically, 0600) each time something changes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QSize

from workbench.atomic import write_atomic
from workbench.gui import ini
from workbench.session.eventlog.colouring import MAX_RULES, ColourRule, decode, encode
from workbench.session.journal import DIR_MODE

MAX_RECENT = 8
MAX_FILE_BYTES = 1 << 20       # far above what the three values need
_GEOMETRY, _STATE, _RECENT = "window/geometry", "window/state", "files/recent"
_RULES = "colouring/rules"  # one "#rrggbb<TAB>name<TAB>filter" string per rule, in order
_SIZE = "window/size"  # "WxH" the layout was saved at: Qt clamps geometry on restore
_log = logging.getLogger(__name__)


def default_path() -> Path:
    """The file QSettings(IniFormat, UserScope, "kvm-trap-workbench", "workbench") names."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "kvm-trap-workbench" / "workbench.ini"


class Settings:
    """The settings in `store`: a path, or a QSettings whose file is used (not its values);
    the user's file by default. `warnings` lists what was discarded, and why."""

    def __init__(self, store: Path | str | QSettings | None = None) -> None:
        if isinstance(store, QSettings):
            store = store.fileName()
        self.path = default_path() if store is None else Path(store)
        self.warnings: list[str] = []

    def _warn(self, message: str) -> None:
        message = f"{self.path}: {message}"
        if message not in self.warnings:
            self.warnings.append(message)
            _log.warning("%s", message)

    def _read(self) -> dict[str, ini.Value]:
        try:
            if not self.path.exists():
                return {}
            if not self.path.is_file() or self.path.stat().st_size > MAX_FILE_BYTES:
                self._warn(f"ignored: not a regular file under {MAX_FILE_BYTES >> 20} MiB")
                return {}
            return ini.parse(self.path.read_bytes().decode("utf-8", errors="replace"))
        except OSError as exc:
            self._warn(f"cannot read it: {exc.strerror or exc}")
            return {}

    def _discard(self, key: str, value: ini.Value, expected: str) -> None:
        kind = f"a @{value.form}(...) value" if isinstance(value, ini.Typed) else (
            f"a {type(value).__name__}")
        self._warn(f"{key}: {kind} was discarded ({expected} expected; typed values are "
                   f"never decoded)")

    def _write(self, values: dict[str, str | bytes | list[str]]) -> None:
        self.path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        write_atomic(self.path, [ini.dump(values).encode()])

    def _plain(self) -> dict[str, str | bytes | list[str]]:
        """The values worth writing back: those that pass their type check."""
        geometry, state = self._bytes(_GEOMETRY), self._bytes(_STATE)
        values: dict[str, str | bytes | list[str]] = {}
        if geometry is not None:
            values[_GEOMETRY] = geometry
        if state is not None:
            values[_STATE] = state
        size = self.saved_size()
        if size is not None:
            values[_SIZE] = f"{size.width()}x{size.height()}"
        values[_RECENT] = [str(p) for p in self.recent_files()]
        rules = self.colour_rules()
        if rules is not None:
            values[_RULES] = [encode(r) for r in rules] or ""
        return values

    # --- layout -------------------------------------------------------------------------
    def save_layout(self, geometry: QByteArray, state: QByteArray,
                    size: QSize | None = None) -> None:
        """Save the layout and the window size it was made at (without one, the layout
        counts as not known to fit and the window discards it)."""
        values = self._plain()
        values[_GEOMETRY], values[_STATE] = bytes(geometry.data()), bytes(state.data())
        values.pop(_SIZE, None)
        if size is not None:
            values[_SIZE] = f"{size.width()}x{size.height()}"
        self._write(values)

    def forget_layout(self) -> None:
        values = self._plain()
        for key in (_GEOMETRY, _STATE, _SIZE):
            values.pop(key, None)
        self._write(values)

    def saved_size(self) -> QSize | None:
        """The window size the layout was saved at; None if none (or not "WxH")."""
        value = self._read().get(_SIZE)
        if value is None:
            return None
        width, _, height = value.partition("x") if isinstance(value, str) else ("", "", "")
        if not (width.isdigit() and height.isdigit()):
            self._discard(_SIZE, value, 'a "WIDTHxHEIGHT" size')
            return None
        return QSize(int(width), int(height))

    def layout(self) -> tuple[QByteArray | None, QByteArray | None]:
        """(geometry, dock state) as last saved, None where nothing (usable) was saved."""
        geometry, state = self._bytes(_GEOMETRY), self._bytes(_STATE)
        return (QByteArray(geometry) if geometry else None,
                QByteArray(state) if state else None)

    def _bytes(self, key: str) -> bytes | None:
        value = self._read().get(key)
        if value is None or isinstance(value, bytes):
            return value or None
        self._discard(key, value, "a byte array")
        return None

    # --- recent files ---------------------------------------------------------------------
    def recent_files(self) -> list[Path]:
        value = self._read().get(_RECENT)
        names = [] if value is None else [value] if isinstance(value, str) else value
        if isinstance(names, list) and all(isinstance(name, str) for name in names):
            return [Path(name) for name in names if name][:MAX_RECENT]
        odd = next(n for n in names if not isinstance(n, str)) if isinstance(
            names, list) else names
        self._discard(_RECENT, odd, "a list of file names")
        return []

    def add_recent(self, path: Path) -> list[Path]:
        """Put `path` first (once) and return the list, at most MAX_RECENT long."""
        path = path.resolve()
        files = [path] + [p for p in self.recent_files() if p != path]
        files = files[:MAX_RECENT]
        values = self._plain()
        values[_RECENT] = [str(p) for p in files]
        self._write(values)
        return files

    # --- colouring rules --------------------------------------------------------------------
    def colour_rules(self) -> list[ColourRule] | None:
        """The saved colouring rules in order; None if none were saved (use the defaults).
        A rule that cannot be read is dropped with a warning naming its position."""
        value = self._read().get(_RULES)
        if value is None:
            return None
        items = ([] if value == "" else [value]) if isinstance(value, str) else value
        if not isinstance(items, list):
            self._discard(_RULES, value, "a list of colouring rules")
            return None
        rules = []
        for i, item in enumerate(items[:MAX_RULES], start=1):
            if not isinstance(item, str):
                self._discard(f"{_RULES} rule {i}", item, "colour<TAB>name<TAB>filter")
                continue
            try:
                rules.append(decode(item))
            except ValueError as exc:
                self._warn(f"{_RULES}: rule {i} was discarded: {exc}")
        if len(items) > MAX_RULES:
            self._warn(f"{_RULES}: only the first {MAX_RULES} rules are used")
        return rules

    def save_colour_rules(self, rules: list[ColourRule]) -> None:
        values = self._plain()
        values[_RULES] = [encode(r) for r in rules] or ""
        self._write(values)
