"""Reading a traced VMM's memory: its ioctl arguments and each vCPU's mapped `kvm_run`.

Reads go through /proc/PID/mem (we are the tracer, so the kernel allows them); nothing is
ever written, so the VMM runs exactly as it would without the capture.
"""

from __future__ import annotations

import ctypes
import os
import struct

from workbench.kvm import uapi
from workbench.kvm.filter import MsrFilter, MsrFilterRange, bitmap_copy_size, fits_bitmap_limit

_RUN_HEAD = uapi.KVM_RUN_EXIT_OFFSET + 256   # kvm_run up to the end of the exit union
_EXIT = uapi.KVM_RUN_EXIT_OFFSET
_MMIO = struct.Struct("<Q8sIB")              # phys_addr, data[8], len, is_write
_IO_DATA_MAX = 4096


class VmmMemory:
    """One process's address space, read through /proc/PID/mem."""

    def __init__(self, pid: int):
        self.pid = pid
        self._fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)

    def close(self) -> None:
        os.close(self._fd)

    def read(self, addr: int, size: int) -> bytes:
        """`size` bytes at `addr` (OSError where the VMM has nothing mapped)."""
        data = os.pread(self._fd, size, addr)
        if len(data) != size:
            raise OSError(f"short read of {size} bytes at {addr:#x} in process {self.pid}")
        return data

    def msr_filter(self, addr: int) -> tuple[MsrFilter, list[str]]:
        """The kvm_msr_filter at `addr` with each range's bitmap, as the kernel would copy it.

        A bitmap the kernel could not copy either (bad pointer, too large) is left out and
        named in the returned notes; the ioctl's result then says what the kernel made of it."""
        header = uapi.kvm_msr_filter.from_buffer_copy(
            self.read(addr, ctypes.sizeof(uapi.kvm_msr_filter)))
        notes: list[str] = []
        used = [i for i, r in enumerate(header.ranges) if r.flags or r.nmsrs or r.bitmap]
        ranges = []
        for i in range(max(used, default=-1) + 1):
            raw = header.ranges[i]
            bitmap: bytes | None = None
            if raw.bitmap and fits_bitmap_limit(raw.nmsrs):
                try:
                    bitmap = self.read(raw.bitmap, bitmap_copy_size(raw.nmsrs))
                except OSError as exc:
                    notes.append(f"range {i}: bitmap at {raw.bitmap:#x} unreadable ({exc})")
            elif raw.bitmap:
                notes.append(f"range {i}: nmsrs {raw.nmsrs} is over the kernel's bitmap limit")
            ranges.append(MsrFilterRange(raw.flags, raw.base, raw.nmsrs,
                                         b"" if raw.bitmap and bitmap is None else bitmap))
        return MsrFilter(header.flags, tuple(ranges)), notes

    def enable_cap(self, addr: int) -> tuple[int, list[int]]:
        cap = uapi.kvm_enable_cap.from_buffer_copy(
            self.read(addr, ctypes.sizeof(uapi.kvm_enable_cap)))
        return cap.cap, list(cap.args)

    def run_exit(self, run_addr: int) -> dict[str, object]:
        """The exit KVM left in the kvm_run at `run_addr`: reason and its union member."""
        raw = self.read(run_addr, _RUN_HEAD)
        run = uapi.kvm_run.from_buffer_copy(raw + bytes(ctypes.sizeof(uapi.kvm_run) - _RUN_HEAD))
        reason = run.exit_reason
        out: dict[str, object] = {"reason": reason}
        if reason in (uapi.KVM_EXIT_X86_RDMSR, uapi.KVM_EXIT_X86_WRMSR):
            out["msr"] = msr_member(raw)
        elif reason == uapi.KVM_EXIT_IO:
            io = run.exit.io
            size = min(io.size * io.count, _IO_DATA_MAX)
            data = self.read(run_addr + io.data_offset, size) if size else b""
            out["io"] = {"direction": io.direction, "size": io.size, "port": io.port,
                         "count": io.count, "data": data.hex()}
        elif reason == uapi.KVM_EXIT_MMIO:
            phys, data, length, is_write = _MMIO.unpack_from(raw, _EXIT)
            out["mmio"] = {"phys_addr": phys, "len": length, "is_write": is_write,
                           "data": data[:min(length, 8)].hex()}
        return out

    def msr_completion(self, run_addr: int) -> dict[str, int]:
        """kvm_run.msr as the VMM left it before re-entering: its answer (data, error)."""
        return msr_member(self.read(run_addr, _RUN_HEAD))


def msr_member(raw: bytes) -> dict[str, int]:
    msr = uapi.kvm_run_msr.from_buffer_copy(raw, _EXIT)
    return {"index": msr.index, "reason": msr.reason, "data": msr.data, "error": msr.error}


def kvm_run_address(tid: int, fd: int) -> int | None:
    """Where the VMM mapped the kvm_run of vCPU fd `fd` (offset 0 of its mapping), if it has."""
    try:
        target = os.readlink(f"/proc/{tid}/fd/{fd}")
        with open(f"/proc/{tid}/maps") as maps:
            for line in maps:
                fields = line.split(None, 5)
                if len(fields) == 6 and fields[5].strip() == target and int(fields[2], 16) == 0:
                    return int(fields[0].split("-")[0], 16)
    except OSError:
        return None
    return None
