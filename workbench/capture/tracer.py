"""`workbench capture`'s event loop: run a VMM under ptrace and record its KVM ioctls.

The child installs a seccomp filter before exec that turns only the ioctls recorded here
into SECCOMP_RET_TRACE stops; every other syscall runs at full speed. For those that need
their result the loop restarts the thread with PTRACE_SYSCALL, which stops it once more at
syscall exit. KVM_RUN stops only once: at its next entry the kvm_run page still holds the
previous exit exactly as KVM left it (KVM writes kvm_run only inside KVM_RUN), now with the
VMM's completion (msr.data/error, IN and MMIO read data), so one read gives both and the
guest's exit costs one stop, not two (handled in C where it can be: stop_handler). A
thread's last exit is read at its PTRACE_EVENT_EXIT stop, while its memory is still there.

The VMM is never left stopped or traced: PTRACE_O_EXITKILL kills it if this process dies,
and every way out of `Tracer.run` (the VMM exiting, Ctrl+C, an error here) kills what is
left of it with SIGKILL and reaps it before returning.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from workbench.capture import ptrace, stop_handler
from workbench.capture.outcome import Outcome
from workbench.capture.stop_handler import RawExits, VcpuTable, WbVcpu
from workbench.capture.vmm_memory import VmmMemory, exit_events, kvm_run_address, tgid_of
from workbench.kvm import uapi

_WALL = 0x40000000
RECORDED = {
    uapi.KVM_CREATE_VM: "KVM_CREATE_VM",
    uapi.KVM_CREATE_VCPU: "KVM_CREATE_VCPU",
    uapi.KVM_ENABLE_CAP: "KVM_ENABLE_CAP",
    uapi.KVM_X86_SET_MSR_FILTER: "KVM_X86_SET_MSR_FILTER",
    uapi.KVM_RUN: "KVM_RUN",
}
GRACE_SECONDS = 5.0   # after Ctrl+C: time the VMM gets to exit on SIGTERM before SIGKILL


def now() -> float:
    """The capture's clock: CLOCK_MONOTONIC, tracefs' "mono" trace clock."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


