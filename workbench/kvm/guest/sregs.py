"""The special registers of the runtime's 64-bit start: paging on, flat segments, our GDT/IDT.

The same state a VMM (or tools/testing/selftests/kvm/lib/x86/processor.c, vcpu_setup)
establishes before the first KVM_RUN. The host engine loads it with KVM_SET_SREGS
(workbench.hostkvm.sregs); the sim, whose Unicorn maps RAM flat and never walks these
tables, reports it from get_sregs() with the parts the guest can change filled in live.
"""

from __future__ import annotations

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
from workbench.kvm.regs import DescriptorTable, Segment, Sregs

CR0_PE, CR0_MP, CR0_ET, CR0_NE, CR0_WP, CR0_PG = 1, 1 << 1, 1 << 4, 1 << 5, 1 << 16, 1 << 31
CR4_PAE, CR4_OSFXSR, CR4_OSXMMEXCPT = 1 << 5, 1 << 9, 1 << 10
EFER_LME, EFER_LMA = 1 << 8, 1 << 10

_TYPE_CODE = 0xB  # execute/read, accessed
_TYPE_DATA = 0x3  # read/write, accessed
_TYPE_TSS = 0xB   # busy 64-bit TSS
_TYPE_LDT = 0x2

_CODE = Segment(base=0, limit=0xFFFFFFFF, selector=CODE_SELECTOR, type=_TYPE_CODE, present=1,
                dpl=0, db=0, s=1, l=1, g=1)
_DATA = Segment(base=0, limit=0xFFFFFFFF, selector=DATA_SELECTOR, type=_TYPE_DATA, present=1,
                dpl=0, db=1, s=1, l=0, g=1)


def runtime_sregs() -> Sregs:
    """The runtime's long mode; EFER and APIC base as KVM resets them for the BSP's
    user space to overwrite (the sim fills both from its MSR file)."""
    return Sregs(
        cs=_CODE, ds=_DATA, es=_DATA, fs=_DATA, gs=_DATA, ss=_DATA,
        tr=Segment(base=TSS_BASE, limit=TSS_LIMIT, selector=TSS_SELECTOR, type=_TYPE_TSS,
                   present=1),
        ldt=Segment(base=0, limit=0xFFFF, selector=0, type=_TYPE_LDT, unusable=1),
        gdt=DescriptorTable(GDT_BASE, GDT_LIMIT),
        idt=DescriptorTable(IDT_BASE, IDT_LIMIT),
        cr0=CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG,
        cr3=PML4_BASE,
        cr4=CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT,
        efer=EFER_LME | EFER_LMA,
    )
