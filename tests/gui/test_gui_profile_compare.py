"""The profiles view: the LTS demo under linux-5.10 and linux-6.18 shows both differences,
the first marked, each with the switch and commit that explain it."""

from pathlib import Path

from workbench.gui.controller import SessionController
from workbench.gui.profile_compare_view import FIRST_DIFFERENCE, ProfileCompareView
from workbench.session.scenario import load
from workbench.session.session import Session

LTS_DEMO = Path(__file__).parents[2] / "resources" / "scenarios" / "lts-differences.toml"


def make_view(qtbot) -> ProfileCompareView:
    controller = SessionController()
    controller.replace_session(Session(load(LTS_DEMO)))
    view = ProfileCompareView(controller)
    qtbot.addWidget(view)
    return view


def test_differences_are_listed_with_their_commits_first_marked(qtbot):
    view = make_view(qtbot)
    result = view.run()
    table = view.table
    assert result is not None and table.rowCount() == 2
    assert [table.item(0, c).text() for c in range(4)] == [
        "1 ▶ first", "enable_cap", "allowed", "EINVAL"]
    assert table.item(0, 4).text().startswith(
        "strict_user_space_msr_mask: 'KVM: x86: Protect the unused bits in MSR exiting flags'")
    assert table.item(0, 2).background().color() == FIRST_DIFFERENCE
    assert table.item(1, 2).background().color() != FIRST_DIFFERENCE
    assert "atomic_filter_update" in table.item(1, 4).text()
    assert table.horizontalHeaderItem(2).text() == "linux-5.10"
    assert "first at step 1" in view.status.text()


def test_the_same_profile_twice_shows_no_difference(qtbot):
    view = make_view(qtbot)
    view.profile_a.setCurrentText("linux-6.12")
    view.run()
    assert view.table.rowCount() == 0
    assert view.status.text().startswith("no difference")