class Tracer:
    """Run `argv` under ptrace; `on_started(pid)` runs once the child is stopped before exec.

    With `c_stops` (and a C compiler), stop_handler.c handles the KVM_RUN stops and the sink
    gets raw-exits markers in their place, which `expand` turns back into exit events."""

    def __init__(self, argv: list[str], on_started: Callable[[int], None] | None = None,
                 sink: Callable[[dict], None] | None = None, c_stops: bool = True):
        self.argv = argv
        self._table = VcpuTable()
        self._handler, self.python_stops_reason = (
            stop_handler.load(self._table) if c_stops else (None, None))
        self._raw = RawExits(self._table)
        self.on_started = on_started
        self.outcome = Outcome()
        self._sink = sink or self.outcome.events.append
        self._alive: set[int] = set()
        self._mem: dict[int, VmmMemory] = {}          # by tid
        # by (tgid, fd): the vCPU's index, its kvm_run's address (0: not known yet) and the
        # thread inside KVM_RUN whose exit is not read yet (0: none), in the table the C
        # handler reads and updates too
        self._vcpus: dict[tuple[int, int], WbVcpu] = {}
        self._tgid: dict[int, int] = {}
        self._pending: dict[int, tuple] = {}          # tid -> what its syscall exit completes
        self._kill_timer: threading.Timer | None = None
        self._waiting = False
        self._interrupt_pending = False
        self.main_pid = 0

    # --- starting ----------------------------------------------------------------------------
    def _spawn(self) -> int | None:
        program = ptrace.ioctl_filter(list(RECORDED))
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:   # the child: only async-signal-safe-ish work until exec
            try:
                os.close(read_end)
                ptrace.traceme()
                os.kill(os.getpid(), signal.SIGSTOP)
                ptrace.install_seccomp(program)
                os.execvp(self.argv[0], self.argv)
            except BaseException as exc:  # noqa: BLE001 - anything must end in _exit
                with contextlib.suppress(OSError):
                    os.write(write_end, f"{self.argv[0]}: {exc.strerror or exc}".encode()
                             if isinstance(exc, OSError) else str(exc).encode())
            os._exit(127)
        os.close(write_end)
        self._exec_error = read_end
        _, status = os.waitpid(pid, _WALL)
        if not os.WIFSTOPPED(status):
            self._record_end(pid, status)
            return None
        try:
            ptrace.ptrace(ptrace.PTRACE_SETOPTIONS, pid, 0, ptrace.OPTIONS)
        except OSError:   # never leave it stopped, nor run it untraced under the filter
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, _WALL)
            raise
        self._alive.add(pid)
        self._tgid[pid] = pid
        self._table.add_thread(pid, pid)
        return pid

    def _exec_failure(self) -> str | None:
        try:
            message = os.read(self._exec_error, 4096).decode(errors="replace")
        finally:
            os.close(self._exec_error)
        return f"cannot run the VMM: {message}" if message else None

    # --- the loop ----------------------------------------------------------------------------
    def run(self) -> Outcome:
        """Run the VMM to its end; Ctrl+C (SIGINT) ends it as `_interrupt` says."""
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, self._on_sigint) if main else None
        try:
            return self._run()
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)

    def _on_sigint(self, _signum: int, _frame: object) -> None:
        """Interrupt only a blocked waitpid: a stop already returned is always resumed."""
        if self._waiting:
            raise KeyboardInterrupt
        self._interrupt_pending = True

    def _run(self) -> Outcome:
        try:
            pid = self._spawn()
        except OSError as exc:
            self.outcome.error = f"cannot trace the VMM: {exc}"
            return self.outcome
        if pid is None:
            self.outcome.error = self._exec_failure() or self.outcome.error
            return self.outcome
        self.main_pid = pid
        try:
            if self.on_started:
                self.on_started(pid)
            ptrace.resume(pid)
            self._loop()
        except Exception as exc:  # noqa: BLE001 - reported in the capture, never a traceback
            self.outcome.error = f"capture stopped: {exc}"
        finally:
            self._kill_all()
        self.outcome.error = self._exec_failure() or self.outcome.error
        for mem in self._mem.values():
            mem.close()
        for vcpu in self._vcpus.values():
            self._table.retire(vcpu)
        return self.outcome

    def _loop(self) -> None:
        while self._alive:
            if self._interrupt_pending:
                self._interrupt_pending = False
                self._interrupt()
            try:
                stop = self._next_stop()
            except KeyboardInterrupt:
                self._interrupt()
                continue
            except ChildProcessError:
                return
            if stop is None:
                continue
            tid, status = stop
            if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                self._gone(tid, status)
                continue
            new = tid not in self._alive   # a new thread or child, at its first stop
            if new:
                self._alive.add(tid)
                self._tgid[tid] = tgid_of(tid)
                self._table.add_thread(tid, self._tgid[tid])
            self._stopped(tid, status, new)

    def _next_stop(self) -> tuple[int, int] | None:
        """The next stop for Python (None: none yet), after the C handler's records. Only
        a blocking os.waitpid lets Ctrl+C raise (`_waiting`): the C handler returns within
        50 ms anyway, and a stop it has returned must never be dropped by an exception."""
        if self._handler is not None:
            try:
                stop = self._handler.wait()
            except InterruptedError:   # SIGINT: `_interrupt_pending` says so next
                stop = None
            self._take_records()
            return stop
        self._waiting = True
        try:
            return os.waitpid(-1, _WALL)
        finally:
            self._waiting = False

    def _take_records(self) -> None:
        data = self._table.take_records()
        if data:
            self._sink(self._raw.marker(data))

    def expand(self, events: Iterable[dict]) -> Iterator[dict]:
        """`events` as the sink got them, each raw-exits marker replaced by its exits."""
        return self._raw.expand(events)

    def close(self) -> None:
        self._raw.close()

    def _stopped(self, tid: int, status: int, new: bool) -> None:
        sig, event = os.WSTOPSIG(status), status >> 16
        if sig == signal.SIGTRAP | 0x80:
            self._syscall_exit(tid)
            ptrace.resume(tid)
        elif sig == signal.SIGTRAP and event == ptrace.PTRACE_EVENT_SECCOMP:
            ptrace.resume(tid, syscall_exit=self._seccomp(tid))
        elif sig == signal.SIGTRAP and event:
            if event == ptrace.PTRACE_EVENT_EXEC:
                self._forget_process(tid)
            elif event == ptrace.PTRACE_EVENT_EXIT:
                self._thread_exiting(tid)
            ptrace.resume(tid)
        elif sig == signal.SIGSTOP and new:
            ptrace.resume(tid)   # the stop every new thread starts with
        else:
            ptrace.resume(tid, sig)   # a signal for the VMM: deliver it

    def _interrupt(self) -> None:
        """Ctrl+C: ask the VMM to stop (SIGTERM), then SIGKILL it after a grace period."""
        if self.outcome.interrupted:
            self._kill_all_now()
            return
        self.outcome.interrupted = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.main_pid, signal.SIGTERM)
        self._kill_timer = threading.Timer(GRACE_SECONDS, self._kill_all_now)
        self._kill_timer.daemon = True
        self._kill_timer.start()

    def _kill_all_now(self) -> None:
        for tid in list(self._alive):
            with contextlib.suppress(ProcessLookupError):
                os.kill(tid, signal.SIGKILL)

    def _kill_all(self) -> None:
        """Kill and reap every tracee still there: none survives the capture stopped."""
        if self._kill_timer:
            self._kill_timer.cancel()
        self._kill_all_now()
        while self._alive:
            try:
                tid, status = os.waitpid(-1, _WALL)
            except ChildProcessError:
                break
            if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                self._gone(tid, status)

    def _gone(self, tid: int, status: int) -> None:
        self._alive.discard(tid)
        self._table.drop_thread(tid)
        if tid == self._tgid.get(tid):   # a process ended: its vCPUs' slots with it
            self._forget_process(tid)
        self._pending.pop(tid, None)
        mem = self._mem.pop(tid, None)
        if mem is not None:
            mem.close()
        if tid == self.main_pid:
            self._record_end(tid, status)

    def _record_end(self, pid: int, status: int) -> None:
        if os.WIFEXITED(status):
            self.outcome.exit_status = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            self.outcome.signal = os.WTERMSIG(status)

    def _forget_process(self, tid: int) -> None:
        tgid = self._tgid.get(tid, tid)
        for key in [k for k in self._vcpus if k[0] == tgid]:
            self._table.retire(self._vcpus.pop(key))
        for t in [t for t, g in self._tgid.items() if g == tgid]:
            if t in self._mem:
                self._mem.pop(t).close()

    # --- ioctls ------------------------------------------------------------------------------
    def _memory(self, tid: int) -> VmmMemory:
        mem = self._mem.get(tid)
        if mem is None:
            mem = self._mem[tid] = VmmMemory(tid)
        return mem

    def _emit(self, tid: int, ev: str, **fields: object) -> None:
        fields.update(t=now(), tid=tid, ev=ev)
        self._sink(fields)

    def _seccomp(self, tid: int) -> bool:
        """An ioctl we record is entering; True when its syscall exit must stop too."""
        op, values = ptrace.syscall_info(tid)
        if op != ptrace.SYSCALL_INFO_SECCOMP:
            return False
        fd, request, arg = values[1], values[2] & 0xFFFFFFFF, values[3]
        if request == uapi.KVM_RUN:
            vcpu = self._vcpu(tid, fd)
            if vcpu is not None:   # stop_handler.c's handled() does this for hot vCPUs
                if vcpu.runner:
                    self._record_exit(tid, vcpu)
                vcpu.runner = tid
            return False
        elif request == uapi.KVM_CREATE_VM:
            self._pending[tid] = ("create_vm",)
        elif request == uapi.KVM_CREATE_VCPU:
            self._pending[tid] = ("create_vcpu", arg)
        elif request == uapi.KVM_ENABLE_CAP:
            try:
                cap, args = self._memory(tid).enable_cap(arg)
            except OSError:     # a bad pointer: the kernel fails it with EFAULT, we see it
                return False
            if cap != uapi.KVM_CAP_X86_USER_SPACE_MSR:
                return False
            self._pending[tid] = ("enable_cap", cap, args)
        elif request == uapi.KVM_X86_SET_MSR_FILTER:
            try:
                msr_filter, notes = self._memory(tid).msr_filter(arg)
            except OSError as exc:   # the kernel will fail it too (EFAULT): keep the result
                msr_filter, notes = None, [f"struct kvm_msr_filter unreadable: {exc}"]
            self._pending[tid] = ("set_msr_filter", msr_filter, notes)
        else:
            return False
        return True

    def _vcpu(self, tid: int, fd: int) -> WbVcpu | None:
        key = (self._tgid.get(tid, tid), fd)
        vcpu = self._vcpus.get(key)
        if vcpu is not None and not vcpu.run_addr:
            run_addr = kvm_run_address(tid, fd)
            if run_addr is not None:
                self._table.make_hot(vcpu, run_addr)
        return vcpu

    def _syscall_exit(self, tid: int) -> None:
        pending = self._pending.pop(tid, None)
        if pending is None:
            return
        op, values = ptrace.syscall_info(tid)
        if op != ptrace.SYSCALL_INFO_EXIT:
            return
        result = values[0]
        kind = pending[0]
        if kind == "create_vm":
            self._emit(tid, "create_vm", result=result)
        elif kind == "create_vcpu":
            if result >= 0:
                tgid = self._tgid.get(tid, tid)
                self._vcpus[(tgid, result)] = self._table.add_vcpu(tgid, result, pending[1])
            self._emit(tid, "create_vcpu", vcpu=pending[1], result=result)
        elif kind == "enable_cap":
            self._emit(tid, "enable_cap", cap=pending[1], args=pending[2], result=result)
        else:
            self._emit(tid, "set_msr_filter", result=result, notes=pending[2],
                       filter=None if pending[1] is None else pending[1].to_dict())

    def _record_exit(self, tid: int, vcpu: WbVcpu) -> None:
        """The exit of the vCPU's previous KVM_RUN, with the VMM's answer to it."""
        vcpu.runner = 0
        exit_, unreadable = None, None
        if vcpu.run_addr:
            try:
                exit_ = self._memory(tid).run_exit(vcpu.run_addr)
            except OSError as exc:   # the VMM unmapped its kvm_run: say so, keep capturing
                unreadable = str(exc)
        for event in exit_events(vcpu.index, now(), tid, exit_, unreadable):
            self._sink(event)

    def _thread_exiting(self, tid: int) -> None:
        for vcpu in self._vcpus.values():
            if vcpu.runner == tid:
                self._record_exit(tid, vcpu)


def ptrace_unavailable_reason() -> str | None:
    """Why `workbench capture` cannot trace a VMM here (None when it can): traces `true`."""
    if platform.machine() != "x86_64":
        return f"capture needs x86-64 Linux (this is {platform.machine()})"
    outcome = Tracer([shutil.which("true") or "true"]).run()
    return None if outcome.error is None and outcome.exit_status == 0 else outcome.describe()
