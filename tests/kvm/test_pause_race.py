"""A pause asked just as the guest starts still ends the run. uc_emu_start() clears a stop
asked for before it, so such a pause was lost and a guest without exits ran for ever (the
GUI's Pause and window close then hung). Here the pause lands in exactly that window."""

from __future__ import annotations

import threading

from tests import guests
from workbench.kvm import uapi
from workbench.kvm.guest import fastuc
from workbench.session import commands as c
from workbench.session.scenario import loads
from workbench.session.session import Session

HANG_GUARD = 10  # seconds; the rescue after it only keeps a failing test from hanging
SPIN = loads(guests.SPIN)


def test_a_pause_landing_as_the_emulation_starts_ends_the_run(monkeypatch):
    session = Session(SPIN)
    real_start = fastuc.emu_start
    handles = []

    def start_after_a_pause(handle, *args):
        if not handles:
            handles.append(handle)
            session.pause(0)   # the vCPU has looked at its pause flag: this stop is cleared
        return real_start(handle, *args)

    monkeypatch.setattr(fastuc, "emu_start", start_after_a_pause)
    runner = threading.Thread(target=session.apply, args=(c.Run(vcpu=0),))
    runner.start()
    runner.join(HANG_GUARD)
    ended = not runner.is_alive()
    while runner.is_alive():   # the old behaviour: stop it so the test fails, not hangs
        fastuc.emu_stop(handles[0])
        runner.join(0.1)
    assert ended
    assert session.last_exit(0) == uapi.KVM_EXIT_INTR
