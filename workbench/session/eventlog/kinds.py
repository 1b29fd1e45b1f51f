"""What a log row can be: the log's own event kinds and the flag bits of the `flags` column.

One IntEnum spans both sources so a row needs a single u8 to say what it is: KVM and
session events below 64, and every workbench.vfio EventKind at 64 + its own value (the
vfio value is also kept in the row's `vkind` column). The comments on each member say
what the generic columns hold for that kind, like workbench.vfio.events does.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

from workbench.kvm.uapi import (
    KVM_EXIT_HLT,
    KVM_EXIT_INTR,
    KVM_EXIT_IO,
    KVM_EXIT_SHUTDOWN,
    KVM_EXIT_X86_RDMSR,
    KVM_EXIT_X86_WRMSR,
    KVM_MSR_EXIT_REASON_FILTER,
    KVM_MSR_EXIT_REASON_INVAL,
    KVM_MSR_EXIT_REASON_UNKNOWN,
)
from workbench.vfio.events import EventKind as VfioKind

VFIO_BASE = 64


class EventKind(IntEnum):
    """Row kinds. Every KVM row has aux=RIP; exit rows keep the raw exit_reason in arg."""

    MSR_READ = 1  # RDMSR handled in the kernel: msr, value read, result
    MSR_WRITE = 2  # WRMSR handled in the kernel: msr, value written, result
    MSR_GP = 3  # the kernel injected #GP without exiting: msr, value, reason, result
    MSR_EXIT = 4  # KVM_EXIT_X86_RDMSR/WRMSR to user space: msr, value (WRMSR data), reason
    USER_ANSWER = 5  # user space's answer to an MSR exit: msr, value=data, errno=error
    IO_EXIT = 6  # KVM_EXIT_IO: offset=port, size, value=data, arg=count, WRITE for OUT
    HLT = 7  # KVM_EXIT_HLT
    SHUTDOWN = 8  # KVM_EXIT_SHUTDOWN (triple fault)
    INTR = 9  # KVM_EXIT_INTR: run() interrupted (the session's pause request landed)
    OTHER_EXIT = 10  # any other exit_reason (in arg)
    STEP = 11  # the session single-stepped a vCPU
    BREAKPOINT = 12  # a breakpoint hit: aux=RIP, value=breakpoint id
    PAUSE = 13  # the user asked the session to pause
    FILTER_SET = 14  # KVM_X86_SET_MSR_FILTER: errno (0 = accepted), value=ranges, arg=flags
    CAP_SET = 15  # KVM_ENABLE_CAP: arg=cap, value=args[0], errno
    IO_ANSWER = 16  # user space's answer to an IN exit: offset=port, size, value=data

    VFIO_DEVICE_ADD = VFIO_BASE + VfioKind.DEVICE_ADD
    VFIO_DEVICE_REMOVE = VFIO_BASE + VfioKind.DEVICE_REMOVE
    VFIO_FLAG_CHANGE = VFIO_BASE + VfioKind.FLAG_CHANGE
    VFIO_SRIOV_CONTROL = VFIO_BASE + VfioKind.SRIOV_CONTROL
    VFIO_OPEN = VFIO_BASE + VfioKind.VFIO_OPEN
    VFIO_CONFIG_READ = VFIO_BASE + VfioKind.CONFIG_READ
    VFIO_CONFIG_WRITE = VFIO_BASE + VfioKind.CONFIG_WRITE
    VFIO_BAR_RESTORE = VFIO_BASE + VfioKind.BAR_RESTORE
    VFIO_REGION_READ = VFIO_BASE + VfioKind.REGION_READ
    VFIO_REGION_WRITE = VFIO_BASE + VfioKind.REGION_WRITE
    VFIO_REGION_BLOCKED = VFIO_BASE + VfioKind.REGION_BLOCKED
    VFIO_MMAP_ZAP = VFIO_BASE + VfioKind.MMAP_ZAP
    VFIO_MMAP_REMAP = VFIO_BASE + VfioKind.MMAP_REMAP
    VFIO_MMAP_FAULT = VFIO_BASE + VfioKind.MMAP_FAULT
    VFIO_PHYS_CONFIG_WRITE = VFIO_BASE + VfioKind.PHYS_CONFIG_WRITE
    VFIO_ACTION = VFIO_BASE + VfioKind.ACTION

    @property
    def is_vfio(self) -> bool:
        return self >= VFIO_BASE

    @classmethod
    def from_vfio(cls, kind: VfioKind) -> EventKind:
        return cls(VFIO_BASE + kind)


class Flag(IntFlag):
    """Bits of the `flags` column."""

    WRITE = 1  # WRMSR, OUT, or a user answer to a WRMSR exit
    ALLOWED = 2  # the MSR filter let the access through
    EXITED = 4  # the access went to user space
    GP = 8  # #GP injected by the kernel
    ERROR = 16  # user space answered with kvm_run.msr.error != 0
    PASSTHROUGH = 32  # the intercept bitmap passes this MSR through: no VM exit at all


class MsrExitReason(IntFlag):
    """KVM_MSR_EXIT_REASON_* (include/uapi/linux/kvm.h): the `reason` column's bits."""

    INVAL = KVM_MSR_EXIT_REASON_INVAL
    UNKNOWN = KVM_MSR_EXIT_REASON_UNKNOWN
    FILTER = KVM_MSR_EXIT_REASON_FILTER


EXIT_KIND_OF_REASON: dict[int, EventKind] = {
    KVM_EXIT_X86_RDMSR: EventKind.MSR_EXIT,
    KVM_EXIT_X86_WRMSR: EventKind.MSR_EXIT,
    KVM_EXIT_IO: EventKind.IO_EXIT,
    KVM_EXIT_HLT: EventKind.HLT,
    KVM_EXIT_SHUTDOWN: EventKind.SHUTDOWN,
    KVM_EXIT_INTR: EventKind.INTR,
}

# Kinds counted as exits per vCPU (kvm_stat's "exits"): a return from KVM_RUN.
EXIT_KINDS = frozenset(
    {EventKind.MSR_EXIT, EventKind.IO_EXIT, EventKind.HLT, EventKind.SHUTDOWN,
     EventKind.INTR, EventKind.OTHER_EXIT}
)
# Kinds whose `msr` column holds an MSR index; an msr filter only matches these.
MSR_KINDS = frozenset(
    {EventKind.MSR_READ, EventKind.MSR_WRITE, EventKind.MSR_GP, EventKind.MSR_EXIT,
     EventKind.USER_ANSWER}
)
