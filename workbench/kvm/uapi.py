"""The slice of <linux/kvm.h> the workbench uses, byte-identical to the x86-64 kernel ABI.

Values and layouts follow include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h;
tests assert every size and offset, because the host engine hands these structures to
the real kernel and the sim hands their bytes to users.
"""

from __future__ import annotations

import ctypes

# --- ioctl number encoding (include/uapi/asm-generic/ioctl.h) -------------------------
_IOC_NONE, _IOC_WRITE, _IOC_READ = 0, 1, 2
KVMIO = 0xAE


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (KVMIO << 8) | nr


def _io(nr: int) -> int:
    return _ioc(_IOC_NONE, nr, 0)


def _iow(nr: int, struct: type[ctypes.Structure]) -> int:
    return _ioc(_IOC_WRITE, nr, ctypes.sizeof(struct))


def _ior(nr: int, struct: type[ctypes.Structure]) -> int:
    return _ioc(_IOC_READ, nr, ctypes.sizeof(struct))


def _iowr(nr: int, struct: type[ctypes.Structure]) -> int:
    return _ioc(_IOC_READ | _IOC_WRITE, nr, ctypes.sizeof(struct))


# --- capabilities ----------------------------------------------------------------------
KVM_API_VERSION = 12
KVM_CAP_IRQCHIP = 0
KVM_CAP_EXT_CPUID = 7
KVM_CAP_GET_TSC_KHZ = 61
KVM_CAP_X86_USER_SPACE_MSR = 188
KVM_CAP_X86_MSR_FILTER = 189

# --- exit reasons ------------------------------------------------------------------------
KVM_EXIT_UNKNOWN = 0
KVM_EXIT_EXCEPTION = 1
KVM_EXIT_IO = 2
KVM_EXIT_HYPERCALL = 3
KVM_EXIT_DEBUG = 4
KVM_EXIT_HLT = 5
KVM_EXIT_MMIO = 6
KVM_EXIT_IRQ_WINDOW_OPEN = 7
KVM_EXIT_SHUTDOWN = 8
KVM_EXIT_FAIL_ENTRY = 9
KVM_EXIT_INTR = 10
KVM_EXIT_INTERNAL_ERROR = 17
KVM_EXIT_X86_RDMSR = 29
KVM_EXIT_X86_WRMSR = 30

EXIT_REASON_NAMES = {
    value: name
    for name, value in dict(globals()).items()
    if name.startswith("KVM_EXIT_") and isinstance(value, int)
}

KVM_EXIT_IO_IN = 0
KVM_EXIT_IO_OUT = 1

# --- MSR exits and filtering ---------------------------------------------------------------
KVM_MSR_EXIT_REASON_INVAL = 1 << 0
KVM_MSR_EXIT_REASON_UNKNOWN = 1 << 1
KVM_MSR_EXIT_REASON_FILTER = 1 << 2
KVM_MSR_EXIT_REASON_VALID_MASK = (
    KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_FILTER
)
MSR_EXIT_REASON_NAMES = {
    KVM_MSR_EXIT_REASON_INVAL: "INVAL",
    KVM_MSR_EXIT_REASON_UNKNOWN: "UNKNOWN",
    KVM_MSR_EXIT_REASON_FILTER: "FILTER",
}

KVM_MSR_FILTER_READ = 1 << 0
KVM_MSR_FILTER_WRITE = 1 << 1
KVM_MSR_FILTER_RANGE_VALID_MASK = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE
KVM_MSR_FILTER_DEFAULT_ALLOW = 0
KVM_MSR_FILTER_DEFAULT_DENY = 1 << 0
KVM_MSR_FILTER_VALID_MASK = KVM_MSR_FILTER_DEFAULT_DENY
KVM_MSR_FILTER_MAX_RANGES = 16
KVM_MSR_FILTER_MAX_BITMAP_SIZE = 0x600


# --- structures ------------------------------------------------------------------------------
class kvm_msr_filter_range(ctypes.Structure):  # noqa: N801 - kernel name
    _fields_ = [
        ("flags", ctypes.c_uint32),
        ("nmsrs", ctypes.c_uint32),
        ("base", ctypes.c_uint32),
        ("bitmap", ctypes.c_void_p),  # u8 *; the compiler pads 4 bytes before it
    ]


class kvm_msr_filter(ctypes.Structure):  # noqa: N801
    _fields_ = [
        ("flags", ctypes.c_uint32),
        ("ranges", kvm_msr_filter_range * KVM_MSR_FILTER_MAX_RANGES),
    ]


