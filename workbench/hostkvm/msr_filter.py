"""An MsrFilter as the `struct kvm_msr_filter` KVM_X86_SET_MSR_FILTER reads.

kvm_add_msr_filter (arch/x86/kvm/x86.c) copies BITS_TO_LONGS(nmsrs) * 8 bytes from each
range's bitmap pointer, so every bitmap is handed over in a buffer at least that long,
zero-padded (denied) past the bytes the user gave: the kernel must never read beyond our
buffer. Sizes the kernel refuses before copying (> KVM_MSR_FILTER_MAX_BITMAP_SIZE) are not
padded, which keeps a huge nmsrs from allocating gigabytes here.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field

from workbench.kvm import uapi
from workbench.kvm.filter import MsrFilter, bitmap_copy_size, check_abi


@dataclass
class FilterArgument:
    """The ioctl argument and the bitmap buffers its pointers refer to (kept alive with it)."""

    struct: uapi.kvm_msr_filter
    buffers: list[ctypes.Array] = field(default_factory=list)


def filter_argument(msr_filter: MsrFilter) -> FilterArgument:
    """Build the kvm_msr_filter for `msr_filter`; OSError(EINVAL) for what it cannot carry."""
    check_abi(msr_filter)
    argument = FilterArgument(uapi.kvm_msr_filter())
    argument.struct.flags = msr_filter.flags
    for slot, rng in zip(argument.struct.ranges, msr_filter.ranges, strict=False):
        slot.flags, slot.base, slot.nmsrs = rng.flags, rng.base, rng.nmsrs
        if rng.bitmap is None:
            slot.bitmap = None
            continue
        copied = bitmap_copy_size(rng.nmsrs)
        if copied > uapi.KVM_MSR_FILTER_MAX_BITMAP_SIZE:
            copied = 0
        buffer = ctypes.create_string_buffer(rng.bitmap, max(len(rng.bitmap), copied, 1))
        argument.buffers.append(buffer)
        slot.bitmap = ctypes.addressof(buffer)
    return argument
