"""Screenshot tests: every panel in a fixed state, compared with a golden PNG.

Panels come from workbench.gui.screenshot (the code `workbench screenshot` runs): the
demo scenario and the s390 detached-VF story under the default command sequence, each
panel 880x560 at device pixel ratio 1, DejaVu fonts from resources/fonts, Fusion.

Tolerance. Heatmaps (the bitmap inspector's three maps, the filter editor's bitmap) are
compared exactly: their cells through the colour table, every RGBA byte. Whole panels
may differ in at most MAX_FRACTION (0.1 %, about 490 of 880x560 pixels) by more than
CHANNEL_DELTA (16 of 255) in any channel. Qt draws text with the system's FreeType, so
that margin absorbs another FreeType version's antialiasing of the same shipped glyphs
(no hinting, greyscale); a changed sentence, a moved widget or a recoloured area exceeds
it, a single changed digit (~50 pixels) does not — the panels' own tests check values.
A size change always fails.

`pytest --update-screenshots` rewrites the golden files under tests/screenshots/. A
mismatch writes <name>.actual.png and <name>.diff.png (differing pixels in magenta over
a faded copy) beside the golden file.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from workbench.cli import DEMO_SCENARIO
from workbench.cli import main as cli_main
from workbench.gui.screenshot import PANEL_SIZE, Panels, from_array, to_array

GOLDEN = Path(__file__).resolve().parent.parent / "screenshots"
S390 = DEMO_SCENARIO.parent / "s390-detached-vf.toml"
CHANNEL_DELTA = 16
MAX_FRACTION = 0.001
DEMO_PANELS = ("vcpu", "trap-log", "filter-editor", "bitmaps", "timeline", "compare",
               "replay", "statistics")
S390_PANELS = ("vfio", "timeline")
HEATMAPS = ("bitmaps-read", "bitmaps-write", "bitmaps-bitmap", "filter-editor-bitmap")


@dataclass(frozen=True)
class Mismatch:
    golden: Path
    reason: str


def compare(actual: np.ndarray, golden: Path, exact: bool) -> Mismatch | None:
    """Compare RGBA pixels with the golden PNG; on a mismatch write .actual and .diff."""
    if not golden.exists():
        return Mismatch(golden, "no golden image; run pytest --update-screenshots")
    expected = to_array(QImage(str(golden)))
    if expected.shape != actual.shape:
        reason = f"size {actual.shape[1]}x{actual.shape[0]}, golden " \
                 f"{expected.shape[1]}x{expected.shape[0]}"
        bad = None
    else:
        delta = np.abs(actual.astype(np.int16) - expected.astype(np.int16)).max(axis=2)
        bad = delta > (0 if exact else CHANNEL_DELTA)
        fraction = float(bad.mean())
        if (exact and not bad.any()) or (not exact and fraction <= MAX_FRACTION):
            return None
        reason = (f"{int(bad.sum())} pixels differ" if exact else
                  f"{fraction:.2%} of pixels differ by more than {CHANNEL_DELTA} "
                  f"(at most {MAX_FRACTION:.1%} may)")
    stem = golden.with_suffix("")
    from_array(actual).save(f"{stem}.actual.png")
    from_array(_diff(actual, bad)).save(f"{stem}.diff.png")
    return Mismatch(golden, reason)


def _diff(actual: np.ndarray, bad: np.ndarray | None) -> np.ndarray:
    faded = (actual.astype(np.uint16) + 3 * 255) // 4
    out = faded.astype(np.uint8)
    out[..., 3] = 255
    if bad is None:   # different sizes: the actual image, faded
        return out
    out[bad] = (255, 0, 255, 255)
    return out


def check(actual: np.ndarray, name: str, exact: bool, update: bool) -> None:
    golden = GOLDEN / f"{name}.png"
    if update:
        GOLDEN.mkdir(exist_ok=True)
        assert from_array(actual).save(str(golden))
        return
    mismatch = compare(actual, golden, exact)
    assert mismatch is None, f"{golden.name}: {mismatch.reason}; see {golden.stem}.actual.png " \
                             f"and {golden.stem}.diff.png beside it"


@pytest.fixture
def update(request) -> bool:
    return request.config.getoption("--update-screenshots")


@pytest.fixture(scope="module")
def demo(qapp):
    panels = Panels(DEMO_SCENARIO)
    yield panels
    panels.close()


@pytest.fixture(scope="module")
def s390(qapp):
    panels = Panels(S390)
    yield panels
    panels.close()


@pytest.mark.parametrize("name", DEMO_PANELS)
def test_demo_panel(demo, name, update):
    image = demo.render(name)
    assert (image.width(), image.height()) == (PANEL_SIZE.width(), PANEL_SIZE.height())
    check(to_array(image), f"demo-{name}", exact=False, update=update)


@pytest.mark.parametrize("name", S390_PANELS)
def test_s390_panel(s390, name, update):
    check(to_array(s390.render(name)), f"s390-{name}", exact=False, update=update)


@pytest.mark.parametrize("name", HEATMAPS)
def test_heatmap_is_pixel_exact(demo, name, update):
    check(demo.heatmaps()[name], f"demo-{name}.heatmap", exact=True, update=update)


def test_panels_without_vcpus_are_left_out(s390):
    assert set(s390.widgets) == {"trap-log", "filter-editor", "timeline", "vfio",
                                 "compare", "replay", "statistics"}


def test_the_command_writes_the_same_images(tmp_path, update, capsys):
    if update:
        pytest.skip("the golden images are being rewritten")
    assert cli_main(["screenshot", str(DEMO_SCENARIO), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / f"{name}.png") for name in
                       ("vcpu", "trap-log", "filter-editor", "bitmaps", "timeline", "vfio",
                        "compare", "replay", "statistics")]
    for name in DEMO_PANELS:
        assert compare(to_array(QImage(str(tmp_path / f"{name}.png"))),
                       GOLDEN / f"demo-{name}.png", exact=False) is None


def test_a_bad_scenario_is_an_error_not_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\n[[vcpus]]\nsource = 'bogus'\n")
    assert cli_main(["screenshot", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert "bad.toml" in capsys.readouterr().err


def test_a_changed_label_fails_and_writes_actual_and_diff(tmp_path, update):
    if update:
        pytest.skip("the golden images are being rewritten")
    golden = tmp_path / "demo-replay.png"
    shutil.copy(GOLDEN / golden.name, golden)
    panels = Panels(DEMO_SCENARIO)
    try:
        assert compare(to_array(panels.render("replay")), golden, exact=False) is None
        panels.widgets["replay"].source_label.setText("A label the golden image never had "
                                                      "— long enough to change many pixels")
        mismatch = compare(to_array(panels.render("replay")), golden, exact=False)
    finally:
        panels.close()
    assert mismatch is not None and "of pixels differ" in mismatch.reason
    actual, diff = tmp_path / "demo-replay.actual.png", tmp_path / "demo-replay.diff.png"
    assert actual.exists() and diff.exists()
    magenta = np.all(to_array(QImage(str(diff))) == (255, 0, 255, 255), axis=2)
    assert magenta.any()


def test_one_heatmap_pixel_fails_the_exact_comparison(demo, tmp_path, update):
    if update:
        pytest.skip("the golden images are being rewritten")
    golden = tmp_path / "demo-bitmaps-read.heatmap.png"
    shutil.copy(GOLDEN / golden.name, golden)
    cells = demo.heatmaps()["bitmaps-read"].copy()
    assert compare(cells, golden, exact=True) is None
    cells[0, 0, 0] ^= 1
    mismatch = compare(cells, golden, exact=True)
    assert mismatch is not None and mismatch.reason == "1 pixels differ"
    assert (tmp_path / "demo-bitmaps-read.heatmap.actual.png").exists()
    assert (tmp_path / "demo-bitmaps-read.heatmap.diff.png").exists()


def test_a_size_change_fails(demo, tmp_path):
    golden = tmp_path / "demo-timeline.png"
    shutil.copy(GOLDEN / golden.name, golden)
    smaller = to_array(demo.render("timeline"))[:-1]
    mismatch = compare(smaller, golden, exact=False)
    assert mismatch is not None and mismatch.reason.startswith("size")
