"""Register bits by name (Intel SDM Vol. 3, 2.3 and 2.5; arch/x86/include/asm/processor-flags.h):
RFLAGS, CR0, CR4 and a segment's hidden attributes, as short text for debugger views.
"""

from __future__ import annotations

from workbench.kvm.regs import Segment

Bits = tuple[tuple[int, str], ...]

RFLAGS_BITS: Bits = (
    (0, "CF"), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"), (9, "IF"), (10, "DF"),
    (11, "OF"), (14, "NT"), (16, "RF"), (17, "VM"), (18, "AC"), (19, "VIF"), (20, "VIP"),
    (21, "ID"),
)
CR0_BITS: Bits = (
    (0, "PE"), (1, "MP"), (2, "EM"), (3, "TS"), (4, "ET"), (5, "NE"), (16, "WP"), (18, "AM"),
    (29, "NW"), (30, "CD"), (31, "PG"),
)
CR4_BITS: Bits = (
    (0, "VME"), (1, "PVI"), (2, "TSD"), (3, "DE"), (4, "PSE"), (5, "PAE"), (6, "MCE"),
    (7, "PGE"), (8, "PCE"), (9, "OSFXSR"), (10, "OSXMMEXCPT"), (11, "UMIP"), (12, "LA57"),
    (13, "VMXE"), (14, "SMXE"), (16, "FSGSBASE"), (17, "PCIDE"), (18, "OSXSAVE"),
    (20, "SMEP"), (21, "SMAP"), (22, "PKE"), (23, "CET"), (24, "PKS"),
)


def flag_names(value: int, bits: Bits) -> list[str]:
    """The names of the set bits, low to high; an unnamed set bit as "bitN"."""
    named = {bit for bit, _ in bits}
    out = [name for bit, name in bits if value >> bit & 1]
    extra = [f"bit{bit}" for bit in range(64) if value >> bit & 1 and bit not in named]
    return out + extra


def rflags(value: int) -> str:
    names = flag_names(value & ~(1 << 1 | 3 << 12), RFLAGS_BITS)  # bit 1 is always one
    return " ".join([*names, f"IOPL={value >> 12 & 3}"])


def cr0(value: int) -> str:
    return " ".join(flag_names(value, CR0_BITS))


def cr4(value: int) -> str:
    return " ".join(flag_names(value, CR4_BITS))


def segment(seg: Segment) -> str:
    """The hidden part of a segment register: type, privilege and the size bits."""
    kind = ("code" if seg.type & 8 else "data") if seg.s else "system"
    flags = [name for name, on in (("P", seg.present), ("L", seg.l), ("D/B", seg.db),
                                   ("G", seg.g), ("AVL", seg.avl), ("unusable", seg.unusable))
             if on]
    return " ".join([f"type={seg.type:#x} {kind}", f"DPL={seg.dpl}", *flags])
