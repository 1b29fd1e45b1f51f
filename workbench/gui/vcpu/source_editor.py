"""The vCPU's program as Intel-syntax text: edit, assemble, and replace the program.

Assembly errors point at their line: the message under the editor and the line marked
red, so a typo is found without reading assembler output.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor, QFont, QTextCursor, QTextFormat
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QPushButton, QTextEdit, QVBoxLayout, QWidget

from workbench.kvm.guest.assembler import AssemblyError, Program, assemble

ERROR_LINE = QColor("#ffd0d0")


def source_of(program: Program) -> str:
    """The program's source, or its disassembly when it came as machine code."""
    if program.source.strip():
        return program.source
    return "\n".join(insn.text for insn in program.listing)


class SourceEditor(QWidget):
    assembled = Signal(object)  # Program

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = QPlainTextEdit()
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.editor.setFont(mono)
        self.error = QLabel(styleSheet="color: #d02020;", wordWrap=True)
        self.error.hide()
        self.assemble_button = QPushButton("Assemble and replace program")
        self.assemble_button.clicked.connect(self.assemble)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.error)
        layout.addWidget(self.assemble_button)
        self.error_line = 0

    def set_program(self, program: Program) -> None:
        self.editor.setPlainText(source_of(program))
        self._mark(0, "")

    def clear(self) -> None:
        self.editor.clear()
        self._mark(0, "")

    def assemble(self) -> Program | None:
        try:
            program = assemble(self.editor.toPlainText())
        except AssemblyError as exc:
            self._mark(exc.line, str(exc))
            return None
        self._mark(0, "")
        self.assembled.emit(program)
        return program

    def _mark(self, line: int, message: str) -> None:
        self.error_line = line
        self.error.setText(message)
        self.error.setVisible(bool(message))
        selections = []
        if line > 0:
            selection = QTextEdit.ExtraSelection()
            selection.format.setBackground(ERROR_LINE)
            selection.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
            block = self.editor.document().findBlockByNumber(line - 1)
            selection.cursor = QTextCursor(block)
            selections.append(selection)
            self.editor.setTextCursor(QTextCursor(block))
        self.editor.setExtraSelections(selections)
