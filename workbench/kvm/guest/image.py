"""The guest runtime's RAM image: page tables, GDT, TSS, IDT, the #GP handler and the program.

Both engines load exactly these bytes, so a program sees identical memory on either. The
CPU state that points into them (CR3, GDTR, IDTR, TR, segments) is set by the host engine
(workbench.kvm.guest.sregs) from the constants here.

Only GUEST_MEM_SIZE is mapped (2 MiB pages), so any access beyond it page-faults; only
vector 13 has an IDT gate, so every other exception escalates to a triple fault
(KVM_EXIT_SHUTDOWN), which is what the sim reports for an unhandled exception.
"""

from __future__ import annotations

import struct

from workbench.kvm.guest.assembler import Program
from workbench.kvm.guest.layout import (
    GDT_BASE,
    GP_HANDLER_BASE,
    GP_VECTOR,
    GUEST_MEM_SIZE,
    IDT_BASE,
    PAGE_TABLE_BASE,
)

PAGE_SIZE = 0x1000
LARGE_PAGE_SIZE = 0x200000
PML4_BASE = PAGE_TABLE_BASE
PDPT_BASE = PAGE_TABLE_BASE + PAGE_SIZE
PD_BASE = PAGE_TABLE_BASE + 2 * PAGE_SIZE
TSS_BASE = 0x4000
TSS_LIMIT = 0x67  # a 64-bit TSS is 104 bytes; all zero: no IST stacks, no I/O bitmap

_PTE_PRESENT, _PTE_WRITE, _PTE_LARGE = 1 << 0, 1 << 1, 1 << 7

# Selectors of the flat GDT below.
CODE_SELECTOR = 0x08
DATA_SELECTOR = 0x10
TSS_SELECTOR = 0x18

# Descriptors (Intel SDM Vol. 3, 3.4.5): base 0, limit 0xFFFFF with G=1.
_CODE64 = 0x00AF_9B00_0000_FFFF  # P, DPL 0, code execute/read accessed, L=1
_DATA = 0x00CF_9300_0000_FFFF    # P, DPL 0, data read/write accessed, D/B=1
_TSS_ACCESS = 0x8B               # P, DPL 0, busy 64-bit TSS (VM entry requires busy)

IDT_ENTRIES = 256
IDT_LIMIT = IDT_ENTRIES * 16 - 1
_INTERRUPT_GATE = 0x8E           # P, DPL 0, 64-bit interrupt gate

# The #GP handler, hand-encoded so the image (and replay) never needs an assembler;
# tests assemble GP_HANDLER_SOURCE and compare. The frame on entry is error code, RIP, CS,
# RFLAGS, RSP, SS; iretq restores RFLAGS, so only RAX needs saving.
GP_HANDLER_SOURCE = """\
    add rsp, 8
    push rax
    mov rax, [rsp + 8]
    cmp word ptr [rax], 0x320f
    je 1f
    cmp word ptr [rax], 0x300f
    jne 2f
1:  add qword ptr [rsp + 8], 2
    pop rax
    inc r14
    mov r15d, 13
    iretq
2:  ud2
"""
GP_HANDLER_CODE = bytes.fromhex(
    "4883c408"        # add rsp, 8            drop the error code
    "50"              # push rax              the only scratch register
    "488b442408"      # mov rax, [rsp+8]      the faulting RIP
    "6681380f32"      # cmp word [rax], 0x320f   rdmsr (0F 32)?
    "7407"            # je 1f
    "6681380f30"      # cmp word [rax], 0x300f   wrmsr (0F 30)?
    "7512"            # jne 2f
    "4883442408" "02"  # 1: add qword [rsp+8], 2   resume after the 2-byte instruction
    "58"              # pop rax
    "49ffc6"          # inc r14               the #GP count
    "41bf0d000000"    # mov r15d, 13          the vector
    "48cf"            # iretq
    "0f0b"            # 2: ud2                #UD has no gate: #NP, #DF, triple fault
)


def _page_tables() -> list[tuple[int, bytes]]:
    """PML4 -> PDPT -> PD identity-mapping [0, GUEST_MEM_SIZE) with 2 MiB pages."""
    table = _PTE_PRESENT | _PTE_WRITE
    pd = b"".join(
        struct.pack("<Q", address | table | _PTE_LARGE)
        for address in range(0, GUEST_MEM_SIZE, LARGE_PAGE_SIZE)
    )
    return [
        (PML4_BASE, struct.pack("<Q", PDPT_BASE | table)),
        (PDPT_BASE, struct.pack("<Q", PD_BASE | table)),
        (PD_BASE, pd),
    ]


def _tss_descriptor() -> bytes:
    """The 16-byte system descriptor of the 64-bit TSS at TSS_BASE."""
    low = (
        (TSS_LIMIT & 0xFFFF)
        | (TSS_BASE & 0xFFFFFF) << 16
        | _TSS_ACCESS << 40
        | (TSS_LIMIT >> 16 & 0xF) << 48
        | (TSS_BASE >> 24 & 0xFF) << 56
    )
    return struct.pack("<QQ", low, TSS_BASE >> 32)


GDT = struct.pack("<QQQ", 0, _CODE64, _DATA) + _tss_descriptor()
GDT_LIMIT = len(GDT) - 1


def _idt() -> bytes:
    """256 gates, all not present except #GP -> GP_HANDLER_BASE."""
    gate = struct.pack(
        "<HHBBHII",
        GP_HANDLER_BASE & 0xFFFF, CODE_SELECTOR, 0, _INTERRUPT_GATE,
        GP_HANDLER_BASE >> 16 & 0xFFFF, GP_HANDLER_BASE >> 32, 0,
    )
    return bytes(16 * GP_VECTOR) + gate + bytes(16 * (IDT_ENTRIES - GP_VECTOR - 1))


_RUNTIME: tuple[tuple[int, bytes], ...] = (
    *_page_tables(),
    (TSS_BASE, bytes(TSS_LIMIT + 1)),
    (GDT_BASE, GDT),
    (IDT_BASE, _idt()),
    (GP_HANDLER_BASE, GP_HANDLER_CODE),
)


def guest_image(program: Program) -> list[tuple[int, bytes]]:
    """(guest physical address, bytes) to load into zeroed RAM before the first run."""
    return [*_RUNTIME, (program.base, program.code)]
