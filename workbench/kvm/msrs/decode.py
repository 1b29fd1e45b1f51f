"""The fields of MSRs whose bits mean something a debugger should spell out: IA32_APIC_BASE,
EFER, IA32_PAT's memory types, IA32_MISC_ENABLE and IA32_SPEC_CTRL (arch/x86/include/asm/
msr-index.h, lapic.h; Intel SDM Vol. 4). Other MSRs have no decoder (None).
"""

from __future__ import annotations

from collections.abc import Callable

from workbench.kvm.decode import Bits, flag_names
from workbench.kvm.msrs import numbers as n

EFER_BITS: Bits = (
    (0, "SCE"), (8, "LME"), (10, "LMA"), (11, "NXE"), (12, "SVME"), (13, "LMSLE"),
    (14, "FFXSR"), (15, "TCE"), (21, "AUTOIBRS"),
)
MISC_ENABLE_BITS: Bits = (
    (0, "FAST_STRING"), (1, "TCC"), (2, "X87_COMPAT"), (3, "TM1"), (4, "SPLIT_LOCK_DISABLE"),
    (6, "L3CACHE_DISABLE"), (7, "EMON"), (8, "SUPPRESS_LOCK"), (9, "PREFETCH_DISABLE"),
    (10, "FERR"), (11, "BTS_UNAVAIL"), (12, "PEBS_UNAVAIL"), (13, "TM2"),
    (16, "ENHANCED_SPEEDSTEP"), (18, "MWAIT"), (19, "ADJ_PREF_DISABLE"),
    (20, "SPEEDSTEP_LOCK"), (22, "LIMIT_CPUID"), (23, "XTPR_DISABLE"), (24, "L1D_CONTEXT"),
    (34, "XD_DISABLE"), (37, "DCU_PREF_DISABLE"), (38, "TURBO_DISABLE"),
    (39, "IP_PREF_DISABLE"),
)
SPEC_CTRL_BITS: Bits = (
    (0, "IBRS"), (1, "STIBP"), (2, "SSBD"), (3, "IPRED_DIS_U"), (4, "IPRED_DIS_S"),
    (5, "RRSBA_DIS_U"), (6, "RRSBA_DIS_S"), (7, "PSFD"), (10, "BHI_DIS_S"),
)
# The PAT memory types (SDM Vol. 3, 12.12.2); 2 and 3 are reserved.
PAT_TYPES = {0: "UC", 1: "WC", 4: "WT", 5: "WP", 6: "WB", 7: "UC-"}


def _flags(bits: Bits) -> Callable[[int], str]:
    return lambda value: " ".join(flag_names(value, bits)) or "(none)"


def apic_base(value: int) -> str:
    enabled, extd = value & n.APICBASE_ENABLE, value & n.APICBASE_EXTD
    mode = ("x2APIC" if extd else "xAPIC") if enabled else "disabled"
    fields = [f"base={value & ~0xFFF:#x}", mode]
    if value & n.APICBASE_BSP:
        fields.append("BSP")
    return " ".join(fields)


def pat(value: int) -> str:
    entries = []
    for i in range(8):
        kind = value >> 8 * i & 0xFF
        entries.append(f"PA{i}={PAT_TYPES.get(kind, f'reserved({kind:#x})')}")
    return " ".join(entries)


DECODERS: dict[int, Callable[[int], str]] = {
    n.MSR_IA32_APICBASE: apic_base,
    n.MSR_EFER: _flags(EFER_BITS),
    n.MSR_IA32_CR_PAT: pat,
    n.MSR_IA32_MISC_ENABLE: _flags(MISC_ENABLE_BITS),
    n.MSR_IA32_SPEC_CTRL: _flags(SPEC_CTRL_BITS),
}


def decode_msr(index: int, value: int) -> str | None:
    """The MSR's fields as text, or None where the catalogue has no decoder for it."""
    decoder = DECODERS.get(index)
    return None if decoder is None else decoder(value)
