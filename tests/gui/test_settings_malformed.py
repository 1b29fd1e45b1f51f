"""The settings file cannot run code: QSettings would unpickle a planted `@Variant(...)`
value at start-up, so the workbench reads the file itself, keeps plain values only and
warns, naming the key, about any other. Every file in tests/malformed/settings/ is loaded;
its .expect sidecar gives the warning (`message`) the load must log."""

import shutil
import stat
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QByteArray, QSettings

from workbench.gui.settings import Settings

CORPUS = Path(__file__).parents[1] / "malformed" / "settings"
CASES = sorted(p for p in CORPUS.iterdir() if p.suffix == ".ini")
RAN = "settings-payload-ran"      # the file the corpus's pickled payloads create


def store(path: Path) -> QSettings:
    return QSettings(str(path), QSettings.Format.IniFormat)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_a_malformed_settings_file_runs_nothing_and_names_the_key(case, tmp_path,
                                                                   monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    expect = tomllib.loads(Path(f"{case}.expect").read_text())
    path = tmp_path / "workbench.ini"
    shutil.copyfile(case, path)
    loaded = Settings(store(path))
    recent, (geometry, state) = loaded.recent_files(), loaded.layout()
    rules = loaded.colour_rules()
    assert rules is None or all(isinstance(r.filter, str) for r in rules)
    assert not (tmp_path / RAN).exists()
    assert expect["message"] in caplog.text
    assert all(isinstance(p, Path) for p in recent)
    assert all(v is None or isinstance(v, QByteArray) for v in (geometry, state))
    loaded.add_recent(tmp_path / "next.toml")       # writing back keeps plain values only
    assert "@Variant" not in path.read_text(errors="replace")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Settings(path).recent_files()[0] == (tmp_path / "next.toml").resolve()


def test_the_window_starts_on_a_planted_payload_and_says_what_it_dropped(
        make_window, settings, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path(settings.fileName()).write_bytes((CORPUS / "variant-recent.ini").read_bytes())
    window = make_window(None)
    assert not (tmp_path / RAN).exists()
    assert "files/recent" in window.statusBar().currentMessage()
    assert [a.text() for a in window.recent_menu.actions()] == []


ODD_NAMES = ["/a/b c.toml", "/x,y;z=.toml", '/q"uo\\te.toml', "@at.toml", " lead.toml",
             "/ü/ñ.toml", "/tab\there", "/trailing\t"]


def test_files_qt_wrote_are_read_and_files_written_read_back_in_qt(tmp_path):
    qt_file = tmp_path / "qt.ini"
    qt = store(qt_file)
    qt.setValue("window/geometry", QByteArray(bytes(range(256))))
    qt.setValue("window/state", QByteArray(b"\x00123\xff"))
    qt.setValue("files/recent", ODD_NAMES)
    qt.sync()
    ours = Settings(qt_file)
    assert [str(p) for p in ours.recent_files()] == [str(Path(n)) for n in ODD_NAMES][:8]
    geometry, state = ours.layout()
    assert bytes(geometry.data()) == bytes(range(256)) and bytes(state.data()) == b"\x00123\xff"
    written = tmp_path / "ours.ini"
    Settings(written).save_layout(geometry, state)
    back = store(written)
    assert bytes(back.value("window/geometry").data()) == bytes(range(256))
    assert bytes(back.value("window/state").data()) == b"\x00123\xff"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=["Cs"]), min_size=1), max_size=4),
       st.binary(min_size=1, max_size=64))
def test_what_settings_write_reads_back_unchanged(names, blob):
    from workbench.gui import ini

    values = {"window/state": blob, "files/recent": names}
    parsed = ini.parse(ini.dump(values))
    assert parsed["window/state"] == blob
    one = len(names) == 1                          # as in QSettings: a one-item list is
    assert parsed["files/recent"] == (names[0] if one else names or None)  # a string


def test_a_recent_file_ending_in_unicode_whitespace_keeps_it():
    """Found by the round-trip property: U+0085 ended a name and was trimmed away."""
    from workbench.gui import ini

    for name in ("\x85", "run\u2028", "a\x85b"):
        assert ini.parse(ini.dump({"files/recent": [name]}))["files/recent"] == name
