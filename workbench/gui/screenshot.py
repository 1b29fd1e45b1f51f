"""Every panel rendered to a PNG in a fixed state: `workbench screenshot` and the
screenshot tests share this code, so a golden image is exactly what the command makes.

Determinism comes from pinning everything a pixel depends on: the offscreen platform at
device pixel ratio 1 and 96 dpi, fontconfig seeing only the shipped DejaVu fonts (no
hinting, greyscale antialiasing), the Fusion style and its standard palette, no cursor
blink or UI animation, no focus or hover, a fixed size per panel, and a session driven by
a fixed command sequence (panels show no clock times).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QWidget

from workbench.gui.app import FONT_DIR, application
from workbench.gui.controller import SessionController
from workbench.session import commands as c
from workbench.session.runner import default_answer, pci_story
from workbench.session.session import Session

PANEL_SIZE = QSize(880, 560)
MAX_STEPS_PER_VCPU = 40   # instruction steps before the default sequence moves on

_FONTCONFIG = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir>{fonts}</dir>
  <cachedir>{cache}</cachedir>
  <match target="font">
    <edit name="antialias" mode="assign"><bool>true</bool></edit>
    <edit name="hinting" mode="assign"><bool>false</bool></edit>
    <edit name="rgba" mode="assign"><const>none</const></edit>
    <edit name="lcdfilter" mode="assign"><const>lcdnone</const></edit>
  </match>
</fontconfig>
"""


