"""The uapi structures must be byte-identical to the kernel's x86-64 ABI (spec §1)."""

import ctypes

import pytest

from workbench.kvm import uapi


@pytest.mark.parametrize(
    ("struct", "size"),
    [
        (uapi.kvm_msr_filter_range, 24),
        (uapi.kvm_msr_filter, 392),
        (uapi.kvm_enable_cap, 104),
        (uapi.kvm_run_msr, 24),
        (uapi.kvm_run_io, 16),
        (uapi.kvm_regs, 144),
        (uapi.kvm_sregs, 312),
        (uapi.kvm_segment, 24),
        (uapi.kvm_dtable, 16),
        (uapi.kvm_cpuid_entry2, 40),
        (uapi.kvm_cpuid2, 8),
        (uapi.kvm_userspace_memory_region, 32),
        (uapi.kvm_msr_entry, 16),
        (uapi.kvm_msrs, 8),
    ],
)
def test_structure_sizes(struct, size):
    assert ctypes.sizeof(struct) == size


@pytest.mark.parametrize(
    ("struct", "field", "offset"),
    [
        (uapi.kvm_msr_filter_range, "flags", 0),
        (uapi.kvm_msr_filter_range, "nmsrs", 4),
        (uapi.kvm_msr_filter_range, "base", 8),
        (uapi.kvm_msr_filter_range, "bitmap", 16),
        (uapi.kvm_msr_filter, "flags", 0),
        (uapi.kvm_msr_filter, "ranges", 8),
        (uapi.kvm_enable_cap, "cap", 0),
        (uapi.kvm_enable_cap, "flags", 4),
        (uapi.kvm_enable_cap, "args", 8),
        (uapi.kvm_enable_cap, "pad", 40),
        (uapi.kvm_run, "exit_reason", 8),
        (uapi.kvm_run, "exit", 32),
        (uapi.kvm_run_msr, "error", 0),
        (uapi.kvm_run_msr, "pad", 1),
        (uapi.kvm_run_msr, "reason", 8),
        (uapi.kvm_run_msr, "index", 12),
        (uapi.kvm_run_msr, "data", 16),
        (uapi.kvm_run_io, "direction", 0),
        (uapi.kvm_run_io, "size", 1),
        (uapi.kvm_run_io, "port", 2),
        (uapi.kvm_run_io, "count", 4),
        (uapi.kvm_run_io, "data_offset", 8),
        (uapi.kvm_sregs, "gdt", 192),
        (uapi.kvm_sregs, "cr0", 224),
        (uapi.kvm_sregs, "efer", 264),
        (uapi.kvm_sregs, "interrupt_bitmap", 280),
    ],
)
def test_field_offsets(struct, field, offset):
    assert getattr(struct, field).offset == offset


def test_kvm_run_union_members_start_at_32():
    assert uapi.kvm_run.exit.offset + uapi.kvm_run_exit.msr.offset == 32
    assert uapi.kvm_run.exit.offset + uapi.kvm_run_exit.io.offset == 32
    assert ctypes.sizeof(uapi.kvm_run_exit) == 256


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KVM_CAP_X86_USER_SPACE_MSR", 188),
        ("KVM_CAP_X86_MSR_FILTER", 189),
        ("KVM_EXIT_IO", 2),
        ("KVM_EXIT_HLT", 5),
        ("KVM_EXIT_SHUTDOWN", 8),
        ("KVM_EXIT_X86_RDMSR", 29),
        ("KVM_EXIT_X86_WRMSR", 30),
        ("KVM_MSR_EXIT_REASON_INVAL", 1),
        ("KVM_MSR_EXIT_REASON_UNKNOWN", 2),
        ("KVM_MSR_EXIT_REASON_FILTER", 4),
        ("KVM_MSR_FILTER_READ", 1),
        ("KVM_MSR_FILTER_WRITE", 2),
        ("KVM_MSR_FILTER_DEFAULT_ALLOW", 0),
        ("KVM_MSR_FILTER_DEFAULT_DENY", 1),
        ("KVM_MSR_FILTER_MAX_RANGES", 16),
        ("KVM_MSR_FILTER_MAX_BITMAP_SIZE", 0x600),
        ("KVM_ENABLE_CAP", 0x4068AEA3),
        ("KVM_X86_SET_MSR_FILTER", 0x4188AEC6),
        ("KVM_RUN", 0xAE80),
        ("KVM_CREATE_VM", 0xAE01),
        ("KVM_GET_SUPPORTED_CPUID", 0xC008AE05),
        ("KVM_SET_CPUID2", 0x4008AE90),
        ("KVM_GET_REGS", 0x8090AE81),
        ("KVM_SET_SREGS", 0x4138AE84),
        ("KVM_SET_USER_MEMORY_REGION", 0x4020AE46),
        ("KVM_GET_MSRS", 0xC008AE88),
    ],
)
def test_constants(name, value):
    assert getattr(uapi, name) == value
