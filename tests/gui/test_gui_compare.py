"""The compare view: a synthetic comparison's divergence is coloured, labelled and scrolled
to; without a host it says why; with one, diverge.toml parts at the invalid PAT write."""

from pathlib import Path

import pytest

from workbench.gui import compare_view
from workbench.gui.compare_view import FIRST_DIVERGENCE, CompareView
from workbench.gui.controller import SessionController
from workbench.session.compare import Comparison
from workbench.session.scenario import load
from workbench.session.session import Session

DIVERGE = Path(__file__).parents[2] / "resources" / "scenarios" / "diverge.toml"
@pytest.fixture
def view(qtbot) -> CompareView:
    controller = SessionController()
    controller.replace_session(Session(load(DIVERGE)))
    widget = CompareView(controller)
    qtbot.addWidget(widget)
    widget.resize(900, 300)
    widget.show()
    return widget


def test_a_divergence_is_coloured_labelled_and_scrolled_to(view):
    same = [f"vcpu0 IO_EXIT out port=0x80 size=1 data={i:#x}" for i in range(60)]
    result = Comparison(same + ["vcpu0 HLT"], same + ["vcpu0 SHUTDOWN", "vcpu0 rip=0x1"], 60)
    view.show_result(result)
    table = view.table
    assert table.rowCount() == 62 and table.item(61, 1).text() == ""
    assert table.item(60, 1).background().color() == FIRST_DIVERGENCE
    assert table.item(59, 1).background().color() != FIRST_DIVERGENCE
    assert table.item(60, 0).text() == "60 ▶ first divergence"
    rect = table.visualItemRect(table.item(60, 1))
    assert table.viewport().rect().contains(rect.center()), "scrolled to the divergence"
    assert "entry 60" in view.status.text() and "SHUTDOWN" in view.status.text()


def test_identical_streams_and_a_refused_comparison_are_reported(view):
    view.show_result(Comparison(["a"], ["a"], None))
    assert "agree on all 1" in view.status.text()
    view.show_result(Comparison([], [], None, "the host engine is unavailable: no /dev/kvm"))
    assert view.status.text() == "Not compared: the host engine is unavailable: no /dev/kvm"


def test_without_a_host_the_view_says_why(qtbot, monkeypatch):
    monkeypatch.setattr(compare_view, "host_unavailable", lambda: "/dev/kvm: ENOENT")
    controller = SessionController()
    controller.replace_session(Session(load(DIVERGE)))
    widget = CompareView(controller)
    qtbot.addWidget(widget)
    assert not widget.compare_button.isEnabled()
    assert "Cannot compare" in widget.status.text() and "ENOENT" in widget.status.text()


@pytest.mark.host
def test_diverge_toml_on_this_host(view):
    steps = view.controller.session.step
    view.compare_button.click()
    result = view.result
    assert result is not None and result.compared, result and result.reason
    assert result.first_divergence == 1
    assert view.table.item(1, 1).background().color() == FIRST_DIVERGENCE
    assert "reason=INVAL" in view.table.item(1, 1).text()
    assert "First divergence at entry 1" in view.status.text()
    assert view.controller.session.step == steps, "the user's session is untouched"
