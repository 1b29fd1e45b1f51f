"""The filter editor's Export and Import: the edit leaves as code or JSON/TOML, a file comes
back as the edit (Apply installs it), and a bad file is named in the banner."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from tests.gui.test_gui_filter_editor import RW, make_controller
from workbench.gui.filter_editor import FilterEditor
from workbench.kvm.filter import MsrFilter, MsrFilterRange
from workbench.session import filter_files

INSTALLED = MsrFilter(1, (MsrFilterRange(RW, 0x10, 64, b"\xff" * 8),))
OTHER = MsrFilter(0, (MsrFilterRange(1, 0xC0000080, 1, b"\x00" * 8),
                      MsrFilterRange(2, 0x277, 64, b"\x0f" + b"\x00" * 7)))


@pytest.fixture
def editor(qtbot):
    widget = FilterEditor(make_controller(msr_filter=INSTALLED))
    qtbot.addWidget(widget)
    return widget


@pytest.mark.parametrize("kind", ["c", "rust", "json", "toml"])
def test_export_writes_the_edit(editor, tmp_path, kind):
    editor.default_box.setCurrentIndex(0)  # the edit, not the filter in force, is exported
    path = tmp_path / f"out{filter_files.SUFFIXES[kind]}"
    assert editor.files.export_to(path, kind)
    edited = MsrFilter(0, INSTALLED.ranges)
    assert path.read_text() == filter_files.EXPORTERS[kind](edited)


def test_import_shows_the_file_as_the_edit_and_apply_installs_it(editor, tmp_path):
    path = tmp_path / "f.toml"
    filter_files.export(OTHER, path)
    assert editor.files.import_from(path)
    assert editor.draft.to_filter() == OTHER
    assert editor.controller.session.msr_filter() == INSTALLED   # not before Apply
    assert editor.apply().error is None
    assert editor.controller.session.msr_filter() == OTHER


def test_a_bad_file_is_named_in_the_banner_and_the_edit_stays(editor, tmp_path):
    path = tmp_path / "f.json"
    filter_files.export(OTHER, path)
    path.write_text(path.read_text().replace('"flags": 2', '"flags": 4'))
    assert not editor.files.import_from(path)
    assert editor.draft.to_filter() == INSTALLED
    assert not editor.banner.isHidden()
    assert f"{path}:11: EINVAL: ranges[1].flags: 0x4 has bits outside READ|WRITE" \
        in editor.banner.text()


def test_an_edit_the_kernel_struct_cannot_carry_is_not_exported(editor, tmp_path):
    editor.load(MsrFilter(0, (MsrFilterRange(RW, 0, 0x600 * 8 + 64, b""),)))
    assert not editor.files.export_to(tmp_path / "f.c")
    assert "EINVAL: ranges[0].nmsrs" in editor.banner.text()
    assert not (tmp_path / "f.c").exists()
