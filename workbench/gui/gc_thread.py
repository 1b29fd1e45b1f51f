"""Python's cyclic garbage collector runs in the GUI thread only.

Automatic collection runs in whichever thread happens to allocate. A free run's worker
(gui/runner_thread.py) allocates all the time, so it would be the one to destroy Qt
objects left in reference cycles, such as a closed window's menus. A QObject's destructor
takes a Qt mutex and then wants the GIL; the GUI thread, painting, holds the GIL and
wants that mutex: both wait for ever. (Seen in CI: a host-engine free run deadlocked a
test worker until the 90-minute limit.) So while the GUI runs, automatic collection is
off and a timer collects in the GUI thread instead, generation by generation, by
Python's own thresholds.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

INTERVAL_MS = 100


def collect_due() -> None:
    """What automatic collection would do now: collect the oldest generation whose count
    passed its threshold while every younger one's did too (and the younger with it)."""
    due = -1
    for generation, (count, threshold) in enumerate(zip(gc.get_count(), gc.get_threshold(),
                                                        strict=True)):
        if count <= threshold:
            break
        due = generation
    if due >= 0:
        gc.collect(due)


class GuiThreadCollector(QObject):
    """Owned by the application: automatic collection stays off while it lives."""

    @classmethod
    def install(cls, app: QCoreApplication) -> None:
        """One collector per application, however often it is asked for."""
        if app.findChild(cls) is None:
            cls(app)

    def __init__(self, app: QCoreApplication) -> None:
        super().__init__(app)
        self._timer = QTimer(self, interval=INTERVAL_MS)
        self._timer.timeout.connect(collect_due)
        gc.disable()
        self._timer.start()
