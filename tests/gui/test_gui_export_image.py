"""File -> Export: a panel or the whole window as PNG or SVG, written atomically."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from workbench.gui.export_image import ExportError, export_widget


def answer_dialogs(monkeypatch, path: Path, panel: str | None = None) -> list[str]:
    """The panel and file dialogs answer as a user would; returns the warnings shown."""
    if panel is not None:
        monkeypatch.setattr(QInputDialog, "getItem",
                            lambda *args: (panel, True))
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *args: (str(path), "SVG drawing (*.svg)"))
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: warnings.append(text))
    return warnings


def test_the_file_menu_offers_both_exports(make_window):
    window = make_window()
    texts = [a.text().replace("&", "") for a in window.export_menu.actions()]
    assert "Panel as PNG/SVG…" in texts and "Window as PNG/SVG…" in texts


def test_a_panel_exports_as_png_of_its_size(make_window, monkeypatch, tmp_path):
    window = make_window()
    window.docks["timeline"].raise_()
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "timeline.png"
    warnings = answer_dialogs(monkeypatch, target, panel="Timeline")
    window.image_export.panel_action.trigger()
    assert warnings == []
    image = QImage(str(target))
    assert not image.isNull() and image.size() == window.timeline.size()
    assert list(target.parent.iterdir()) == [target]   # no scratch file left behind


def test_the_window_exports_as_svg(make_window, monkeypatch, tmp_path):
    window = make_window()
    target = tmp_path / "window"          # no suffix: the chosen filter says SVG
    answer_dialogs(monkeypatch, target)
    window.image_export.window_action.trigger()
    text = (tmp_path / "window.svg").read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert f'width="{window.width()}' in text.replace("mm", "")


def test_an_unwritable_target_is_a_message_not_a_traceback(make_window, monkeypatch,
                                                           tmp_path):
    window = make_window()
    target = tmp_path / "missing-folder" / "out.png"
    warnings = answer_dialogs(monkeypatch, target, panel="Trap log")
    window.image_export.panel_action.trigger()
    assert len(warnings) == 1 and "missing-folder" in warnings[0]
    assert not target.parent.exists()


def test_an_existing_file_survives_a_bad_format(make_window, tmp_path):
    window = make_window()
    kept = tmp_path / "notes.txt"
    kept.write_text("mine")
    with pytest.raises(ExportError, match=r"notes\.txt.*\.png or \.svg"):
        export_widget(window, kept)
    assert kept.read_text() == "mine"
