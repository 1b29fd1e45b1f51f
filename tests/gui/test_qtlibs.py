"""A fresh machine without Qt's xcb libraries gets every missing library named at once."""

import subprocess

from workbench.gui import app, qtlibs

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
"""


def fake_ldd(monkeypatch, output: str) -> None:
    def run(args, **kwargs):
        return subprocess.CompletedProcess(args, 0, stdout=output, stderr="")
    monkeypatch.setattr(qtlibs.subprocess, "run", run)


def test_every_missing_library_and_its_package_is_named(monkeypatch):
    fake_ldd(monkeypatch, LDD)
    problem = qtlibs.xcb_problem()
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4, libxcb-keysyms.so.1" in problem
    assert "apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in problem


def test_nothing_missing_is_no_problem(monkeypatch):
    fake_ldd(monkeypatch, "\tlibxcb.so.1 => /lib/libxcb.so.1 (0x1)\n")
    assert qtlibs.xcb_problem() is None


def test_the_gui_stops_with_the_names_instead_of_qts_message(monkeypatch, capsys, tmp_path):
    fake_ldd(monkeypatch, LDD)
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    assert app.run_gui(tmp_path / "any.toml") == 1
    assert "missing libxcb-cursor.so.0, libxcb-icccm.so.4" in capsys.readouterr().err


def test_makefile_installs_every_package_the_check_names():
    makefile = (qtlibs.Path(__file__).parents[2] / "Makefile").read_text()
    listed = set(makefile.split("SYSTEM_DEBS :=")[1].split(".PHONY")[0].replace("\\", " ")
                 .split())
    assert set(qtlibs.DEBIAN_PACKAGES.values()) <= listed
