"""The config-space bit grid: each 16-bit word in three rows (user, phys, virt), a cell per
bit, coloured by where the user's bit comes from; bits a trap touched are outlined.

The grid shows, never changes: a click on a user-row bit asks (signal) for a toggle, and
the panel turns that into an undoable write through vfio.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from workbench.session.pci_view import LAYERS, WORD_BITS, WordLayers

TRAP_ROLE = Qt.ItemDataRole.UserRole + 1
FIXED_COLUMNS = ("offset", "register", "layer")
BIT_COLUMN0 = len(FIXED_COLUMNS)  # column of bit 15; bit 0 is the last bit column
HEX_COLUMN = BIT_COLUMN0 + WORD_BITS
# Light for 0, strong for 1: green = the device's bit, violet = vconfig's, orange = phys.
FROM_DEVICE = (QColor("#e3f4e1"), QColor("#7cc576"))
FROM_VCONFIG = (QColor("#ece3f7"), QColor("#a184d0"))
PHYSICAL = (QColor("#fbeedd"), QColor("#f0a64b"))
SHADOW = (QColor("#f0f0f0"), QColor("#b8b8b8"))  # vconfig bits nobody reads
UNKNOWN = QColor("#fafafa")
TRAP_PEN = QColor("#d02020")

_Index = QModelIndex | QPersistentModelIndex


def bit_column(bit: int) -> int:
    return BIT_COLUMN0 + WORD_BITS - 1 - bit


def column_bit(column: int) -> int | None:
    if BIT_COLUMN0 <= column < HEX_COLUMN:
        return WORD_BITS - 1 - (column - BIT_COLUMN0)
    return None


class ConfigGridModel(QAbstractTableModel):
    """Rows: word n's user, phys and virt layers at 3n, 3n+1, 3n+2."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.words: list[WordLayers] = []
        self.traps: dict[int, int] = {}  # word offset -> bits a trap touched
        self._row_of: dict[int, int] = {}

    def set_words(self, words: list[WordLayers], traps: dict[int, int]) -> None:
        self.beginResetModel()
        self.words, self.traps = words, traps
        self._row_of = {w.offset: i * len(LAYERS) for i, w in enumerate(words)}
        self.endResetModel()

    # --- lookup -------------------------------------------------------------------------------
    def word(self, offset: int) -> WordLayers:
        return self.words[self._row_of[offset] // len(LAYERS)]

    def has_word(self, offset: int) -> bool:
        return offset in self._row_of

    def cell(self, offset: int, bit: int, layer: str) -> QModelIndex:
        """The model index of one bit of one layer."""
        return self.index(self._row_of[offset] + LAYERS.index(layer), bit_column(bit))

    def bit(self, offset: int, bit: int, layer: str) -> int | None:
        return self.word(offset).bit(layer, bit)

    def locate(self, index: _Index) -> tuple[WordLayers, str, int | None]:
        """(word, layer, bit or None) of a model index."""
        word = self.words[index.row() // len(LAYERS)]
        return word, LAYERS[index.row() % len(LAYERS)], column_bit(index.column())

    # --- QAbstractTableModel ----------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.words) * len(LAYERS)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else HEX_COLUMN + 1

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        if section < BIT_COLUMN0:
            return FIXED_COLUMNS[section]
        bit = column_bit(section)
        return "value" if bit is None else str(bit)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        word, layer, bit = self.locate(index)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(word, layer, index.column(), bit)
        if bit is None:
            return None
        if role == Qt.ItemDataRole.BackgroundRole:
            return QBrush(self._colour(word, layer, bit))
        if role == TRAP_ROLE:
            return layer == "user" and bool(self.traps.get(word.offset, 0) >> bit & 1)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(word, layer, bit)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return Qt.AlignmentFlag.AlignCenter
        return None

    @staticmethod
    def _text(word: WordLayers, layer: str, column: int, bit: int | None) -> str:
        first = layer == LAYERS[0]
        if column == 0:
            return f"{word.offset:#05x}" if first else ""
        if column == 1:
            return word.label if first else ""
        if column == 2:
            return layer
        value = word.layer(layer)
        if value is None:
            return "·"
        return f"{value:#06x}" if bit is None else str(value >> bit & 1)

    @staticmethod
    def _colour(word: WordLayers, layer: str, bit: int) -> QColor:
        value = word.bit(layer, bit)
        if value is None:
            return UNKNOWN
        from_vconfig = bool(word.from_vconfig >> bit & 1)
        if layer == "user":
            source = FROM_VCONFIG if from_vconfig else FROM_DEVICE
        elif layer == "phys":
            source = PHYSICAL
        else:
            source = FROM_VCONFIG if from_vconfig else SHADOW
        return source[value]

    @staticmethod
    def _tooltip(word: WordLayers, layer: str, bit: int) -> str:
        value = word.bit(layer, bit)
        head = f"{word.label} ({word.offset:#05x}) bit {bit}, {layer}: "
        if value is None:
            return head + "not open through vfio yet (the first access opens it)"
        where = "vconfig (virtualized)" if word.from_vconfig >> bit & 1 else "the device"
        writable = "writable" if word.write_mask >> bit & 1 else "read-only to the user"
        hint = "; click to toggle through vfio" if layer == "user" else ""
        return f"{head}{value}; the user reads it from {where}; {writable}{hint}"


class TrapDelegate(QStyledItemDelegate):
    """Outlines the bits the last command's config traps touched."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        super().paint(painter, option, index)
        if index.data(TRAP_ROLE):
            painter.save()
            painter.setPen(QPen(TRAP_PEN, 2))
            painter.drawRect(option.rect.adjusted(1, 1, -1, -1))
            painter.restore()


class ConfigGrid(QTableView):
    """The table view; `toggle_requested(offset, bit)` on a click on a user-row bit."""

    toggle_requested = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid_model = ConfigGridModel(self)
        self.setModel(self.grid_model)
        self.setItemDelegate(TrapDelegate(self))
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.setFont(mono)
        vheader = self.verticalHeader()
        vheader.hide()
        vheader.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vheader.setDefaultSectionSize(self.fontMetrics().height() + 4)
        # Every column as narrow as its text, so the whole word fits a docked panel and the
        # register names never scroll out of view.
        hheader = self.horizontalHeader()
        hheader.setMinimumSectionSize(8)
        hheader.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        bit_width = max(self.fontMetrics().horizontalAdvance("0"),
                        hheader.fontMetrics().horizontalAdvance("15")) + 6
        for column in range(BIT_COLUMN0, HEX_COLUMN):
            hheader.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            hheader.resizeSection(column, bit_width)
        self.clicked.connect(self._on_click)

    def show_words(self, words: list[WordLayers], traps: dict[int, int]) -> None:
        """Show new values; scroll down to the first word a trap touched, if any (never
        sideways: the offset and register name stay in view)."""
        self.grid_model.set_words(words, traps)
        touched = [off for off in sorted(traps) if self.grid_model.has_word(off)]
        if touched:
            self.doItemsLayout()  # scroll ranges for the new rows, before scrolling
            user_row = self.grid_model.cell(touched[0], 0, "user").row()
            self.scrollTo(self.grid_model.index(user_row, 0))
        self.horizontalScrollBar().setValue(0)

    def _on_click(self, index: QModelIndex) -> None:
        word, layer, bit = self.grid_model.locate(index)
        if layer == "user" and bit is not None:
            self.toggle_requested.emit(word.offset, bit)
