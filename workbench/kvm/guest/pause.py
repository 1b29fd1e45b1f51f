"""A pause asked from another thread, which Unicorn cannot lose.

uc_emu_stop() only stops an emulation already running: uc_emu_start() clears a stop asked
for before it, so a pause landing between the vCPU's look at its pause flag and the start
was forgotten, and a guest without exits then ran for ever (a free run in the GUI that no
Pause or window close could end). So the request is asked again every RETRY_SECONDS while
the run it is meant for is still going. Both sides hold one lock around the flag and the
"running" mark, so a repeated stop only ever lands in the run that will see the flag: it
can never end a later run that nobody paused (a spurious KVM_EXIT_INTR).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

RETRY_SECONDS = 0.005


class PauseRequest:
    def __init__(self, stop: Callable[[], None]) -> None:
        self._stop = stop             # uc_emu_stop on this vCPU's engine
        self._lock = threading.Lock()
        self._asked = False
        self._running = False

    def ask(self) -> None:
        """From any thread: end the current run, or the next one before it starts."""
        with self._lock:
            self._asked = True
            if not self._running:
                return
            self._stop()
        threading.Thread(target=self._repeat, name="vcpu-pause", daemon=True).start()

    def _repeat(self) -> None:
        while True:
            time.sleep(RETRY_SECONDS)
            with self._lock:
                if not (self._asked and self._running):
                    return
                self._stop()

    def cancel(self) -> None:
        """Forget a request no run has seen."""
        with self._lock:
            self._asked = False

    def take(self) -> bool:
        """Whether a pause was asked (consuming it); the run's own thread calls this."""
        with self._lock:
            asked, self._asked = self._asked, False
            return asked

    @property
    def asked(self) -> bool:
        return self._asked

    def begin(self) -> bool:
        """Mark a run as starting; False (nothing marked) if a pause is asked already."""
        with self._lock:
            if self._asked:
                return False
            self._running = True
            return True

    def end(self) -> None:
        with self._lock:
            self._running = False
