"""KVM_GET_SREGS / KVM_SET_SREGS between `struct kvm_sregs` and the Sregs value.

The runtime's long mode itself is defined once, in workbench.kvm.guest.sregs; the host
engine loads it into the vCPU's reset sregs, and reads sregs back for the debugger views.
"""

from __future__ import annotations

import dataclasses

from workbench.kvm import uapi
from workbench.kvm.guest.sregs import runtime_sregs
from workbench.kvm.regs import SEGMENT_NAMES, DescriptorTable, Segment, Sregs

_SEGMENT_FIELDS = tuple(f.name for f in dataclasses.fields(Segment))


def long_mode(sregs: uapi.kvm_sregs) -> None:
    """Turn the vCPU's reset sregs (from KVM_GET_SREGS) into the runtime's long mode; the
    APIC base and EFER's other bits stay the kernel's, LME|LMA are set."""
    target = runtime_sregs()
    for name in SEGMENT_NAMES:
        raw, value = getattr(sregs, name), target.segment(name)
        for field in _SEGMENT_FIELDS:
            setattr(raw, field, getattr(value, field))
    for name in ("gdt", "idt"):
        table = getattr(target, name)
        getattr(sregs, name).base, getattr(sregs, name).limit = table.base, table.limit
    sregs.cr0, sregs.cr3, sregs.cr4 = target.cr0, target.cr3, target.cr4
    sregs.efer = target.efer


def from_kvm(raw: uapi.kvm_sregs) -> Sregs:
    """The value of a `struct kvm_sregs` the kernel filled."""
    segments = {name: Segment(**{f: getattr(getattr(raw, name), f) for f in _SEGMENT_FIELDS})
                for name in SEGMENT_NAMES}
    tables = {name: DescriptorTable(getattr(raw, name).base, getattr(raw, name).limit)
              for name in ("gdt", "idt")}
    control = {name: getattr(raw, name)
               for name in ("cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apic_base")}
    return Sregs(**segments, **tables, **control)
