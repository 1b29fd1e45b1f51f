"""Special registers for the runtime's 64-bit start: paging on, flat segments, our GDT/IDT.

The same state a VMM (or tools/testing/selftests/kvm/lib/x86/processor.c, vcpu_setup)
establishes before the first KVM_RUN; the descriptors it loads are the ones in
workbench.kvm.guest.image, so an iretq that reloads CS/SS from the GDT gets the same values.
"""

from __future__ import annotations

from workbench.kvm import uapi
from workbench.kvm.guest.image import (
    CODE_SELECTOR,
    DATA_SELECTOR,
    GDT_LIMIT,
    IDT_LIMIT,
    PML4_BASE,
    TSS_BASE,
    TSS_LIMIT,
    TSS_SELECTOR,
)
from workbench.kvm.guest.layout import GDT_BASE, IDT_BASE

CR0_PE, CR0_MP, CR0_ET, CR0_NE, CR0_WP, CR0_PG = 1, 1 << 1, 1 << 4, 1 << 5, 1 << 16, 1 << 31
CR4_PAE, CR4_OSFXSR, CR4_OSXMMEXCPT = 1 << 5, 1 << 9, 1 << 10
EFER_LME, EFER_LMA = 1 << 8, 1 << 10

_SEGMENT_TYPE_CODE = 0xB  # execute/read, accessed
_SEGMENT_TYPE_DATA = 0x3  # read/write, accessed
_SEGMENT_TYPE_TSS = 0xB   # busy 64-bit TSS
_SEGMENT_TYPE_LDT = 0x2


def _flat(segment: uapi.kvm_segment, selector: int, kind: int, code: bool) -> None:
    segment.base, segment.limit, segment.selector = 0, 0xFFFFFFFF, selector
    segment.type, segment.present, segment.dpl, segment.s, segment.g = kind, 1, 0, 1, 1
    segment.l, segment.db = (1, 0) if code else (0, 1)
    segment.avl = segment.unusable = 0


def long_mode(sregs: uapi.kvm_sregs) -> None:
    """Turn the vCPU's reset sregs (from KVM_GET_SREGS) into the runtime's long mode."""
    sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG
    sregs.cr3 = PML4_BASE
    sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT
    sregs.efer = EFER_LME | EFER_LMA
    _flat(sregs.cs, CODE_SELECTOR, _SEGMENT_TYPE_CODE, code=True)
    for segment in (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss):
        _flat(segment, DATA_SELECTOR, _SEGMENT_TYPE_DATA, code=False)
    tr = sregs.tr
    tr.base, tr.limit, tr.selector, tr.type = TSS_BASE, TSS_LIMIT, TSS_SELECTOR, _SEGMENT_TYPE_TSS
    tr.present, tr.dpl, tr.s, tr.l, tr.db, tr.g, tr.avl, tr.unusable = 1, 0, 0, 0, 0, 0, 0, 0
    ldt = sregs.ldt
    ldt.base, ldt.limit, ldt.selector, ldt.type = 0, 0xFFFF, 0, _SEGMENT_TYPE_LDT
    ldt.present, ldt.s, ldt.unusable = 0, 0, 1
    sregs.gdt.base, sregs.gdt.limit = GDT_BASE, GDT_LIMIT
    sregs.idt.base, sregs.idt.limit = IDT_BASE, IDT_LIMIT
