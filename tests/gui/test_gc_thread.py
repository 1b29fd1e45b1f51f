"""Qt objects in reference cycles are destroyed in the GUI thread, whoever allocates.

A free run's worker thread once ran the cyclic collector, destroyed a closed window's
QMenu there and deadlocked with the painting GUI thread (Qt mutex against the GIL)."""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject

from workbench.gui.app import application
from workbench.gui.gc_thread import GuiThreadCollector


def _cycle_holding_a_qobject(destroyed_in: list[int]) -> None:
    obj = QObject()
    obj.destroyed.connect(lambda *_: destroyed_in.append(threading.get_ident()))
    obj.me = obj  # a cycle: only the collector frees it


def test_a_busy_worker_thread_never_collects_qt_objects(qtbot):
    gc.collect()
    destroyed_in: list[int] = []
    _cycle_holding_a_qobject(destroyed_in)

    kept: list[list] = []

    def allocate() -> None:  # live containers, far past every generation's threshold
        kept.extend([] for _ in range(100_000))

    worker = threading.Thread(target=allocate)
    worker.start()
    worker.join()
    assert destroyed_in == []
    qtbot.waitUntil(lambda: destroyed_in != [], timeout=10_000)  # the GUI's timer collects
    assert destroyed_in == [threading.get_ident()]


def test_one_collector_however_often_the_application_is_asked_for(qtbot):
    app = application()
    application()
    assert not gc.isenabled()
    assert len(app.findChildren(GuiThreadCollector)) == 1
