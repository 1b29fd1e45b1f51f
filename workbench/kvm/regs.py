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

