"""View -> Colouring rules: the default rules and the dialog that edits the ordered list.

Rules are session-layer data (workbench.session.eventlog.colouring, which also evaluates
them); this module holds the defaults, in the Okabe-Ito colours of workbench.gui.palette,
and the editor: add, remove, move, edit a filter (its syntax error shown in place, as
the trap log's filter box does) and pick a colour.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QColorDialog,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.gui import palette
from workbench.gui.timeline.marks import ColourFunction, by_kind
from workbench.session.eventlog.colouring import ColourRule, check_rule, match_rules
from workbench.session.eventlog.display_filter import compile_filter
from workbench.session.eventlog.filter_lang import FilterSyntaxError

DEFAULT_RULES: tuple[ColourRule, ...] = (
    ColourRule("#GP injected", "kind=MSR_GP", palette.VERMILLION),
    ColourRule("MSR denied by the filter", "kind=MSR_EXIT and reason=FILTER", palette.ORANGE),
    ColourRule("User space failed the access", "kind=USER_ANSWER and flags=ERROR",
               palette.ORANGE),
    ColourRule("Blocked MMIO or SIGBUS", "kind=REGION_BLOCKED or kind=MMAP_FAULT",
               palette.REDDISH_PURPLE),
    ColourRule("Failed ioctl", "(kind=FILTER_SET or kind=CAP_SET) and errno!=0",
               palette.YELLOW),
    ColourRule("Passthrough access (no VM exit)", "flags=PASSTHROUGH", palette.SKY_BLUE),
)
_BAD = "QLineEdit { border: 2px solid #d02020; }"


def tint(colour: str, amount: float = 0.55) -> QColor:
    """`colour` mixed with white: a row background black text stays readable on."""
    c = QColor(colour)
    return QColor.fromRgb(*(round(v + (255 - v) * amount) for v in (c.red(), c.green(),
                                                                     c.blue())))


def filter_error_label() -> QLabel:
    """The caret message under a filter box. It wraps: a message listing every field name
    must not widen its dialog or dock past the screen."""
    label = QLabel(styleSheet="color: #d02020; font-family: monospace;", wordWrap=True)
    label.hide()
    return label


def show_filter_error(edit: QLineEdit, label: QLabel, text: str) -> bool:
    """Mark `edit` and explain under it if `text` does not parse; True if it does."""
    compiled = compile_filter(text)
    if isinstance(compiled, FilterSyntaxError):
        edit.setStyleSheet(_BAD)
        edit.setToolTip(str(compiled))
        label.setText(compiled.caret())
        label.show()
        return False
    edit.setStyleSheet("")
    edit.setToolTip("")
    label.hide()
    return True


class ColourRulesDialog(QDialog):
    """The ordered rule list; `rules()` is what the user made of it."""

    def __init__(self, rules: list[ColourRule], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Colouring rules")
        self.list = QListWidget()
        self.list.currentRowChanged.connect(self._show_rule)
        self.name_edit = QLineEdit(placeholderText="name")
        self.filter_edit = QLineEdit(placeholderText="display filter, e.g. kind=MSR_GP")
        self.filter_error = filter_error_label()
        self.colour_button = QPushButton("Colour…")
        self.name_edit.textEdited.connect(self._edited)
        self.filter_edit.textEdited.connect(self._edited)
        self.colour_button.clicked.connect(self._pick_colour)
        buttons = QHBoxLayout()
        for text, slot in (("Add", self.add_rule), ("Remove", self.remove_rule),
                           ("Up", lambda: self.move_rule(-1)),
                           ("Down", lambda: self.move_rule(+1)),
                           ("Defaults", self._defaults)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                               | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("The first rule a row matches gives its colour."))
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        edit_row = QHBoxLayout()
        edit_row.addWidget(self.name_edit, 1)
        edit_row.addWidget(self.filter_edit, 2)
        edit_row.addWidget(self.colour_button)
        layout.addLayout(edit_row)
        layout.addWidget(self.filter_error)
        layout.addWidget(box)
        self._set_rules(rules)
        # Wide enough that each rule reads whole (a screen's worth at most).
        wanted = self.list.sizeHintForColumn(0) + 2 * self.list.frameWidth() + 40
        self.resize(max(self.sizeHint().width(), min(wanted, 900)), self.sizeHint().height())

    # --- the list ----------------------------------------------------------------------------
    def _set_rules(self, rules: list[ColourRule]) -> None:
        self.list.clear()
        for rule in rules:
            self.list.addItem(self._item(rule))
        self.list.setCurrentRow(0 if rules else -1)

    def _item(self, rule: ColourRule) -> QListWidgetItem:
        item = QListWidgetItem()
        self._fill(item, rule)
        return item

    @staticmethod
    def _fill(item: QListWidgetItem, rule: ColourRule) -> None:
        item.setData(Qt.ItemDataRole.UserRole, rule)
        problem = check_rule(rule)
        item.setText(f"{rule.name}    [{rule.filter}]" + (f"  — {problem}" if problem else ""))
        item.setBackground(QBrush(tint(rule.colour)) if problem is None
                           else QBrush(Qt.BrushStyle.NoBrush))

    def rules(self) -> list[ColourRule]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.list.count())]

    def add_rule(self) -> None:
        rule = ColourRule("new rule", "kind=MSR_EXIT", palette.BLUE)
        self.list.addItem(self._item(rule))
        self.list.setCurrentRow(self.list.count() - 1)

    def remove_rule(self) -> None:
        row = self.list.currentRow()
        if row >= 0:
            self.list.takeItem(row)

    def move_rule(self, delta: int) -> None:
        row = self.list.currentRow()
        to = row + delta
        if row < 0 or not 0 <= to < self.list.count():
            return
        item = self.list.takeItem(row)
        self.list.insertItem(to, item)
        self.list.setCurrentRow(to)

    def _defaults(self) -> None:
        self._set_rules(list(DEFAULT_RULES))

    # --- the current rule --------------------------------------------------------------------
    def _current(self) -> ColourRule | None:
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def _show_rule(self, _row: int) -> None:
        rule = self._current()
        for widget in (self.name_edit, self.filter_edit, self.colour_button):
            widget.setEnabled(rule is not None)
        if rule is None:
            return
        self.name_edit.setText(rule.name)
        self.filter_edit.setText(rule.filter)
        self.colour_button.setStyleSheet(f"background: {rule.colour};")
        show_filter_error(self.filter_edit, self.filter_error, rule.filter)

    def _edited(self) -> None:
        self.set_current(name=self.name_edit.text(), filter_text=self.filter_edit.text())
        show_filter_error(self.filter_edit, self.filter_error, self.filter_edit.text())

    def set_current(self, *, name: str | None = None, filter_text: str | None = None,
                    colour: str | None = None) -> None:
        """Change the selected rule (what the edits and the colour picker do)."""
        rule, item = self._current(), self.list.currentItem()
        if rule is None or item is None:
            return
        rule = ColourRule(rule.name if name is None else name,
                          rule.filter if filter_text is None else filter_text,
                          rule.colour if colour is None else colour)
        self._fill(item, rule)
        self.colour_button.setStyleSheet(f"background: {rule.colour};")

    def _pick_colour(self) -> None:
        rule = self._current()
        if rule is None:
            return
        chosen = QColorDialog.getColor(QColor(rule.colour), self, "Rule colour")
        if chosen.isValid():
            self.set_current(colour=chosen.name())


def timeline_colours(rules: Sequence[ColourRule],
                     devices: Callable[[], Mapping[int, str]]) -> ColourFunction | None:
    """The timeline's colour function for `rules`: a mark takes the colour of the first rule
    its event matches, else its kind's; None (colour by kind) when there are no rules.
    `devices` gives the current log's device names, which `device=` tests read."""
    if not rules:
        return None
    rgb = np.array([[int(rule.colour[i:i + 2], 16) for i in (1, 3, 5)] for rule in rules],
                   np.uint8)
    chosen = list(rules)

    def colour(rows: np.ndarray, first: int) -> np.ndarray:
        index = match_rules(chosen, rows, first, devices())
        out = by_kind(rows)   # a fresh array (fancy indexing): ours to overwrite
        hit = index >= 0
        out[hit] = rgb[index[hit]]
        return out

    return colour
