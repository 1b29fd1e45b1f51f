"""The machine state panel (gdb's `info all-registers`): segment registers with their
hidden parts, control registers, RFLAGS and EFER decoded, GDTR/IDTR and the vCPU's MSR
file with each MSR's decoded fields and the step of its last in-kernel write. What the
current step's command changed is highlighted; right-click navigates back in time.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAction, QBrush, QFont, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.controller import SessionController
from workbench.gui.navigation import SHORTCUTS
from workbench.gui.vcpu.registers import CHANGED
from workbench.gui.widgets import ReadsWhenShown, show_vcpu_choice
from workbench.kvm.regs import CONTROL_NAMES, REG_NAMES
from workbench.session.machine import MachineState, StateRow

GROUPS = {"segments": "Segment registers", "control": "Control registers and flags",
          "tables": "Descriptor tables", "msrs": "MSR file"}
NAME, VALUE, DECODED, WRITTEN = range(4)
KEY_ROLE = Qt.ItemDataRole.UserRole
TRACEABLE = frozenset(REG_NAMES) | frozenset(CONTROL_NAMES)  # register_change_step's names


class MachineStatePanel(ReadsWhenShown):
    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.vcpu = QSpinBox(minimum=0, maximum=0, prefix="vCPU ")  # hidden with one vCPU
        self.vcpu.valueChanged.connect(self.refresh)
        self.note = QLabel(wordWrap=True, styleSheet="color: #8a5a00;")
        self.note.hide()
        self.tree = QTreeWidget()
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["register", "value", "decoded", "last write"])
        self.tree.setUniformRowHeights(True)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.tree.setFont(mono)
        self._bold = QFont(mono)
        self._bold.setBold(True)
        for column, width in ((NAME, 170), (VALUE, 180), (DECODED, 260)):
            self.tree.setColumnWidth(column, width)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.tree.currentItemChanged.connect(self._on_current)
        self._groups: dict[str, QTreeWidgetItem] = {}
        self._items: dict[str | int, QTreeWidgetItem] = {}
        self._add_shortcuts()
        head = QHBoxLayout()
        head.addWidget(self.vcpu)
        head.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(head)
        layout.addWidget(self.note)
        layout.addWidget(self.tree, 1)
        self.state: MachineState | None = None
        controller.changed.connect(self.refresh)

    def _add_shortcuts(self) -> None:
        """The context menu's commands on the selected row, by key."""
        for key, slot in (("previous_write", self.previous_write),
                          ("next_access", self.next_access),
                          ("register_change", self.register_change)):
            action = QAction(self.tree)
            action.setShortcut(QKeySequence(SHORTCUTS[key]))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(slot)
            self.tree.addAction(action)

    # --- following the session -------------------------------------------------------------
    def _read(self) -> None:
        session = self.controller.session
        count = 0 if session is None else session.vcpu_count
        show_vcpu_choice(self.vcpu, count)
        if not count:
            self._show(None, "no vCPU in this scenario")
            return
        vcpu = self.vcpu.value()
        if not session.can_read_state(vcpu):
            self._show(None, f"engine {session.engine}: cannot read this vCPU's state")
            return
        state = session.machine_state(vcpu)
        self._show(state, state.note)

    def _show(self, state: MachineState | None, note: str) -> None:
        self.state = state
        self.note.setText(note)
        self.note.setVisible(bool(note))
        rows = () if state is None else state.rows
        if [r.key for r in rows] != list(self._items):
            self._rebuild(rows)
        for row in rows:
            self._fill(self._items[row.key], row)
        # A segment's value (selector, base, limit, attributes) is long: show it whole.
        self.tree.resizeColumnToContents(VALUE)

    def _rebuild(self, rows: tuple[StateRow, ...]) -> None:
        self.tree.clear()
        self._groups, self._items = {}, {}
        for row in rows:
            group = self._groups.get(row.group)
            if group is None:
                group = self._groups[row.group] = QTreeWidgetItem(self.tree, [GROUPS[row.group]])
                group.setExpanded(True)
                group.setFirstColumnSpanned(True)
            item = QTreeWidgetItem(group, [row.name])
            item.setData(NAME, KEY_ROLE, row.key)
            self._items[row.key] = item
        msrs = self._groups.get("msrs")
        if msrs is not None:
            msrs.setText(NAME, f"{GROUPS['msrs']} ({msrs.childCount()})")

    def _fill(self, item: QTreeWidgetItem, row: StateRow) -> None:
        item.setText(VALUE, row.text)
        item.setToolTip(VALUE, row.text)
        item.setText(DECODED, row.decoded)
        item.setToolTip(DECODED, row.decoded)
        item.setText(WRITTEN, "" if row.last_write is None else f"step {row.last_write}")
        brush = QBrush(CHANGED) if row.changed else QBrush()
        for column in range(4):
            item.setBackground(column, brush)
            item.setFont(column, self._bold if row.changed else self.tree.font())

    def item(self, key: str | int) -> QTreeWidgetItem:
        """The row of a register name or an MSR index (tests and linked selection)."""
        return self._items[key]

    # --- navigation ---------------------------------------------------------------------------
    def _on_current(self, item: QTreeWidgetItem | None, _old: object = None) -> None:
        key = None if item is None else item.data(NAME, KEY_ROLE)
        if isinstance(key, int):
            self.controller.select_msr(key)  # linked selection in the other panels

    def _selected_key(self) -> str | int | None:
        item = self.tree.currentItem()
        return None if item is None else item.data(NAME, KEY_ROLE)

    def context_actions(self, key: str | int, menu: QMenu) -> list[QAction]:
        navigator = self.controller.navigator
        if isinstance(key, int):
            return navigator.msr_actions(menu, key)
        if key in TRACEABLE:
            return [navigator.register_action(menu, self.vcpu.value(), key)]
        return []

    def _context_menu(self, pos: QPoint) -> None:
        item = self.tree.itemAt(pos)
        key = None if item is None else item.data(NAME, KEY_ROLE)
        if key is None:
            return
        menu = QMenu(self)
        actions = self.context_actions(key, menu)
        if actions:
            menu.addActions(actions)
            menu.popup(self.tree.viewport().mapToGlobal(pos))

    def previous_write(self) -> None:
        key = self._selected_key()
        if isinstance(key, int):
            self.controller.navigator.previous_write(key)

    def next_access(self) -> None:
        key = self._selected_key()
        if isinstance(key, int):
            self.controller.navigator.next_access(key)

    def register_change(self) -> None:
        key = self._selected_key()
        if isinstance(key, str) and key in TRACEABLE:
            self.controller.navigator.register_change(self.vcpu.value(), key)
