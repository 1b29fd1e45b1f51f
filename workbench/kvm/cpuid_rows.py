"""CPUID rows as both engines take them: six u32 each, as struct kvm_cpuid_entry2 holds
them, so that a value the kernel's struct cannot carry is refused, not truncated."""

from __future__ import annotations

import operator
from collections.abc import Iterable

from workbench.values import U32_MAX

_FIELDS = ("function", "index", "eax", "ebx", "ecx", "edx")
CpuidRow = tuple[int, int, int, int, int, int]


def checked_rows(rows: Iterable[object]) -> list[CpuidRow]:
    """CPUID rows as (function, index, eax, ebx, ecx, edx) tuples of u32, as the kernel's
    struct kvm_cpuid_entry2 holds them: anything else is a ValueError naming the entry and
    register, never silently truncated (both engines take their rows through here)."""
    checked = []
    for position, row in enumerate(rows):
        if isinstance(row, str | bytes) or not isinstance(row, Iterable):
            raise ValueError(f"cpuid[{position}]: expected (function, index, eax, ebx, ecx, "
                             f"edx), got {type(row).__name__}")
        values = tuple(row)
        if len(values) != len(_FIELDS):
            raise ValueError(f"cpuid[{position}]: {values!r} is not (function, index, eax, "
                             "ebx, ecx, edx)")
        numbers = []
        for name, value in zip(_FIELDS, values, strict=True):
            try:
                number = operator.index(value)
            except TypeError:
                raise ValueError(f"cpuid[{position}].{name}: expected an integer, got "
                                 f"{type(value).__name__}") from None
            if isinstance(value, bool) or not 0 <= number <= U32_MAX:
                raise ValueError(f"cpuid[{position}].{name}: {number:#x} is not a 32-bit "
                                 "unsigned value")
            numbers.append(number)
        checked.append(tuple(numbers))
    return checked
