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

RUN_HEAD = uapi.KVM_RUN_EXIT_OFFSET + 256   # kvm_run up to the end of the exit union
_EXIT = uapi.KVM_RUN_EXIT_OFFSET
_MMIO = struct.Struct("<Q8sIB")              # phys_addr, data[8], len, is_write
_MSR = struct.Struct("<B7xIIQ")              # error, pad, reason, index, data
_IO = struct.Struct("<BBHIQ")                # direction, size, port, count, data_offset
_U32 = struct.Struct("<I")
IO_DATA_MAX = 4096


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
        """The last exit in the kvm_run at `run_addr`, read when the VMM enters KVM_RUN again:
        the reason and its union member as KVM left it, with the VMM's completion written in
        (msr.data/error, the data of an IN or MMIO read)."""
        head = self.read(run_addr, RUN_HEAD)
        span = io_span(head)
        return decode_exit(head, self.read(run_addr + span[0], span[1]) if span else b"")


def io_span(head: bytes) -> tuple[int, int] | None:
    """Where an IO exit's data lies, as (offset from kvm_run, bytes kept); None otherwise."""
    if _U32.unpack_from(head, 8)[0] != uapi.KVM_EXIT_IO:
        return None
    _, size, _, count, data_offset = _IO.unpack_from(head, _EXIT)
    length = min(size * count, IO_DATA_MAX)
    return (data_offset, length) if length else None


def decode_exit(head: bytes, io_data: bytes) -> dict[str, object]:
    """An exit as the capture records it, from kvm_run's first RUN_HEAD bytes (and, for an
    IO exit, the data at `io_span`)."""
    reason = _U32.unpack_from(head, 8)[0]
    out: dict[str, object] = {"reason": reason}
    if reason in (uapi.KVM_EXIT_X86_RDMSR, uapi.KVM_EXIT_X86_WRMSR):
        error, msr_reason, index, data = _MSR.unpack_from(head, _EXIT)
        out["msr"] = {"index": index, "reason": msr_reason, "data": data, "error": error}
    elif reason == uapi.KVM_EXIT_IO:
        direction, size, port, count, _ = _IO.unpack_from(head, _EXIT)
        out["io"] = {"direction": direction, "size": size, "port": port, "count": count,
                     "data": io_data.hex()}
    elif reason == uapi.KVM_EXIT_MMIO:
        phys, data, length, is_write = _MMIO.unpack_from(head, _EXIT)
        out["mmio"] = {"phys_addr": phys, "len": length, "is_write": is_write,
                       "data": data[:min(length, 8)].hex()}
    return out


def exit_events(vcpu: int, t: float, tid: int, exit_: dict[str, object] | None = None,
                unreadable: str | None = None) -> list[dict[str, object]]:
    """The capture's events for one exit (`decode_exit`'s, or None where kvm_run was not
    read): the exit, then the VMM's answer to an MSR exit."""
    head: dict[str, object] = {"vcpu": vcpu}
    if unreadable is not None:
        head["unreadable"] = unreadable
    events = [{**head, **(exit_ or {}), "t": t, "tid": tid, "ev": "exit"}]
    if exit_ is not None and "msr" in exit_:
        events.append({"vcpu": vcpu, **exit_["msr"], "t": t, "tid": tid, "ev": "msr_done"})
    return events


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


def tgid_of(tid: int) -> int:
    """The process a thread belongs to (itself if /proc cannot say)."""
    try:
        with open(f"/proc/{tid}/status") as status:
            for line in status:
                if line.startswith("Tgid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return tid
