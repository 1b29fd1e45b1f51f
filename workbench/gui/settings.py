"""What the workbench remembers between runs: the dock layout and the recent files.

Kept in one QSettings so tests can hand in a throw-away file instead of the user's.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QSize

MAX_RECENT = 8
_GEOMETRY, _STATE, _RECENT = "window/geometry", "window/state", "files/recent"
_SIZE = "window/size"  # the size the layout was saved at: Qt clamps geometry on restore


def default_settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                     "kvm-trap-workbench", "workbench")


class Settings:
    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else default_settings()

    # --- layout -------------------------------------------------------------------------
    def save_layout(self, geometry: QByteArray, state: QByteArray, size: QSize) -> None:
        self.store.setValue(_GEOMETRY, geometry)
        self.store.setValue(_STATE, state)
        self.store.setValue(_SIZE, size)
        self.store.sync()

    def forget_layout(self) -> None:
        for key in (_GEOMETRY, _STATE, _SIZE):
            self.store.remove(key)
        self.store.sync()

    def saved_size(self) -> QSize | None:
        value = self.store.value(_SIZE)
        return value if isinstance(value, QSize) else None

    def layout(self) -> tuple[QByteArray | None, QByteArray | None]:
        """(geometry, dock state) as last saved, None where nothing was saved."""
        return self._bytes(_GEOMETRY), self._bytes(_STATE)

    def _bytes(self, key: str) -> QByteArray | None:
        value = self.store.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    # --- recent files ---------------------------------------------------------------------
    def recent_files(self) -> list[Path]:
        value = self.store.value(_RECENT, [])
        names = [value] if isinstance(value, str) else list(value or [])
        return [Path(name) for name in names if name]

    def add_recent(self, path: Path) -> list[Path]:
        """Put `path` first (once) and return the list, at most MAX_RECENT long."""
        path = path.resolve()
        files = [path] + [p for p in self.recent_files() if p != path]
        files = files[:MAX_RECENT]
        self.store.setValue(_RECENT, [str(p) for p in files])
        self.store.sync()
        return files