class kvm_enable_cap(ctypes.Structure):  # noqa: N801
    _fields_ = [
        ("cap", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("args", ctypes.c_uint64 * 4),
        ("pad", ctypes.c_uint8 * 64),
    ]


class kvm_run_msr(ctypes.Structure):  # noqa: N801 - the `msr` member of kvm_run's union
    _fields_ = [
        ("error", ctypes.c_uint8),
        ("pad", ctypes.c_uint8 * 7),
        ("reason", ctypes.c_uint32),
        ("index", ctypes.c_uint32),
        ("data", ctypes.c_uint64),
    ]


class kvm_run_io(ctypes.Structure):  # noqa: N801 - the `io` member of kvm_run's union
    _fields_ = [
        ("direction", ctypes.c_uint8),
        ("size", ctypes.c_uint8),
        ("port", ctypes.c_uint16),
        ("count", ctypes.c_uint32),
        ("data_offset", ctypes.c_uint64),
    ]


class kvm_run_exit(ctypes.Union):  # noqa: N801 - the 256-byte exit union
    _fields_ = [
        ("io", kvm_run_io),
        ("msr", kvm_run_msr),
        ("padding", ctypes.c_char * 256),
    ]


class kvm_run(ctypes.Structure):  # noqa: N801 - the fixed head of the mmap'ed kvm_run
    _fields_ = [
        ("request_interrupt_window", ctypes.c_uint8),
        ("immediate_exit", ctypes.c_uint8),
        ("padding1", ctypes.c_uint8 * 6),
        ("exit_reason", ctypes.c_uint32),
        ("ready_for_interrupt_injection", ctypes.c_uint8),
        ("if_flag", ctypes.c_uint8),
        ("flags", ctypes.c_uint16),
        ("cr8", ctypes.c_uint64),
        ("apic_base", ctypes.c_uint64),
        ("exit", kvm_run_exit),
        ("kvm_valid_regs", ctypes.c_uint64),
        ("kvm_dirty_regs", ctypes.c_uint64),
    ]


class kvm_regs(ctypes.Structure):  # noqa: N801
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
            "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
            "rip", "rflags",
        )
    ]


class kvm_segment(ctypes.Structure):  # noqa: N801
    _fields_ = [
        ("base", ctypes.c_uint64),
        ("limit", ctypes.c_uint32),
        ("selector", ctypes.c_uint16),
        ("type", ctypes.c_uint8),
        ("present", ctypes.c_uint8),
        ("dpl", ctypes.c_uint8),
        ("db", ctypes.c_uint8),
        ("s", ctypes.c_uint8),
        ("l", ctypes.c_uint8),
        ("g", ctypes.c_uint8),
        ("avl", ctypes.c_uint8),
        ("unusable", ctypes.c_uint8),
        ("padding", ctypes.c_uint8),
    ]


class kvm_dtable(ctypes.Structure):  # noqa: N801
    _fields_ = [
        ("base", ctypes.c_uint64),
        ("limit", ctypes.c_uint16),
        ("padding", ctypes.c_uint16 * 3),
    ]


class kvm_sregs(ctypes.Structure):  # noqa: N801
    _fields_ = [
        *[(seg, kvm_segment) for seg in ("cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt")],
        ("gdt", kvm_dtable),
        ("idt", kvm_dtable),
        *[(reg, ctypes.c_uint64) for reg in ("cr0", "cr2", "cr3", "cr4", "cr8", "efer")],
        ("apic_base", ctypes.c_uint64),
        ("interrupt_bitmap", ctypes.c_uint64 * 4),
    ]


class kvm_cpuid_entry2(ctypes.Structure):  # noqa: N801
    _fields_ = [
        ("function", ctypes.c_uint32),
        ("index", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("eax", ctypes.c_uint32),
        ("ebx", ctypes.c_uint32),
        ("ecx", ctypes.c_uint32),
        ("edx", ctypes.c_uint32),
        ("padding", ctypes.c_uint32 * 3),
    ]


class kvm_cpuid2(ctypes.Structure):  # noqa: N801 - header; entries follow in the buffer
    _fields_ = [("nent", ctypes.c_uint32), ("padding", ctypes.c_uint32)]


class kvm_userspace_memory_region(ctypes.Structure):  # noqa: N801
    _fields_ = [
        ("slot", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("guest_phys_addr", ctypes.c_uint64),
        ("memory_size", ctypes.c_uint64),
        ("userspace_addr", ctypes.c_uint64),
    ]


class kvm_msr_entry(ctypes.Structure):  # noqa: N801
    _fields_ = [
        ("index", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("data", ctypes.c_uint64),
    ]


class kvm_msrs(ctypes.Structure):  # noqa: N801 - header; entries follow in the buffer
    _fields_ = [("nmsrs", ctypes.c_uint32), ("pad", ctypes.c_uint32)]


KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1 << 0

# Offset of the exit union inside kvm_run, used when the union is read from raw bytes.
KVM_RUN_EXIT_OFFSET = kvm_run.exit.offset

# --- ioctl numbers ----------------------------------------------------------------------------
KVM_GET_API_VERSION = _io(0x00)
KVM_CREATE_VM = _io(0x01)
KVM_CHECK_EXTENSION = _io(0x03)
KVM_GET_VCPU_MMAP_SIZE = _io(0x04)
KVM_GET_SUPPORTED_CPUID = _iowr(0x05, kvm_cpuid2)
KVM_CREATE_VCPU = _io(0x41)
KVM_SET_USER_MEMORY_REGION = _iow(0x46, kvm_userspace_memory_region)
KVM_CREATE_IRQCHIP = _io(0x60)
KVM_RUN = _io(0x80)
KVM_SET_TSC_KHZ = _io(0xA2)
KVM_GET_TSC_KHZ = _io(0xA3)
KVM_GET_REGS = _ior(0x81, kvm_regs)
KVM_SET_REGS = _iow(0x82, kvm_regs)
KVM_GET_SREGS = _ior(0x83, kvm_sregs)
KVM_SET_SREGS = _iow(0x84, kvm_sregs)
KVM_GET_MSRS = _iowr(0x88, kvm_msrs)
KVM_SET_MSRS = _iow(0x89, kvm_msrs)
KVM_SET_CPUID2 = _iow(0x90, kvm_cpuid2)
KVM_ENABLE_CAP = _iow(0xA3, kvm_enable_cap)
KVM_X86_SET_MSR_FILTER = _iow(0xC6, kvm_msr_filter)
