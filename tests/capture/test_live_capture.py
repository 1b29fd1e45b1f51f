"""`workbench capture` on real processes: QEMU booting the MSR probe (marked `qemu`), and
VMM commands that fail, exit at once, are killed, or are stopped with Ctrl+C."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import children
from workbench.capture import capfile, probe, tracefs_live
from workbench.capture.live import capture
from workbench.capture.tracer import ptrace_unavailable_reason
from workbench.kvm import uapi

_PTRACE = ptrace_unavailable_reason()
needs_ptrace = pytest.mark.skipif(_PTRACE is not None, reason=f"ptrace unavailable: {_PTRACE}")
_QEMU = _PTRACE or probe.qemu_unavailable_reason()
_TRACEFS = tracefs_live.unavailable_reason()
HANG_GUARD = 60


def _end(path: Path) -> dict:
    return json.loads(path.read_text().splitlines()[-1])


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "workbench.cli", "capture", *args]


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "{tmp}/c.capture"], "no VMM command given"),
    (["-o", "{tmp}", "--", "true"], "is a directory"),
    (["-o", "{tmp}/missing/c.capture", "--", "true"], "does not exist"),
])
def test_usage_errors_exit_2_before_running_anything(tmp_path, capsys, args, message):
    from workbench.cli import main

    assert main(["capture", *[a.format(tmp=tmp_path) for a in args]]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@needs_ptrace
def test_a_vmm_that_does_not_exist_gives_a_message_and_an_empty_capture(tmp_path, capsys):
    out = tmp_path / "none.capture"
    assert capture(["/nonexistent/qemu-system-x86_64"], out, kernel_events=False) == 1
    assert "cannot run the VMM: /nonexistent/qemu-system-x86_64" in capsys.readouterr().err
    cap = capfile.read(out)
    assert cap.events == [] and cap.skipped == [] and cap.meta["end"]["error"]


@needs_ptrace
def test_a_vmm_that_exits_at_once_gives_a_valid_capture(tmp_path, capsys):
    out = tmp_path / "false.capture"
    assert capture([shutil.which("false")], out, kernel_events=False) == 0
    assert "exited with status 1" in capsys.readouterr().err
    assert capfile.read(out).meta["end"]["exit_status"] == 1


def _vmm_pid(capture_pid: int) -> int:
    """The traced child of the capture process, once it has exec'ed `sleep`."""
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        children = Path(f"/proc/{capture_pid}/task/{capture_pid}/children").read_text().split()
        for child in children:
            if Path(f"/proc/{child}/comm").read_text().strip() == "sleep":
                return int(child)
        time.sleep(0.05)
    raise AssertionError("the VMM never started")


@needs_ptrace
def test_a_vmm_killed_mid_run_gives_a_message_and_a_valid_capture(tmp_path, spawn):
    out = tmp_path / "killed.capture"
    proc = spawn(_command("--no-kernel-events", "-o", str(out), "--", "sleep", "600"),
                 stderr=subprocess.PIPE, text=True)
    os.kill(_vmm_pid(proc.pid), signal.SIGKILL)
    _, err = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == 0, err
    assert "the VMM was killed by signal SIGKILL" in err
    assert capfile.read(out).meta["end"]["signal"] == signal.SIGKILL


@needs_ptrace
def test_ctrl_c_ends_the_vmm_and_writes_the_capture(tmp_path, spawn):
    out = tmp_path / "int.capture"
    proc = spawn(_command("--no-kernel-events", "-o", str(out), "--", "sleep", "600"),
                 stderr=subprocess.PIPE, text=True)
    vmm = _vmm_pid(proc.pid)
    proc.send_signal(signal.SIGINT)    # only the capture gets it, not the VMM
    _, err = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == 0, err
    assert "stopped by Ctrl+C" in err
    assert children.gone(vmm, HANG_GUARD)
    end = _end(out)
    assert end["interrupted"] is True and end["signal"] == signal.SIGTERM


@needs_ptrace
def test_killing_the_capture_kills_the_vmm(tmp_path, spawn):
    proc = spawn(_command("--no-kernel-events", "-o", str(tmp_path / "k.capture"),
                          "--", "sleep", "600"))
    vmm = _vmm_pid(proc.pid)
    proc.kill()
    proc.wait(timeout=HANG_GUARD)
    assert children.gone(vmm, HANG_GUARD)   # PTRACE_O_EXITKILL: never left stopped or traced
    assert not (tmp_path / "k.capture").exists()


@pytest.fixture(scope="module")
def qemu_capture(tmp_path_factory):
    if _QEMU is not None:
        pytest.skip(f"QEMU probe unavailable: {_QEMU}")
    tmp = tmp_path_factory.mktemp("qemu")
    image = probe.build_image(tmp / "probe.img")
    out = tmp / "probe.capture"
    proc = children.start(_command("-o", str(out), "--", *probe.qemu_command(image)),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=300)
    finally:
        children.end(proc)   # QEMU must not outlive a hang guard's TimeoutExpired
    assert proc.returncode == 0, err
    return capfile.read(out), proc.pid, out


