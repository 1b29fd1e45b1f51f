"""The MSR filter editor: ranges table, lane view and bitmap painter around a Draft."""

from workbench.gui.filter_editor.editor import FilterEditor

__all__ = ["FilterEditor"]