def pin_environment() -> None:
    """Call before the QApplication exists (Qt and fontconfig read these once)."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["QT_ENABLE_HIGHDPI_SCALING"] = "0"
    os.environ["QT_SCALE_FACTOR"] = "1"
    os.environ["QT_FONT_DPI"] = "96"
    tag = hashlib.sha1(str(FONT_DIR).encode()).hexdigest()[:8]   # one per checkout
    folder = Path(tempfile.gettempdir()) / f"workbench-fontconfig-{os.getuid()}-{tag}"
    folder.mkdir(exist_ok=True)
    conf = folder / "fonts.conf"
    scratch = folder / f"fonts.conf.{os.getpid()}"   # parallel test workers share conf
    scratch.write_text(_FONTCONFIG.format(fonts=FONT_DIR, cache=folder / "cache"))
    os.replace(scratch, conf)
    os.environ["FONTCONFIG_FILE"] = str(conf)


def prepare_application() -> QApplication:
    """The application with the shipped fonts and Fusion, and nothing that moves."""
    if QApplication.instance() is None:
        pin_environment()
    app = application()
    app.setCursorFlashTime(0)
    for effect in (Qt.UIEffect.UI_AnimateMenu, Qt.UIEffect.UI_FadeMenu,
                   Qt.UIEffect.UI_AnimateCombo, Qt.UIEffect.UI_AnimateTooltip,
                   Qt.UIEffect.UI_FadeTooltip, Qt.UIEffect.UI_AnimateToolBox):
        app.setEffectEnabled(effect, False)
    pg.setConfigOptions(antialias=False)
    return app


# --- the fixed state ------------------------------------------------------------------------
def play_default(controller: SessionController) -> None:
    """The default command sequence: each vCPU one instruction at a time until it halts
    (an MSR exit no rule answers is failed with #GP, an IN gets 0), then the PCI story."""
    session = controller.session
    assert session is not None
    for vcpu in range(session.vcpu_count):
        for _ in range(MAX_STEPS_PER_VCPU):
            if session.halted(vcpu):
                break
            if session.needs_answer(vcpu):
                controller.apply(default_answer(session, vcpu))
            else:
                controller.apply(c.StepVcpu(vcpu=vcpu))
    for command in pci_story(session):
        controller.apply(command)


def _vcpu_panel(controller: SessionController) -> QWidget:
    from workbench.gui.runner_thread import Runner
    from workbench.gui.vcpu import VcpuPanel

    return VcpuPanel(controller, Runner(controller, parent=controller))


def _log(controller: SessionController) -> QWidget:
    from workbench.gui.log import TrapLogPanel

    return TrapLogPanel(controller)


def _filter_editor(controller: SessionController) -> QWidget:
    from workbench.gui.filter_editor import FilterEditor

    return FilterEditor(controller)


def _bitmaps(controller: SessionController) -> QWidget:
    from workbench.gui.bitmaps import BitmapInspector

    return BitmapInspector(controller)


def _timeline(controller: SessionController) -> QWidget:
    from workbench.gui.timeline import TimelinePanel

    return TimelinePanel(controller)


def _stats(controller: SessionController) -> QWidget:
    from workbench.gui.stats import StatsPanel

    return StatsPanel(controller)


def _vfio(controller: SessionController) -> QWidget:
    from workbench.gui.vfio_panel import VfioPanel

    return VfioPanel(controller)


def _compare(controller: SessionController) -> QWidget:
    from workbench.gui.compare_view import CompareView

    return CompareView(controller)


def _replay(controller: SessionController) -> QWidget:
    from workbench.gui.replay import ReplayView

    return ReplayView(controller)


@dataclass(frozen=True)
class PanelKind:
    name: str
    make: Callable[[SessionController], QWidget]
    needs_vcpus: bool = False


PANELS: tuple[PanelKind, ...] = (
    PanelKind("vcpu", _vcpu_panel, needs_vcpus=True),
    PanelKind("trap-log", _log),
    PanelKind("filter-editor", _filter_editor),
    PanelKind("bitmaps", _bitmaps, needs_vcpus=True),
    PanelKind("timeline", _timeline),
    PanelKind("vfio", _vfio),
    PanelKind("compare", _compare),
    PanelKind("replay", _replay),
    PanelKind("statistics", _stats),
)


def _compare_without_host(view: QWidget, session: Session) -> None:
    """The compare view's "cannot compare" state, the same on every machine: the sim's
    stream beside an empty host column (screenshots never open /dev/kvm)."""
    from workbench.gui.compare_view import CompareView
    from workbench.session.compare import Comparison, entries

    assert isinstance(view, CompareView)
    sim = [entry.text for entry in entries(session)]
    view.show_result(Comparison(sim, [], None, "screenshots never run the host engine"))
    view.compare_button.setEnabled(False)


class Panels:
    """Every panel that applies to a scenario, on one controller, in the fixed state."""

    def __init__(self, scenario_path: Path, commands: Sequence[c.Command] | None = None,
                 size: QSize = PANEL_SIZE) -> None:
        prepare_application()
        self.controller = SessionController()
        self.controller.open_scenario(Path(scenario_path))
        session = self.controller.session
        assert session is not None
        self.widgets: dict[str, QWidget] = {
            kind.name: kind.make(self.controller) for kind in PANELS
            if session.vcpu_count or not kind.needs_vcpus}
        if commands is None:
            play_default(self.controller)
        else:
            for command in commands:
                self.controller.apply(command)
        if "compare" in self.widgets:
            _compare_without_host(self.widgets["compare"], session)
        for widget in self.widgets.values():
            widget.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
            widget.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
            widget.setFixedSize(size)
            widget.show()
        settle()

    def render(self, name: str) -> QImage:
        """The panel as pixels at device pixel ratio 1 (whatever the screen says)."""
        widget = self.widgets[name]
        settle()
        image = QImage(widget.size(), QImage.Format.Format_ARGB32)
        image.setDevicePixelRatio(1.0)
        image.fill(widget.palette().window().color())
        widget.render(image)
        return image

    def heatmaps(self) -> dict[str, np.ndarray]:
        """Each heatmap's cells through its colour table: the exact RGBA it draws."""
        out: dict[str, np.ndarray] = {}
        if "bitmaps" in self.widgets:
            for name, image in self.widgets["bitmaps"].images.items():  # type: ignore[attr-defined]
                out[f"bitmaps-{name}"] = image.lut[image.values]
        if "filter-editor" in self.widgets:
            painter = self.widgets["filter-editor"].painter.image  # type: ignore[attr-defined]
            out["filter-editor-bitmap"] = painter.lut[painter.values]
        return out

    def close(self) -> None:
        for widget in self.widgets.values():
            widget.close()
            widget.deleteLater()
        if self.controller.session is not None:
            self.controller.session.close()
        self.controller.deleteLater()
        settle()


def settle() -> None:
    """Let layouts, deferred resizes and pyqtgraph's range updates run."""
    app = QApplication.instance()
    for _ in range(3):
        app.processEvents()


def to_array(image: QImage) -> np.ndarray:
    """A QImage as an (h, w, 4) uint8 RGBA array."""
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    w, h = image.width(), image.height()
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())
    return rows[:, :w * 4].reshape(h, w, 4).copy()


def from_array(array: np.ndarray) -> QImage:
    """An (h, w, 4) uint8 RGBA array as a QImage (a copy: the array may go away)."""
    data = np.ascontiguousarray(array, dtype=np.uint8)
    h, w = data.shape[:2]
    return QImage(data.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def render_panels(scenario_path: Path, out_dir: Path,
                  commands: Sequence[c.Command] | None = None) -> list[Path]:
    """Write <panel>.png for every panel that applies to the scenario; their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    panels = Panels(scenario_path, commands)
    try:
        written = []
        for name in panels.widgets:
            path = out_dir / f"{name}.png"
            if not panels.render(name).save(str(path)):
                raise OSError(f"{path}: cannot write the PNG")
            written.append(path)
        return written
    finally:
        panels.close()
