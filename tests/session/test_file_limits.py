"""Files the readers refuse before any work (issue 10): special files and oversized ones,
zlib bombs, an over-long `--steps`; what the corpus cannot hold (a FIFO, a 1 MiB file)."""

from __future__ import annotations

import base64
import os
import threading
import tracemalloc
import zlib

import pytest

from workbench import cli
from workbench.kvm.guest.layout import GUEST_MEM_SIZE
from workbench.kvm.sim import inflate_memory
from workbench.session.limits import MAX_EXITS, MAX_SCENARIO_BYTES, too_deep
from workbench.session.recording import RecordingError, read_recording
from workbench.session.scenario import ScenarioError, load


def call_with_guard(target, *args):
    """Run target(*args) in a thread; fail instead of hanging the suite (10 s guard)."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = target(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "reading blocked"
    return outcome


@pytest.mark.parametrize("reader", [load, read_recording], ids=["scenario", "recording"])
def test_a_fifo_is_refused_without_blocking(tmp_path, reader):
    fifo = tmp_path / "f.jsonl"
    os.mkfifo(fifo)
    outcome = call_with_guard(reader, fifo)
    assert isinstance(outcome.get("error"), ScenarioError | RecordingError)
    assert "not a regular file (a FIFO)" in str(outcome["error"])


def test_a_fifo_given_to_run_exits_2(tmp_path, capsys):
    fifo = tmp_path / "s.toml"
    os.mkfifo(fifo)
    assert call_with_guard(cli.main, ["run", str(fifo), "--headless"])["value"] == 2
    assert "not a regular file" in capsys.readouterr().err


def test_a_scenario_over_the_size_limit_is_refused(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text("version = 1\n" + "#" * MAX_SCENARIO_BYTES + "\n")
    with pytest.raises(ScenarioError, match=f"more than the limit of {MAX_SCENARIO_BYTES}"):
        load(big)


def test_guest_memory_inflates_with_a_bound():
    bomb = base64.b64encode(zlib.compress(bytes(8 * GUEST_MEM_SIZE), 9)).decode()
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="does not inflate to exactly"):
            inflate_memory(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * GUEST_MEM_SIZE     # never the bomb's 8 x GUEST_MEM_SIZE


def test_guest_memory_round_trips():
    memory = bytes(range(256)) * (GUEST_MEM_SIZE // 256)
    assert inflate_memory(base64.b64encode(zlib.compress(memory)).decode()) == memory


def test_record_refuses_more_steps_than_a_replay_may_run(tmp_path, capsys):
    scenario = tmp_path / "s.toml"
    scenario.write_text('version = 1\n[[vcpus]]\ncode = "f4"\n')
    status = cli.main(["record", str(scenario), "-o", str(tmp_path / "r.jsonl"),
                       "--steps", str(MAX_EXITS + 1)])
    assert status == 2 and "--steps must be" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "line"), [
    ("a = [[1]]\nb = " + "[" * 40 + "]" * 40, 2),
    ('a = "' + "[" * 40 + '"\nb = \'' + "{" * 40 + "'", 0),           # inside strings
    ('a = """\n' + "[" * 40 + '\n"""\n# ' + "[" * 40 + "\nb = 1", 0),  # multi-line, comment
    ("a = [\n" * 40 + "]" * 40, 33),
])
def test_nesting_is_measured_outside_strings_and_comments(text, line):
    assert too_deep(text) == line