@pytest.mark.qemu
def test_live_qemu_capture_records_filter_mask_and_answered_exit(qemu_capture):
    cap, _, _ = qemu_capture
    assert cap.meta["end"]["exit_status"] == probe.QEMU_EXIT_STATUS
    assert cap.skipped == []
    assert cap.user_space_msr_mask == uapi.KVM_MSR_EXIT_REASON_FILTER
    assert any(r.base == 0x35 and r.flags & uapi.KVM_MSR_FILTER_READ
               for r in cap.msr_filter.ranges)
    (access,) = [a for a in cap.msr_accesses() if a.index == 0x35 and a.exit is not None]
    assert access.exit.msr_reason == uapi.KVM_MSR_EXIT_REASON_FILTER
    assert access.value == access.exit.data
    ports = [e.detail.get("port") for e in cap.user_exits() if e.exit_reason == uapi.KVM_EXIT_IO]
    assert ports[-1] == 0xF4 and 0x402 in ports


@pytest.mark.qemu
@pytest.mark.skipif(_TRACEFS is not None, reason=f"kernel events unavailable: {_TRACEFS}")
def test_live_qemu_capture_merges_in_kernel_accesses_in_order(qemu_capture):
    cap, capture_pid, _ = qemu_capture
    accesses = cap.msr_accesses()
    first = next(i for i, a in enumerate(accesses) if a.index == 0x35 and a.exit is not None)
    tail = [(a.index, a.write, a.gp, a.exit is None) for a in accesses[first + 1:]]
    assert tail == [(0x1b, False, False, True), (0x174, True, False, True),
                    (0x174, False, False, True), (0x0BADC0DE, False, True, True)]
    # The private tracing instance is gone: tracefs is as the capture found it.
    assert not Path(tracefs_live.TRACEFS, "instances", f"workbench-capture-{capture_pid}").exists()


_FAKE_VMM = """
import ctypes, os
from workbench.kvm import uapi
libc = ctypes.CDLL(None)
libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
fd = os.open(os.devnull, os.O_RDONLY)
cap = uapi.kvm_enable_cap(cap=uapi.KVM_CAP_X86_USER_SPACE_MSR)
cap.args[0] = uapi.KVM_MSR_EXIT_REASON_FILTER
flt = uapi.kvm_msr_filter(flags=uapi.KVM_MSR_FILTER_DEFAULT_DENY)
flt.ranges[0].flags, flt.ranges[0].base, flt.ranges[0].nmsrs = 1, 0x35, 1
flt.ranges[0].bitmap = 0x10          # a pointer nothing is mapped at
for request, arg in ((uapi.KVM_ENABLE_CAP, ctypes.addressof(cap)),
                     (uapi.KVM_X86_SET_MSR_FILTER, ctypes.addressof(flt)),
                     (uapi.KVM_X86_SET_MSR_FILTER, 0x10)):
    libc.ioctl(fd, request, arg)
"""


@needs_ptrace
def test_ioctl_arguments_are_read_from_the_vmms_memory_with_the_kernels_answer(tmp_path):
    # Not a KVM fd: the kernel answers ENOTTY, and the capture says so beside the arguments.
    out = tmp_path / "fake.capture"
    assert capture([sys.executable, "-c", _FAKE_VMM], out, kernel_events=False) == 0
    cap = capfile.read(out)
    enable, good, bad = cap.ioctls()
    assert (enable.name, enable.result, enable.args["args"][0]) == (
        "KVM_ENABLE_CAP", -25, uapi.KVM_MSR_EXIT_REASON_FILTER)
    (rng,) = good.args["filter"].ranges
    assert (good.result, good.args["filter"].flags, rng.base, rng.nmsrs, rng.bitmap) == (
        -25, uapi.KVM_MSR_FILTER_DEFAULT_DENY, 0x35, 1, b"")
    assert "bitmap at 0x10 unreadable" in good.args["notes"][0]
    assert bad.args["filter"] is None and "unreadable" in bad.args["notes"][0]
    # Neither was accepted by the kernel, so the capture knows no filter and no mask.
    assert cap.msr_filter is None and cap.user_space_msr_mask is None


def _probe_exits(path: Path) -> list[dict]:
    """The capture's ioctls and the probe's own exits (from its first MSR exit on), without
    what differs from run to run (times, tids). SeaBIOS's exits before it are left out: it
    polls the CMOS clock, so their number and values vary."""
    events = [json.loads(line) for line in path.read_text().splitlines()[1:-1]]
    first = next(i for i, e in enumerate(events) if e["ev"] == "exit" and "msr" in e)
    kept = [e for e in events[:first] if e["ev"] in ("create_vcpu", "set_msr_filter")]
    kept += [e for e in events[first:] if e["ev"] in ("exit", "msr_done")]
    return [{k: v for k, v in e.items() if k not in ("t", "tid")} for e in kept]


@pytest.mark.qemu
@pytest.mark.skipif(_QEMU is not None, reason=f"QEMU probe unavailable: {_QEMU}")
@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="no C compiler: the capture has only its Python stop handling")
def test_python_stop_handling_records_what_the_c_handler_records(tmp_path):
    image = tmp_path / "probe.img"
    probe.build_image(image, 500)   # 500 `out`s to port 0x80 after the MSR accesses
    captures = {}
    for how in ("c", "python"):
        out = captures[how] = tmp_path / f"{how}.capture"
        flags = ["--python-stops"] if how == "python" else []
        proc = subprocess.run(_command(*flags, "--no-kernel-events", "-o", str(out), "--",
                                       *probe.qemu_command(image)),
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    c_exits = _probe_exits(captures["c"])
    assert sum(e.get("io", {}).get("port") == 0x80 for e in c_exits) == 500
    assert _probe_exits(captures["python"]) == c_exits
