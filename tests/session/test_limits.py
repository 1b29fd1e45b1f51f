"""Bounded headless runs: a guest that never exits stops at the instruction budget (sim),
the --timeout or Ctrl-C, with the partial result and no traceback."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import workbench.kvm
from workbench.kvm import uapi
from workbench.session.recording.records import encode_line

SOURCE = "mov eax, 1; out 0x80, al; spin: jmp spin"
SPIN = f'version = 1\n[[vcpus]]\nsource = "{SOURCE}"\ncode = "b801000000e680ebfe"\n'
HANG_GUARD = 30  # seconds: a hang guard, never a duration the test expects


@pytest.mark.parametrize("source", ["spin: jmp spin", "spin: cpuid\njmp spin",
                                    "mov ecx, 0x10\nspin: rdmsr\njmp spin"])
def test_sim_budget_ends_a_run_that_never_exits_at_the_same_place(source):
    places = []
    for _ in range(2):
        vcpu = workbench.kvm.open("sim").create_vm().create_vcpu(source)
        vcpu.instruction_budget = 200_000
        assert _run_guarded(vcpu).exit_reason == uapi.KVM_EXIT_INTR
        places.append(vcpu.get_regs())
    assert places[0] == places[1]


def _run_guarded(vcpu):
    """vcpu.run() in a thread, so that a run the budget fails to end fails the test
    instead of hanging it."""
    exits = []
    worker = threading.Thread(target=lambda: exits.append(vcpu.run()), daemon=True)
    worker.start()
    worker.join(HANG_GUARD)
    if worker.is_alive():
        vcpu.pause()
        worker.join()
        pytest.fail("the run went past its instruction budget")
    return exits[0]


@pytest.fixture
def workbench_cli(spawn):
    """workbench_cli(*args): `workbench ARGS` as a child that cannot outlive the test (an
    unbounded guest once spun for an hour after its test failed)."""
    def start(*args):
        return spawn([sys.executable, "-m", "workbench.cli", *map(str, args)],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return start


def test_headless_run_stops_at_the_budget_with_exit_0(workbench_cli, tmp_path):
    (tmp_path / "spin.toml").write_text(SPIN)
    done = workbench_cli("run", tmp_path / "spin.toml", "--headless", "--budget", 100_000)
    out, err = done.communicate(timeout=HANG_GUARD)
    assert done.returncode == 0, err
    assert "vcpu0 stopped: instruction budget spent" in out


def _pipes(pid: int) -> int:
    fds, count = f"/proc/{pid}/fd", 0
    for fd in os.listdir(fds):
        try:
            count += os.readlink(f"{fds}/{fd}").startswith("pipe:")
        except FileNotFoundError:   # closed while we looked (imports open and close files)
            continue
    return count


def _interrupt(process: subprocess.Popen) -> tuple[str, str]:
    """Ctrl-C once the run is bounded (the SIGINT wakeup pipe exists beside stdout and
    stderr; the scenario's machine code needs no assembler), as a terminal sends it."""
    deadline = time.monotonic() + HANG_GUARD
    while _pipes(process.pid) < 4:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)   # let the guest reach its loop
    process.send_signal(signal.SIGINT)
    return process.communicate(timeout=HANG_GUARD)


ENGINES = ["sim", pytest.param("host", marks=pytest.mark.host)]
UNBOUNDED = ("--budget", 0, "--timeout", 0)


@pytest.mark.parametrize("engine", ENGINES)
def test_ctrl_c_stops_run_with_the_partial_result_and_exit_130(workbench_cli, tmp_path, engine):
    (tmp_path / "spin.toml").write_text(SPIN)
    process = workbench_cli("run", tmp_path / "spin.toml", "--headless", "--engine", engine,
                            *UNBOUNDED)
    out, err = _interrupt(process)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "interrupted (Ctrl-C)" in err
    assert "vcpu0 interrupted: rip=" in out


def test_ctrl_c_during_record_keeps_a_recording_that_replays(workbench_cli, tmp_path):
    (tmp_path / "spin.toml").write_text(SPIN)
    out_file = tmp_path / "spin.jsonl"
    process = workbench_cli("record", tmp_path / "spin.toml", "-o", out_file, *UNBOUNDED)
    _, err = _interrupt(process)
    assert process.returncode == 130 and "Traceback" not in err
    check = workbench_cli("replay", out_file, "--verify")
    out, err = check.communicate(timeout=HANG_GUARD)
    assert check.returncode == 0, err
    assert "every digest matches" in out


def test_ctrl_c_stops_replay_of_a_run_that_never_exits(workbench_cli, tmp_path):
    (tmp_path / "spin.toml").write_text(SPIN)
    recorded = tmp_path / "spin.jsonl"
    done = workbench_cli("record", tmp_path / "spin.toml", "-o", recorded, "--budget", 1000)
    assert done.wait(timeout=HANG_GUARD) == 0
    lines = recorded.read_text().splitlines()
    command = json.loads(lines[1])
    del command["command"]["interrupt"]   # a run the recording says ended on its own
    lines[1] = encode_line(command).decode().rstrip("\n")   # re-signed: a valid recording
    recorded.write_text("\n".join(lines) + "\n")
    process = workbench_cli("replay", recorded, *UNBOUNDED)
    out, err = _interrupt(process)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "interrupted (Ctrl-C)" in err


@pytest.mark.host
def test_host_run_stops_at_the_timeout(workbench_cli, tmp_path):
    (tmp_path / "spin.toml").write_text(SPIN)
    process = workbench_cli("run", tmp_path / "spin.toml", "--headless", "--engine", "host",
                            "--timeout", 1)
    out, err = process.communicate(timeout=HANG_GUARD)
    assert process.returncode == 1 and "Traceback" not in err
    assert "--timeout of 1 s" in err and "vcpu0 interrupted" in out
