"""The GUI asks the session's queries instead of reading its state, and nothing outside a
package reaches another package's private names (issue 11, item 5). An AST scan, so a
regression fails here instead of slipping through review."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Session attributes the GUI must not read: each has a query (vcpu_count, halted,
# handler_rules, has_pci, pci_summary, ...) that answers with a plain value or a copy.
SESSION_STATE = {"views", "vcpus", "handlers", "pci", "vm", "kvm", "checkpoints",
                 "observers", "digests"}
# Engine and PCI-model objects no GUI attribute chain may pass through, whatever it starts at.
MODEL_OBJECTS = {"views", "vm", "cpu", "system", "story"}
# Private names of third-party objects a benchmark measures against: they have no public
# accessor, and belong to no package of ours.
THIRD_PARTY = {"_renderRequired": "pyqtgraph ImageItem: whether a paint is still due",
               "_uch": "unicorn Uc's C handle, for the bare-C baseline"}


def _trees(root: Path, *folders: str) -> list[tuple[str, ast.AST]]:
    return [(str(path.relative_to(root)), ast.parse(path.read_text(), str(path)))
            for folder in folders for path in sorted((root / folder).rglob("*.py"))]


def _is_session(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id == "session"
            or isinstance(node, ast.Attribute) and node.attr == "session")


def gui_reads_of_session_state(root: Path) -> list[str]:
    found = []
    for name, tree in _trees(root, "workbench/gui"):
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and (
                    node.attr in MODEL_OBJECTS
                    or node.attr in SESSION_STATE and _is_session(node.value)):
                found.append(f"{name}:{node.lineno}: .{node.attr}")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("_")  # not dunder, not enum sunder


def _own(node: ast.AST) -> bool:
    """self._x, cls._x, super()._x: the object's own names."""
    return (isinstance(node, ast.Name) and node.id in ("self", "cls")
            or isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "super")


def foreign_private_names(root: Path) -> list[str]:
    found = []
    for name, tree in _trees(root, "workbench/gui", "tests", "benchmarks"):
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and _private(node.attr)
                    and not _own(node.value) and node.attr not in THIRD_PARTY):
                found.append(f"{name}:{node.lineno}: .{node.attr}")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "workbench"):
                found += [f"{name}:{node.lineno}: import {alias.name}"
                          for alias in node.names if _private(alias.name)]
    return found


def test_the_gui_reads_no_session_state_but_its_queries():
    assert gui_reads_of_session_state(ROOT) == []


def test_nothing_outside_a_package_touches_its_private_names():
    assert foreign_private_names(ROOT) == []
