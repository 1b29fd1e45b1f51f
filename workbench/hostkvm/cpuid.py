"""The host's KVM_GET_SUPPORTED_CPUID, and building the KVM_SET_CPUID2 buffer from tuples.

KVM looks CPUID entries up by (function, index) only when an entry carries
KVM_CPUID_FLAG_SIGNIFCANT_INDEX (arch/x86/kvm/cpuid.c, kvm_find_cpuid_entry_index /
cpuid_entry2_find), so the flag must be set for exactly the leaves that have subleaves.
"""

from __future__ import annotations

import ctypes
import errno
import functools
from collections.abc import Iterable

from workbench.hostkvm.device import ioctl, open_kvm
from workbench.kvm import uapi
from workbench.kvm.cpuid_rows import checked_rows

CpuidTuple = tuple[int, int, int, int, int, int]

# Leaves whose ECX input selects a subleaf (arch/x86/kvm/cpuid.c, __do_cpuid_func sets
# KVM_CPUID_FLAG_SIGNIFCANT_INDEX for these); used for leaves the host did not report.
_INDEXED_LEAVES = frozenset({
    0x4, 0x7, 0xB, 0xD, 0xF, 0x10, 0x12, 0x14, 0x17, 0x18, 0x1D, 0x1E, 0x1F, 0x23, 0x24,
    0x8000001D, 0x80000020, 0x80000026,
})
_MAX_ENTRIES = 4096


def _cpuid2_buffer(count: int) -> tuple[ctypes.Array, uapi.kvm_cpuid2, ctypes.Array]:
    """A kvm_cpuid2 header followed by `count` entries, in one mutable buffer."""
    header_size = ctypes.sizeof(uapi.kvm_cpuid2)
    buffer = (ctypes.c_uint8 * (header_size + count * ctypes.sizeof(uapi.kvm_cpuid_entry2)))()
    header = uapi.kvm_cpuid2.from_buffer(buffer)
    entries = (uapi.kvm_cpuid_entry2 * count).from_buffer(buffer, header_size)
    header.nent = count
    return buffer, header, entries


def supported_entries(kvm_fd: int) -> list[uapi.kvm_cpuid_entry2]:
    """KVM_GET_SUPPORTED_CPUID, growing the buffer while the kernel answers E2BIG."""
    count = 128
    while True:
        buffer, header, entries = _cpuid2_buffer(count)
        try:
            ioctl(kvm_fd, uapi.KVM_GET_SUPPORTED_CPUID, buffer, "KVM_GET_SUPPORTED_CPUID")
        except OSError as exc:
            if exc.errno != errno.E2BIG or count >= _MAX_ENTRIES:
                raise
            count *= 2
            continue
        return [uapi.kvm_cpuid_entry2.from_buffer_copy(e) for e in entries[: header.nent]]


@functools.cache
def _supported() -> tuple[tuple[CpuidTuple, ...], frozenset[int]]:
    device = open_kvm()
    try:
        entries = supported_entries(device.fd)
    finally:
        device.close()
    tuples = tuple((e.function, e.index, e.eax, e.ebx, e.ecx, e.edx) for e in entries)
    indexed = frozenset(
        e.function for e in entries if e.flags & uapi.KVM_CPUID_FLAG_SIGNIFCANT_INDEX
    )
    return tuples, indexed


def supported_cpuid() -> list[CpuidTuple]:
    """The running kernel's supported CPUID as (function, index, eax, ebx, ecx, edx)."""
    return list(_supported()[0])


def set_cpuid_buffer(cpuid: Iterable[CpuidTuple]) -> ctypes.Array:
    """The KVM_SET_CPUID2 argument for `cpuid`, flagging the leaves that have subleaves."""
    rows = checked_rows(cpuid)
    indexed = _INDEXED_LEAVES | _supported()[1]
    buffer, _, entries = _cpuid2_buffer(len(rows))
    for entry, row in zip(entries, rows, strict=True):
        function, index, eax, ebx, ecx, edx = row
        entry.function, entry.index = function, index
        entry.eax, entry.ebx, entry.ecx, entry.edx = eax, ebx, ecx, edx
        entry.flags = uapi.KVM_CPUID_FLAG_SIGNIFCANT_INDEX if function in indexed else 0
    return buffer
