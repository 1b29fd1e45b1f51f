"""A vCPU of the real KVM: KVM_RUN on the mmap'ed kvm_run, and user space's side of exits.

An MSR or IN exit is completed the way a VMM completes it: the answer the user put into the
VcpuExit we returned is copied into kvm_run (msr.error/msr.data, or the I/O data page)
right before the next KVM_RUN, where the kernel's complete_userspace_rdmsr /
complete_fast_pio_in (arch/x86/kvm/x86.c) consume it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import mmap
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NoReturn

from workbench.hostkvm import sregs as long_mode_sregs
from workbench.hostkvm.device import Fd, ioctl, raw_ioctl
from workbench.kvm import uapi
from workbench.kvm.engine import ClosedError, SimOnlyError
from workbench.kvm.exits import ExitKind, VcpuExit
from workbench.kvm.guest.assembler import Program
from workbench.kvm.guest.layout import GUEST_STACK_TOP, RFLAGS_RESET
from workbench.kvm.msrs.catalogue import single_indices
from workbench.kvm.regs import REG_NAMES, Regs, Sregs

if TYPE_CHECKING:
    from workbench.hostkvm.vm import HostVm

KVM_CAP_SYNC_REGS = 74
KVM_SYNC_X86_REGS = 1 << 0
# kvm_run.s.regs follows the fixed head (include/uapi/linux/kvm.h); its first member on
# x86 is struct kvm_regs, which the kernel fills on every exit when kvm_valid_regs asks.
_SYNC_REGS_OFFSET = ctypes.sizeof(uapi.kvm_run)
_MSR_EXITS = (uapi.KVM_EXIT_X86_RDMSR, uapi.KVM_EXIT_X86_WRMSR)
# pause() kicks a vCPU thread out of KVM_RUN with this signal (as QEMU's SIG_IPI does);
# its handler does nothing, it is there so that the signal interrupts instead of killing.
PAUSE_SIGNAL = signal.SIGRTMIN + 3
_MAX_IO_MSRS = 255  # arch/x86/kvm/x86.c: msr_io() refuses nmsrs >= MAX_IO_MSRS (256), E2BIG


def no_checkpoints(call: str) -> SimOnlyError:
    return SimOnlyError(f"{call}: the real kernel's state cannot be saved and restored here; "
                        "use the sim engine for checkpoints and interrupted-run replay")


def _no_breakpoints(call: str) -> SimOnlyError:
    return SimOnlyError(f"{call}: the host engine has no guest breakpoints; use the sim "
                        "engine to stop at an address or an MSR access")


def _pause_signal_ready() -> bool:
    """Install the no-op handler if possible (only the main thread may install one)."""
    if signal.getsignal(PAUSE_SIGNAL) not in (signal.SIG_DFL, signal.SIG_IGN, None):
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(PAUSE_SIGNAL, lambda *_: None)
    return True


class HostVcpu:
    """One KVM vCPU started in the runtime's long mode at `program`."""

    can_step = False
    can_breakpoint = False
    can_budget = False
    has_msr_bitmap = False
    can_read_state = True
    msr_file_note = ("host engine: the MSR file lists the catalogue's MSRs KVM_GET_MSRS "
                     "answers; the kernel reports no in-kernel access, so no last-write step")
    instruction_budget = 0  # KVM_RUN cannot count guest instructions (can_budget)

    def __init__(self, vm: HostVm, vcpu_id: int, program: Program) -> None:
        self.vm = vm
        self.vcpu_id = vcpu_id
        self.program = program
        self.pending: VcpuExit | None = None
        self.shut_down = False
        self._running_in: int | None = None  # the thread inside KVM_RUN, for pause()
        self._in_run = threading.Lock()  # held through run(); close() waits for it
        _pause_signal_ready()  # from the main thread, so pause() can kick from any thread
        self._fd = Fd(ioctl(vm.fd, uapi.KVM_CREATE_VCPU, vcpu_id, "KVM_CREATE_VCPU"),
                      f"vcpu{vcpu_id}")
        self._map: mmap.mmap | None = None
        self._run: uapi.kvm_run | None = None
        self._sync_regs: uapi.kvm_regs | None = None
        try:
            self._map = mmap.mmap(self._fd.fd, vm.kvm.vcpu_mmap_size,
                                  mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            self._run = uapi.kvm_run.from_buffer(self._map)
            if vm.kvm.sync_regs & KVM_SYNC_X86_REGS:
                self._sync_regs = uapi.kvm_regs.from_buffer(self._map, _SYNC_REGS_OFFSET)
                self._run.kvm_valid_regs = KVM_SYNC_X86_REGS
            ioctl(self.fd, uapi.KVM_SET_CPUID2, vm.cpuid_buffer, "KVM_SET_CPUID2")
            sregs = uapi.kvm_sregs()
            ioctl(self.fd, uapi.KVM_GET_SREGS, sregs, "KVM_GET_SREGS")
            long_mode_sregs.long_mode(sregs)
            ioctl(self.fd, uapi.KVM_SET_SREGS, sregs, "KVM_SET_SREGS")
            self.set_regs(Regs(rsp=GUEST_STACK_TOP, rip=program.base, rflags=RFLAGS_RESET))
        except BaseException:
            self.close()
            raise

    @property
    def fd(self) -> int:
        if self._fd.closed:
            raise ClosedError(f"vCPU {self.vcpu_id} is closed")
        return self._fd.fd

    # --- registers and MSRs ---------------------------------------------------------------
    def get_regs(self) -> Regs:
        raw = uapi.kvm_regs()
        ioctl(self.fd, uapi.KVM_GET_REGS, raw, "KVM_GET_REGS")
        return Regs(**{name: getattr(raw, name) for name in REG_NAMES})

    def set_regs(self, regs: Regs | dict[str, int]) -> None:
        """KVM_SET_REGS; a dict sets only the registers it names, as on the sim."""
        values = regs.as_dict() if isinstance(regs, Regs) else dict(regs)
        unknown = set(values) - set(REG_NAMES)
        if unknown:
            raise ValueError(f"unknown register(s) {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(REG_NAMES)})")
        raw = uapi.kvm_regs()
        if not isinstance(regs, Regs):
            ioctl(self.fd, uapi.KVM_GET_REGS, raw, "KVM_GET_REGS")
        for name, value in values.items():
            setattr(raw, name, value & 0xFFFF_FFFF_FFFF_FFFF)
        ioctl(self.fd, uapi.KVM_SET_REGS, raw, "KVM_SET_REGS")

    def get_sregs(self) -> Sregs:
        """KVM_GET_SREGS."""
        raw = uapi.kvm_sregs()
        ioctl(self.fd, uapi.KVM_GET_SREGS, raw, "KVM_GET_SREGS")
        return long_mode_sregs.from_kvm(raw)

    def msr_file(self) -> dict[int, int]:
        """KVM_GET_MSRS for the catalogue's indices, at most MAX_IO_MSRS a call. The kernel
        reads entries in order and stops at the first it refuses, so each call resumes
        after the refused one."""
        indices = single_indices(self.vm.vendor, self.vm.profile)
        header = ctypes.sizeof(uapi.kvm_msrs)
        entry_size = ctypes.sizeof(uapi.kvm_msr_entry)
        out: dict[int, int] = {}
        while indices:
            batch = indices[:_MAX_IO_MSRS]
            buffer = (ctypes.c_uint8 * (header + entry_size * len(batch)))()
            uapi.kvm_msrs.from_buffer(buffer).nmsrs = len(batch)
            entries = [uapi.kvm_msr_entry.from_buffer(buffer, header + i * entry_size)
                       for i in range(len(batch))]
            for entry, index in zip(entries, batch, strict=True):
                entry.index = index
            done = ioctl(self.fd, uapi.KVM_GET_MSRS, buffer, "KVM_GET_MSRS")
            out.update((entry.index, entry.data) for entry in entries[:done])
            indices = indices[done + 1:]
        return out

    def read_memory(self, address: int, size: int) -> bytes:
        return self.vm.read_memory(address, size)

    def _msrs(self, index: int, value: int = 0) -> tuple[ctypes.Array, uapi.kvm_msr_entry]:
        header_size = ctypes.sizeof(uapi.kvm_msrs)
        buffer = (ctypes.c_uint8 * (header_size + ctypes.sizeof(uapi.kvm_msr_entry)))()
        uapi.kvm_msrs.from_buffer(buffer).nmsrs = 1
        entry = uapi.kvm_msr_entry.from_buffer(buffer, header_size)
        entry.index, entry.data = index, value
        return buffer, entry

    def get_tsc_khz(self) -> int:
        """KVM_GET_TSC_KHZ: the guest TSC rate, this machine's unless set otherwise."""
        return ioctl(self.fd, uapi.KVM_GET_TSC_KHZ, None, "KVM_GET_TSC_KHZ")

    def get_msr(self, index: int) -> int:
        """KVM_GET_MSRS for one MSR: host-initiated, so never filtered."""
        buffer, entry = self._msrs(index)
        if ioctl(self.fd, uapi.KVM_GET_MSRS, buffer, "KVM_GET_MSRS") != 1:
            raise OSError(errno.EINVAL, f"KVM_GET_MSRS: MSR {index:#x} cannot be read")
        return entry.data

    def set_msr(self, index: int, value: int) -> None:
        """KVM_SET_MSRS for one MSR: host-initiated, so never filtered."""
        buffer, _ = self._msrs(index, value)
        if ioctl(self.fd, uapi.KVM_SET_MSRS, buffer, "KVM_SET_MSRS") != 1:
            raise OSError(errno.EINVAL, f"KVM_SET_MSRS: MSR {index:#x} rejects {value:#x}")

    # --- running ------------------------------------------------------------------------------
    def run(self) -> VcpuExit:
        """KVM_RUN: hand over the pending answer, run until the kernel exits to user space.

        After a triple fault the vCPU is dead, as in the sim: later runs report SHUTDOWN
        again without entering the guest.
        """
        with self._in_run:
            return self._run_locked()

    def _run_locked(self) -> VcpuExit:
        run = self._run
        if run is None:
            raise ClosedError(f"vCPU {self.vcpu_id} is closed")
        if self.shut_down:
            return VcpuExit.of(ExitKind.SHUTDOWN, self._rip())
        if self.pending is not None:
            self._complete(run, self.pending)
        self._running_in = threading.get_ident()
        try:
            result = raw_ioctl(self._fd.fd, uapi.KVM_RUN, None)
        finally:
            self._running_in = None
        if result < 0:
            code = ctypes.get_errno()
            if code == errno.EINTR:
                run.immediate_exit = 0
                return VcpuExit.of(ExitKind.INTR, self._rip())
            raise OSError(code, f"KVM_RUN: {errno.errorcode.get(code, code)}")
        return self._exit(run)

    @property
    def in_kvm_run(self) -> bool:
        """Whether a thread is inside KVM_RUN on this vCPU now (what pause() must kick)."""
        return self._running_in is not None

    def pause(self) -> None:
        """Make a run() in another thread return KVM_EXIT_INTR soon, as the sim's pause().

        kvm_run.immediate_exit covers a thread about to enter KVM_RUN; a signal kicks one
        already inside it (the no-op handler can only be installed from the main thread;
        without it a spinning guest is only stopped at its next exit).
        """
        run = self._run
        if run is None:
            return
        run.immediate_exit = 1
        thread = self._running_in
        if thread is not None and _pause_signal_ready():
            with contextlib.suppress(ProcessLookupError):  # it left run() meanwhile
                signal.pthread_kill(thread, PAUSE_SIGNAL)

    def cancel_pause(self) -> None:
        """Forget a pause() that no run has consumed: without this, kvm_run.immediate_exit
        stays set and the next run() returns KVM_EXIT_INTR without entering the guest."""
        run = self._run
        if run is not None:
            run.immediate_exit = 0

    def _complete(self, run: uapi.kvm_run, exit_: VcpuExit) -> None:
        self.pending = None
        msr = exit_.as_msr()
        if msr is not None:
            run.exit.msr.error = msr.error & 0xFF
            if exit_.kind is ExitKind.RDMSR:
                run.exit.msr.data = msr.data & 0xFFFF_FFFF_FFFF_FFFF
        else:
            io = run.exit.io
            start = io.data_offset
            data = (exit_.io.data & ((1 << 8 * io.size) - 1)).to_bytes(io.size, "little")
            self._map[start : start + io.size] = data

    def _exit(self, run: uapi.kvm_run) -> VcpuExit:
        reason = run.exit_reason
        rip = self._rip()
        if reason in _MSR_EXITS:
            msr = run.exit.msr
            exit_ = VcpuExit.msr_access(reason == uapi.KVM_EXIT_X86_WRMSR, msr.index, msr.data,
                                        msr.reason, rip)
            self.pending = exit_
            return exit_
        if reason == uapi.KVM_EXIT_IO:
            io = run.exit.io
            out = io.direction == uapi.KVM_EXIT_IO_OUT
            data = 0
            if out:
                start = io.data_offset
                data = int.from_bytes(self._map[start : start + io.size], "little")
            exit_ = VcpuExit.pio(out, io.port, io.size, data, rip, io.count)
            if not out:
                self.pending = exit_
            return exit_
        if reason == uapi.KVM_EXIT_SHUTDOWN:
            self.shut_down = True
        return VcpuExit(reason, rip=rip)

    def _rip(self) -> int:
        if self._sync_regs is not None:
            return self._sync_regs.rip
        return self.get_regs().rip

    # --- sim-only inspection ------------------------------------------------------------------
    def step(self) -> NoReturn:
        raise SimOnlyError(
            "vcpu.step(): the host engine cannot execute single guest instructions "
            "(KVM_RUN runs until the next exit); use the sim engine to step"
        )

    def msr_bitmap(self) -> NoReturn:
        raise SimOnlyError(
            "vcpu.msr_bitmap(): the real kernel does not expose its VMX MSR bitmap / SVM "
            "MSRPM to user space; use the sim engine to inspect intercepts"
        )

    def set_breakpoint(self, address: int, enabled: bool = True) -> NoReturn:
        raise _no_breakpoints("vcpu.set_breakpoint()")

    def set_msr_breakpoint(self, index: int, enabled: bool = True) -> NoReturn:
        raise _no_breakpoints("vcpu.set_msr_breakpoint()")

    def breakpoints(self) -> NoReturn:
        raise _no_breakpoints("vcpu.breakpoints()")

    def export_state(self) -> NoReturn:
        raise no_checkpoints("vcpu.export_state()")

    def import_state(self, data: dict[str, Any]) -> NoReturn:
        raise no_checkpoints("vcpu.import_state()")

    def state_parts(self) -> Iterator[bytes]:
        """Nothing beyond the registers a session reads itself."""
        return iter(())

    # --- lifetime ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop a run in another thread and wait for it (its kvm_run must stay mapped until
        it has left KVM_RUN), then unmap kvm_run and close the vCPU fd (idempotent)."""
        while not self._in_run.acquire(timeout=0.05):
            self.pause()
        try:
            self._release()
        finally:
            self._in_run.release()

    def _release(self) -> None:
        self._run = self._sync_regs = None
        if self._map is not None:
            self._map.close()
            self._map = None
        self._fd.close()

    def __enter__(self) -> HostVcpu:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
