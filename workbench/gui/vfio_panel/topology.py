"""The PCI topology as a tree (PFs, their VFs, s390 detached VFs) with the core's flags,
so the user sees which flag the profile keys vfio-pci's MSE emulation on."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from workbench.session.pci_view import DeviceNode

COLUMNS = ("device", "address", "kind", "is_virtfn", "physfn", "no_command_memory", "vfio",
           "MSE key", "memory")
KEY_COLOUR = QColor("#ece3f7")
TREE_ROWS = 3  # rows the tree asks for: a PF and two VFs; more scroll


def _flag(value: bool | None) -> str:
    return "n/a" if value is None else str(int(value))


def node_texts(node: DeviceNode) -> list[str]:
    memory = "—" if node.memory_enabled is None else ("enabled" if node.memory_enabled
                                                     else "disabled")
    return [node.name, node.address, node.kind, _flag(node.is_virtfn), node.physfn or "—",
            _flag(node.no_command_memory), "open" if node.open else "—",
            "set" if node.mse_key else "—", memory]


class TopologyTree(QTreeWidget):
    """`device_selected(name)` when the user picks a function."""

    device_selected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(list(COLUMNS))
        self.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setRootIsDecorated(True)
        self.currentItemChanged.connect(self._on_current)

    def set_nodes(self, nodes: list[DeviceNode], key_column: str) -> None:
        """Rebuild the tree, keeping the selection when the device still exists.
        `key_column` ("is_virtfn" or "no_command_memory") is tinted: the profile's key."""
        current = self.current_name()
        self.blockSignals(True)
        try:
            self.clear()
            for node in nodes:
                item = self._item(node, key_column)
                self.addTopLevelItem(item)
                item.addChildren([self._item(child, key_column) for child in node.children])
                item.setExpanded(True)
        finally:
            self.blockSignals(False)
        if current is not None and self.select(current):
            return
        first = self.topLevelItem(0)
        if first is not None:
            self.setCurrentItem(first)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        """A PF and a few VFs tall: the config grid below needs the height more."""
        rows = max(self.sizeHintForRow(0), self.fontMetrics().height() + 4)
        return QSize(super().sizeHint().width(), self.header().sizeHint().height()
                     + TREE_ROWS * rows + 2 * self.frameWidth())

    def _item(self, node: DeviceNode, key_column: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(node_texts(node))
        item.setData(0, Qt.ItemDataRole.UserRole, node.name)
        item.setBackground(COLUMNS.index(key_column), KEY_COLOUR)
        item.setToolTip(COLUMNS.index("MSE key"),
                        "vfio-pci emulates MSE for this function (the profile's key)")
        return item

    def current_name(self) -> str | None:
        item = self.currentItem()
        return None if item is None else item.data(0, Qt.ItemDataRole.UserRole)

    def item_of(self, name: str) -> QTreeWidgetItem | None:
        found = self.findItems(name, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive, 0)
        return found[0] if found else None

    def select(self, name: str) -> bool:
        item = self.item_of(name)
        if item is not None:
            self.setCurrentItem(item)
        return item is not None

    def _on_current(self, item: QTreeWidgetItem | None, _previous: object) -> None:
        if item is not None:
            self.device_selected.emit(item.data(0, Qt.ItemDataRole.UserRole))
