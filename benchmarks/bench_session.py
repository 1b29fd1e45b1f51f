"""Session: replay rate of a recorded long run, and seek latency at 1 M steps.

Replay: 20,000 RunToExit commands on a loop whose MSR exit a handler answers are recorded
to a journal, then read back and re-applied with every digest checked (the work
`workbench replay --verify` does). Seek: a session of 1,000,000 RunToExit commands on the
same loop (checkpoint_every=1000), then seeks to random steps; each re-executes at most
1000 commands from the nearest checkpoint. Bytes per event are bench_eventlog's.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import numpy as np

from workbench.session import commands as c
from workbench.session.recording import Recorder, open_recording, read_recording
from workbench.session.scenario import loads
from workbench.session.session import Session

REPLAY_COMMANDS = 20_000
SEEK_STEPS = 1_000_000
SEEKS = 200
SCENARIO = loads('''
version = 1
name = "MSR loop"
[caps]
user_space_msr = ["UNKNOWN"]
[[vcpus]]
source = """
loop:
    mov ecx, 0x35
    rdmsr
    inc rbx
    jmp loop
"""
[[handlers]]
msr = "0x35"
value = "0x40008"
''')


def replay_rate(directory: Path) -> None:
    path = directory / "long.jsonl"
    session = Session(SCENARIO)
    recorder = Recorder.start(session, path)
    start = time.perf_counter()
    for _ in range(REPLAY_COMMANDS):
        session.apply(c.RunToExit())
    recorder.close()
    recorded = time.perf_counter() - start
    size = path.stat().st_size
    start = time.perf_counter()
    read_recording(path)
    read = time.perf_counter() - start
    start = time.perf_counter()
    replay = open_recording(path)
    divergence = replay.verify()
    replayed = time.perf_counter() - start
    assert divergence is None and replay.step == REPLAY_COMMANDS
    print(f"record  {REPLAY_COMMANDS:,} RunToExit: {REPLAY_COMMANDS / recorded:>9,.0f} cmd/s "
          f"(journal {size / 2**20:.1f} MiB, {size / REPLAY_COMMANDS:.0f} B/command)")
    print(f"read    {REPLAY_COMMANDS:,} records:   {REPLAY_COMMANDS / read:>9,.0f} records/s")
    print(f"replay  {REPLAY_COMMANDS:,} RunToExit: {REPLAY_COMMANDS / replayed:>9,.0f} cmd/s "
          f"(read + re-apply + digest check)")


def seek_latency() -> None:
    session = Session(SCENARIO, checkpoint_every=1000)
    start = time.perf_counter()
    for _ in range(SEEK_STEPS):
        session.apply(c.RunToExit())
    built = time.perf_counter() - start
    rng = random.Random(0)
    times = []
    for _ in range(SEEKS):
        step = rng.randrange(SEEK_STEPS + 1)
        start = time.perf_counter()
        session.seek(step)
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1000
    print(f"build   {SEEK_STEPS:,} RunToExit: {built:.1f} s ({SEEK_STEPS / built:,.0f} cmd/s, "
          f"{len(session.log):,} events, {len(session.checkpoints):,} checkpoints)")
    print(f"seek    {SEEKS} random steps of {SEEK_STEPS:,}: p50 {np.percentile(ms, 50):.1f} ms, "
          f"p99 {np.percentile(ms, 99):.1f} ms, max {ms.max():.1f} ms (target <= 100 ms)")


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        replay_rate(Path(directory))
    seek_latency()


if __name__ == "__main__":
    main()
