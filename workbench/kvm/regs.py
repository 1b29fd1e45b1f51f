"""`struct kvm_regs` as a value scripts can read by attribute or by name."""

from __future__ import annotations

from dataclasses import asdict, dataclass

REG_NAMES = (
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
    "rip", "rflags",
)


@dataclass(slots=True)
class Regs:
    rax: int = 0
    rbx: int = 0
    rcx: int = 0
    rdx: int = 0
    rsi: int = 0
    rdi: int = 0
    rsp: int = 0
    rbp: int = 0
    r8: int = 0
    r9: int = 0
    r10: int = 0
    r11: int = 0
    r12: int = 0
    r13: int = 0
    r14: int = 0
    r15: int = 0
    rip: int = 0
    rflags: int = 0

    def __getitem__(self, name: str) -> int:
        if name not in REG_NAMES:
            raise KeyError(name)
        return getattr(self, name)

    def __setitem__(self, name: str, value: int) -> None:
        if name not in REG_NAMES:
            raise KeyError(name)
        setattr(self, name, value)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, values: dict[str, int]) -> Regs:
        unknown = set(values) - set(REG_NAMES)
        if unknown:
            raise ValueError(f"unknown register(s): {', '.join(sorted(unknown))}")
        return cls(**values)



SEGMENT_NAMES = ("cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt")
CONTROL_NAMES = ("cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apic_base")


@dataclass(frozen=True, slots=True)
class Segment:
    """`struct kvm_segment`: a selector and the hidden part the CPU caches from the GDT."""

    base: int = 0
    limit: int = 0
    selector: int = 0
    type: int = 0
    present: int = 0
    dpl: int = 0
    db: int = 0
    s: int = 0
    l: int = 0  # noqa: E741 (the kernel's name)
    g: int = 0
    avl: int = 0
    unusable: int = 0


@dataclass(frozen=True, slots=True)
class DescriptorTable:
    """`struct kvm_dtable`: GDTR or IDTR."""

    base: int = 0
    limit: int = 0


@dataclass(frozen=True, slots=True)
class Sregs:
    """`struct kvm_sregs` (KVM_GET_SREGS) as a value; the interrupt bitmap is left out."""

    cs: Segment = Segment()
    ds: Segment = Segment()
    es: Segment = Segment()
    fs: Segment = Segment()
    gs: Segment = Segment()
    ss: Segment = Segment()
    tr: Segment = Segment()
    ldt: Segment = Segment()
    gdt: DescriptorTable = DescriptorTable()
    idt: DescriptorTable = DescriptorTable()
    cr0: int = 0
    cr2: int = 0
    cr3: int = 0
    cr4: int = 0
    cr8: int = 0
    efer: int = 0
    apic_base: int = 0

    def segment(self, name: str) -> Segment:
        if name not in SEGMENT_NAMES:
            raise KeyError(name)
        return getattr(self, name)

    def control(self) -> dict[str, int]:
        """CR0..CR8, EFER and APIC base by name."""
        return {name: getattr(self, name) for name in CONTROL_NAMES}
