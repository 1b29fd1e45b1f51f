"""The capture's C stop handler (stop_handler.c) and the vCPU table it shares with Python.

The table (which thread belongs to which process, which vCPU fd maps its kvm_run where) is
ctypes memory the tracer always keeps. Where a C compiler is there, stop_handler.c is built
once per source version into the user's cache and handles the KVM_RUN stops of hot vCPUs
itself, leaving raw records that `decode` turns into the tracer's exit events; without
one, the tracer handles every stop in Python (slower, same events).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from workbench.capture.vmm_memory import IO_DATA_MAX, RUN_HEAD, decode_exit, exit_events
from workbench.kvm import uapi

SOURCE = Path(__file__).with_name("stop_handler.c")
VCPUS, THREADS = 256, 1024       # WB_VCPUS, WB_THREADS in stop_handler.c
OUT_BYTES = 1 << 20              # raw records between two returns to Python
# After each stop the handler polls for the next one this long before sleeping: a VMM
# exiting flat out stops again within it, and on this project's nested hosts a CPU woken
# from idle cost each exit more than the stop itself (bench_capture: 0.08x of plain QEMU
# sleeping, 0.22x polling, on a quiet machine). Not where the capture has one CPU (taskset):
# polling there only keeps the VMM from running.
SPIN_SECONDS = 100e-6
_RECORD = struct.Struct("<diiiI")   # struct wb_record: t, tid, slot, err, io_len


class WbVcpu(ctypes.Structure):
    _fields_ = [("tgid", ctypes.c_int32), ("fd", ctypes.c_int32), ("runner", ctypes.c_int32),
                ("memfd", ctypes.c_int32), ("index", ctypes.c_int32), ("pad", ctypes.c_int32),
                ("run_addr", ctypes.c_uint64)]


class WbThread(ctypes.Structure):
    _fields_ = [("tid", ctypes.c_int32), ("tgid", ctypes.c_int32)]


class WbTable(ctypes.Structure):
    _fields_ = [("kvm_run", ctypes.c_uint32), ("exit_io", ctypes.c_uint32),
                ("head_size", ctypes.c_uint32), ("exit_offset", ctypes.c_uint32),
                ("io_max", ctypes.c_uint32), ("tid", ctypes.c_int32),
                ("status", ctypes.c_int32), ("nvcpus", ctypes.c_int32),
                ("nthreads", ctypes.c_int32), ("out_used", ctypes.c_uint32),
                ("out_cap", ctypes.c_uint32), ("out", ctypes.c_void_p),
                ("spin", ctypes.c_double),
                ("vcpus", WbVcpu * VCPUS), ("threads", WbThread * THREADS)]


class VcpuTable:
    """Threads and vCPU slots of the traced processes, as the C handler reads them."""

    def __init__(self) -> None:
        self.table = WbTable(kvm_run=uapi.KVM_RUN, exit_io=uapi.KVM_EXIT_IO,
                             head_size=RUN_HEAD, exit_offset=uapi.KVM_RUN_EXIT_OFFSET,
                             io_max=IO_DATA_MAX, out_cap=OUT_BYTES,
                             spin=SPIN_SECONDS if len(os.sched_getaffinity(0)) > 1 else 0.0)
        self._out = ctypes.create_string_buffer(OUT_BYTES)
        self.table.out = ctypes.addressof(self._out)

    def add_thread(self, tid: int, tgid: int) -> None:
        t = self.table
        if t.nthreads < THREADS:     # past that, the thread's KVM_RUNs go to Python
            t.threads[t.nthreads] = WbThread(tid, tgid)
            t.nthreads += 1

    def drop_thread(self, tid: int) -> None:
        t = self.table
        for i in range(t.nthreads):
            if t.threads[i].tid == tid:
                t.nthreads -= 1
                t.threads[i] = t.threads[t.nthreads]
                return

    def add_vcpu(self, tgid: int, fd: int, index: int) -> WbVcpu:
        """A new slot for vCPU `index`; past VCPUS one outside the table, which the C
        handler never sees (that vCPU's stops are then handled in Python)."""
        t = self.table
        if t.nvcpus == VCPUS:
            return WbVcpu(tgid=tgid, fd=fd, memfd=-1, index=index)
        slot = t.vcpus[t.nvcpus]
        slot.tgid, slot.fd, slot.runner, slot.memfd, slot.index, slot.run_addr = (
            tgid, fd, 0, -1, index, 0)
        t.nvcpus += 1
        return slot

    def make_hot(self, slot: WbVcpu, run_addr: int) -> None:
        """Let the C handler take this vCPU's KVM_RUN stops (it reads kvm_run at run_addr)."""
        with contextlib.suppress(OSError):   # process gone: stays cold, Python sees it end
            slot.memfd = os.open(f"/proc/{slot.tgid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        slot.run_addr = run_addr

    def retire(self, slot: WbVcpu) -> None:
        """The slot's process exec'ed or ended: never match it again (its index stays, for
        the records that name it)."""
        if slot.memfd >= 0:
            os.close(slot.memfd)
        slot.tgid, slot.memfd, slot.run_addr, slot.runner = 0, -1, 0, 0

    def take_records(self) -> bytes:
        data = ctypes.string_at(self._out, self.table.out_used)
        self.table.out_used = 0
        return data


def decode(data: bytes, slots: ctypes.Array[WbVcpu]) -> Iterator[dict]:
    """The tracer's events for the raw records of `data`, in order (`slots`: the table's,
    whose vCPU indices the records name by position)."""
    offset = 0
    while offset < len(data):
        t, tid, slot, err, io_len = _RECORD.unpack_from(data, offset)
        offset += _RECORD.size
        head = data[offset:offset + RUN_HEAD]
        io_data = data[offset + RUN_HEAD:offset + RUN_HEAD + io_len]
        offset += RUN_HEAD + (io_len + 7) // 8 * 8
        vcpu = slots[slot].index
        if err:
            yield from exit_events(vcpu, t, tid, unreadable=os.strerror(err))
        else:
            yield from exit_events(vcpu, t, tid, decode_exit(head, io_data))


RAW_EXITS = "raw_exits"


class RawExits:
    """The C handler's records, kept on disk while the VMM runs: the sink gets one marker
    event per batch, which `expand` replaces with the batch's exits afterwards."""

    def __init__(self, table: VcpuTable) -> None:
        self._slots = table.table.vcpus
        self._file: BinaryIO | None = None     # opened with the first batch

    def marker(self, data: bytes) -> dict:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - close() ends it
        offset = self._file.seek(0, os.SEEK_END)
        self._file.write(data)
        return {"t": _RECORD.unpack_from(data)[0], "tid": 0, "ev": RAW_EXITS,
                "offset": offset, "length": len(data)}

    def expand(self, events: Iterable[dict]) -> Iterator[dict]:
        for event in events:
            if event.get("ev") != RAW_EXITS:
                yield event
                continue
            assert self._file is not None   # a marker exists only with its batch
            self._file.seek(event["offset"])
            yield from decode(self._file.read(event["length"]), self._slots)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class Handler:
    """The built stop_handler.c, waiting for stops on a VcpuTable."""

    def __init__(self, library: ctypes.CDLL, table: VcpuTable):
        self._wait = library.wb_wait
        self._wait.argtypes = [ctypes.POINTER(WbTable)]
        self._wait.restype = ctypes.c_int
        self._table = table

    def wait(self) -> tuple[int, int] | None:
        """The next stop Python must handle; None when there is none yet (at most 50 ms
        later) or the records need taking first. OSError (ECHILD, EINTR) as os.waitpid."""
        result = self._wait(ctypes.byref(self._table.table))
        if result < 0:
            raise OSError(-result, os.strerror(-result))
        return (self._table.table.tid, self._table.table.status) if result else None


def load(table: VcpuTable) -> tuple[Handler | None, str | None]:
    """The C handler on `table`, built first if needed, or None and why not (no C compiler,
    a failed build): the tracer then handles every stop itself."""
    try:
        return Handler(ctypes.CDLL(str(_built())), table), None
    except (OSError, subprocess.SubprocessError) as exc:
        return None, str(exc)


def _built() -> Path:
    """The library for this source, from the user's cache or built now (into a private
    temporary directory where the cache is not writable)."""
    name = f"stop_handler-{hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]}.so"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    library = Path(xdg) / "kvm-trap-workbench" / name
    if library.exists():
        return library
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise OSError("no C compiler (cc or gcc) to build the stop handler")
    try:
        library.parent.mkdir(parents=True, exist_ok=True)
        return _compile(compiler, library)
    except OSError:
        return _compile(compiler, Path(tempfile.mkdtemp(prefix="workbench-cc-")) / name)


def _compile(compiler: str, library: Path) -> Path:
    fd, partial = tempfile.mkstemp(dir=library.parent, suffix=".so.part")
    os.close(fd)
    try:
        subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", partial, str(SOURCE)],
                       check=True, capture_output=True, timeout=120)
        os.replace(partial, library)   # whole or not at all, whoever builds it alongside
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    return library
