"""Guest CPUID: the entries a VM was given, and the feature questions KVM asks about them.

KVM decides many MSR outcomes from the guest's CPUID (arch/x86/kvm/cpuid.h:
guest_cpuid_has / guest_cpu_cap_has, guest_pv_has), so both engines answer those questions
from the same entries. `default_cpuid` is the sim's fixed CPU model, shaped like the output
of KVM_GET_SUPPORTED_CPUID on a modern server with nested virtualization enabled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from workbench.kvm.cpuid_rows import checked_rows

# Leaves whose subleaf (ECX input) selects a different entry; KVM marks these with
# KVM_CPUID_FLAG_SIGNIFCANT_INDEX (arch/x86/kvm/cpuid.c, __do_cpuid_func).
INDEXED_LEAVES = frozenset(
    {0x4, 0x7, 0xB, 0xD, 0xF, 0x10, 0x12, 0x14, 0x17, 0x18, 0x1D, 0x1E, 0x1F, 0x20, 0x23,
     0x24, 0x8000001D, 0x80000020, 0x80000026}
)

KVM_CPUID_SIGNATURE = 0x40000000
KVM_SIGNATURE = b"KVMKVMKVM\0\0\0"


@dataclass(frozen=True)
class CpuidEntry:
    function: int
    index: int
    eax: int
    ebx: int
    ecx: int
    edx: int

    def reg(self, name: str) -> int:
        return getattr(self, name)

    def to_tuple(self) -> tuple[int, int, int, int, int, int]:
        return (self.function, self.index, self.eax, self.ebx, self.ecx, self.edx)


# name -> (leaf, subleaf, register, bit); the X86_FEATURE_* words of
# arch/x86/include/asm/cpufeatures.h and arch/x86/kvm/reverse_cpuid.h.
_FEATURES: dict[str, tuple[int, int, str, int]] = {
    "sse3": (1, 0, "ecx", 0),
    "vmx": (1, 0, "ecx", 5),
    "pdcm": (1, 0, "ecx", 15),
    "x2apic": (1, 0, "ecx", 21),
    "tsc_deadline_timer": (1, 0, "ecx", 24),
    "xsave": (1, 0, "ecx", 26),
    "hypervisor": (1, 0, "ecx", 31),
    "tsc": (1, 0, "edx", 4),
    "msr": (1, 0, "edx", 5),
    "mce": (1, 0, "edx", 7),
    "apic": (1, 0, "edx", 9),
    "sep": (1, 0, "edx", 11),
    "mtrr": (1, 0, "edx", 12),
    "mca": (1, 0, "edx", 14),
    "pat": (1, 0, "edx", 16),
    "tsc_adjust": (7, 0, "ebx", 1),
    "hle": (7, 0, "ebx", 4),
    "rtm": (7, 0, "ebx", 11),
    "shstk": (7, 0, "ecx", 7),
    "la57": (7, 0, "ecx", 16),
    "rdpid": (7, 0, "ecx", 22),
    "bus_lock_detect": (7, 0, "ecx", 24),
    "ibt": (7, 0, "edx", 20),
    "intel_spec_ctrl": (7, 0, "edx", 26),
    "intel_stibp": (7, 0, "edx", 27),
    "flush_l1d": (7, 0, "edx", 28),
    "arch_capabilities": (7, 0, "edx", 29),
    "spec_ctrl_ssbd": (7, 0, "edx", 31),
    "xsaves": (0xD, 1, "eax", 3),
    "xfd": (0xD, 1, "eax", 4),
    "svm": (0x80000001, 0, "ecx", 2),
    "osvw": (0x80000001, 0, "ecx", 9),
    "perfctr_core": (0x80000001, 0, "ecx", 23),
    "syscall": (0x80000001, 0, "edx", 11),
    "nx": (0x80000001, 0, "edx", 20),
    "fxsr_opt": (0x80000001, 0, "edx", 25),
    "rdtscp": (0x80000001, 0, "edx", 27),
    "lm": (0x80000001, 0, "edx", 29),
    "amd_ibpb": (0x80000008, 0, "ebx", 12),
    "amd_ibrs": (0x80000008, 0, "ebx", 14),
    "amd_stibp": (0x80000008, 0, "ebx", 15),
    "amd_ssbd": (0x80000008, 0, "ebx", 24),
    "virt_ssbd": (0x80000008, 0, "ebx", 25),
    "autoibrs": (0x80000021, 0, "eax", 8),
    "sbpb": (0x80000021, 0, "eax", 27),
}

# KVM_FEATURE_* bits of the KVM leaf base + 1, EAX (arch/x86/include/uapi/asm/kvm_para.h).
_PV_FEATURES: dict[str, int] = {
    "kvm_pv_clocksource": 0,
    "kvm_pv_nop_io_delay": 1,
    "kvm_pv_clocksource2": 3,
    "kvm_pv_async_pf": 4,
    "kvm_pv_steal_time": 5,
    "kvm_pv_eoi": 6,
    "kvm_pv_unhalt": 7,
    "kvm_pv_tlb_flush": 9,
    "kvm_pv_async_pf_vmexit": 10,
    "kvm_pv_send_ipi": 11,
    "kvm_pv_poll_control": 12,
    "kvm_pv_sched_yield": 13,
    "kvm_pv_async_pf_int": 14,
    "kvm_pv_msi_ext_dest_id": 15,
    "kvm_pv_hc_map_gpa_range": 16,
    "kvm_pv_migration_control": 17,
    "kvm_pv_clocksource_stable": 24,
}

# Composite questions KVM asks (arch/x86/kvm/cpuid.h): any one of the bits suffices.
_ANY_OF: dict[str, tuple[str, ...]] = {
    # guest_has_spec_ctrl_msr()
    "spec_ctrl": ("intel_spec_ctrl", "amd_stibp", "amd_ibrs", "amd_ssbd"),
    # guest_has_pred_cmd_msr()
    "ibpb": ("intel_spec_ctrl", "amd_ibpb"),
}

FEATURES: frozenset[str] = frozenset(_FEATURES) | frozenset(_PV_FEATURES) | frozenset(_ANY_OF)


def feature_bit(feature: str) -> tuple[int, int, str, int]:
    """(leaf, subleaf, register, bit) of a feature read from a standard CPUID leaf."""
    try:
        return _FEATURES[feature]
    except KeyError:
        raise ValueError(f"unknown CPUID feature {feature!r}") from None

_VENDORS = {
    b"GenuineIntel": "intel",
    b"AuthenticAMD": "amd",
    b"HygonGenuine": "hygon",
    b"CentaurHauls": "centaur",
    b"  Shanghai  ": "zhaoxin",
}


def _words(text: bytes) -> tuple[int, int, int]:
    """A 12-byte signature as three little-endian register words, in text order."""
    return (
        int.from_bytes(text[0:4], "little"),
        int.from_bytes(text[4:8], "little"),
        int.from_bytes(text[8:12], "little"),
    )


def _key(function: int, index: int) -> tuple[int, int]:
    return (function, index if function in INDEXED_LEAVES else 0)


class Cpuid:
    """An immutable set of CPUID entries, looked up the way KVM's kvm_find_cpuid_entry2 does."""

    __slots__ = ("_entries", "_by_key", "_pv_base")

    def __init__(self, entries: Iterable[CpuidEntry | tuple[int, ...]] = ()) -> None:
        rows = tuple(CpuidEntry(*row) for row in checked_rows(
            e.to_tuple() if isinstance(e, CpuidEntry) else e for e in entries))
        self._entries = rows
        self._by_key: dict[tuple[int, int], CpuidEntry] = {}
        for e in rows:
            self._by_key.setdefault(_key(e.function, e.index), e)
        self._pv_base = self._find_kvm_base()

    @classmethod
    def from_tuples(cls, rows: Iterable[tuple[int, ...]]) -> Cpuid:
        return cls(rows)

    def to_tuples(self) -> list[tuple[int, int, int, int, int, int]]:
        return [e.to_tuple() for e in self._entries]

    @property
    def entries(self) -> tuple[CpuidEntry, ...]:
        return self._entries

    def get(self, function: int, index: int = 0) -> CpuidEntry | None:
        return self._by_key.get(_key(function, index))

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cpuid) and self._entries == other._entries

    def __hash__(self) -> int:
        return hash(self._entries)

    def __repr__(self) -> str:
        return f"Cpuid({self.vendor}, {len(self._entries)} entries)"

    @property
    def vendor(self) -> str:
        leaf0 = self.get(0)
        if leaf0 is None:
            return "unknown"
        sig = b"".join(r.to_bytes(4, "little") for r in (leaf0.ebx, leaf0.edx, leaf0.ecx))
        return _VENDORS.get(sig, "unknown")

    @property
    def is_amd_compatible(self) -> bool:
        """guest_cpuid_is_amd_compatible(): AMD or Hygon signature in leaf 0."""
        return self.vendor in ("amd", "hygon")

    @property
    def is_intel_compatible(self) -> bool:
        """guest_cpuid_is_intel_compatible() as svm/svm.c uses it: anything not AMD-compatible.

        An unknown signature therefore counts as Intel-compatible (kernel 6.x cpuid.h).
        """
        return not self.is_amd_compatible

    @property
    def max_phys_addr(self) -> int:
        """cpuid_maxphyaddr(): leaf 0x80000008 EAX[7:0], 36 when the leaf is absent."""
        leaf = self.get(0x80000008)
        ext_max = self.get(0x80000000)
        if leaf is None or ext_max is None or ext_max.eax < 0x80000008:
            return 36
        return leaf.eax & 0xFF or 36

    @property
    def kvm_pv_base(self) -> int | None:
        """The hypervisor leaf base that carries the KVM signature (kvm_get_hypervisor_cpuid)."""
        return self._pv_base

    def _find_kvm_base(self) -> int | None:
        # The hypervisor signature reads EBX, ECX, EDX (vendor strings read EBX, EDX, ECX).
        want = _words(KVM_SIGNATURE)
        for base in range(KVM_CPUID_SIGNATURE, 0x40010000, 0x100):
            e = self.get(base)
            if e is not None and (e.ebx, e.ecx, e.edx) == want:
                return base
        return None

    def kvm_pv_features(self) -> int:
        """EAX of the KVM feature leaf, 0 without the KVM signature."""
        if self._pv_base is None:
            return 0
        leaf = self.get(self._pv_base + 1)
        return 0 if leaf is None else leaf.eax

    def has(self, feature: str) -> bool:
        if feature in _ANY_OF:
            return any(self.has(f) for f in _ANY_OF[feature])
        if feature in _PV_FEATURES:
            return bool(self.kvm_pv_features() >> _PV_FEATURES[feature] & 1)
        function, index, reg, bit = feature_bit(feature)
        entry = self.get(function, index)
        return entry is not None and bool(entry.reg(reg) >> bit & 1)

    def features(self) -> frozenset[str]:
        """Every known feature name this CPUID has (for the GUI)."""
        return frozenset(f for f in FEATURES if self.has(f))


def _bits(*positions: int) -> int:
    return sum(1 << p for p in positions)


def _vendor_leaf(max_leaf: int, signature: bytes) -> tuple[int, int, int]:
    ebx, edx, ecx = _words(signature)
    return (max_leaf, ebx, ecx, edx)


def _brand(text: str) -> list[tuple[int, int, int, int, int, int]]:
    raw = text.encode().ljust(48, b"\0")
    rows = []
    for i in range(3):
        chunk = raw[16 * i:16 * i + 16]
        regs = [int.from_bytes(chunk[4 * j:4 * j + 4], "little") for j in range(4)]
        rows.append((0x80000002 + i, 0, *regs))
    return rows


def _kvm_leaves(extra_pv_bits: tuple[int, ...] = ()) -> list[tuple[int, int, int, int, int, int]]:
    ebx, ecx, edx = _words(KVM_SIGNATURE)
    # What KVM_GET_SUPPORTED_CPUID reports (arch/x86/kvm/cpuid.c, __do_cpuid_func).
    pv = _bits(0, 1, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 24, *extra_pv_bits)
    return [
        (KVM_CPUID_SIGNATURE, 0, KVM_CPUID_SIGNATURE + 1, ebx, ecx, edx),
        (KVM_CPUID_SIGNATURE + 1, 0, pv, 0, 0, 0),
    ]


_LEAF1_EDX = _bits(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 19, 23, 24, 25, 26)
_LEAF1_ECX_COMMON = _bits(0, 1, 9, 12, 13, 19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31)
_LEAF7_EBX_COMMON = _bits(0, 1, 3, 5, 7, 8, 9, 10, 16, 17, 18, 19, 20, 21, 23, 24, 28, 29, 30, 31)
_LEAF7_ECX_COMMON = _bits(1, 2, 6, 8, 9, 10, 11, 12, 14, 22)


def _intel_rows() -> list[tuple[int, int, int, int, int, int]]:
    """A Sapphire Rapids class part (family 6 model 0x8F) as KVM reports it on such a host.

    VMX is left out: nested VMX would expose the VMX capability MSRs (0x480-0x491), which
    the MSR model does not emulate.
    """
    xcr0 = _bits(0, 1, 2, 5, 6, 7, 9, 17, 18)
    return [
        (0x0, 0, *_vendor_leaf(0x1E, b"GenuineIntel")),
        (0x1, 0, 0x000806F8, 0x00010800, _LEAF1_ECX_COMMON | _bits(15), _LEAF1_EDX),
        (0x2, 0, 0x00FEFF01, 0, 0, 0),
        (0x4, 0, 0x00000121, 0x02C0003F, 0x0000003F, 0),
        (0x4, 1, 0x00000122, 0x01C0003F, 0x0000003F, 0),
        (0x4, 2, 0x00000143, 0x03C0003F, 0x000007FF, 0),
        (0x4, 3, 0x00000163, 0x0380003F, 0x0000FFFF, 0x6),
        (0x6, 0, 0x4, 0, 0, 0),
        (0x7, 0, 1, _LEAF7_EBX_COMMON, _LEAF7_ECX_COMMON | _bits(7, 27, 28),
         _bits(4, 10, 14, 20, 22, 23, 24, 25, 26, 27, 28, 29, 31)),
        (0x7, 1, _bits(4, 5), 0, 0, 0),
        # Architectural PMU v2 (KVM caps the version at 2): 8 GP counters, 48 bits, 3 fixed.
        (0xA, 0, 0x07300802, 0, 0, 0x603),
        (0xB, 0, 0, 1, 0x100, 0),
        (0xB, 1, 0, 1, 0x201, 0),
        (0xD, 0, xcr0, 0x2B00, 0x2B00, 0),
        (0xD, 1, _bits(0, 1, 2, 3, 4), 0, _bits(11, 12), 0),
        (0xD, 2, 0x100, 0x240, 0, 0),
        (0xD, 5, 0x40, 0x440, 0, 0),
        (0xD, 6, 0x200, 0x480, 0, 0),
        (0xD, 7, 0x400, 0x680, 0, 0),
        (0xD, 9, 0x8, 0xA80, 0, 0),
        (0xD, 11, 0x10, 0, 1, 0),
        (0xD, 12, 0x18, 0, 1, 0),
        (0xD, 17, 0x40, 0xAC0, 0, 0),
        (0xD, 18, 0x2000, 0xB00, 0x6, 0),
        (0x1D, 0, 1, 0, 0, 0),
        (0x1D, 1, 0x04002000, 0x00080040, 0x10, 0),
        (0x1E, 0, 0, 0x4010, 0, 0),
        (0x80000000, 0, 0x80000008, 0, 0, 0),
        (0x80000001, 0, 0, 0, _bits(0, 5, 8), _bits(11, 20, 26, 27, 29)),
        *_brand("Intel(R) Xeon(R) Platinum 8480+"),
        (0x80000006, 0, 0, 0, 0x08007040, 0),
        (0x80000007, 0, 0, 0, 0, 0x100),
        # 46-bit physical, 48-bit linear; KVM mirrors the Intel speculation controls here.
        (0x80000008, 0, 0x0000302E, _bits(9, 12, 14, 15, 24), 0, 0),
        *_kvm_leaves(),
    ]


def _amd_rows() -> list[tuple[int, int, int, int, int, int]]:
    """A Zen 4 EPYC (family 0x19 model 0x11) as KVM reports it on such a host."""
    return [
        (0x0, 0, *_vendor_leaf(0x10, b"AuthenticAMD")),
        (0x1, 0, 0x00A10F11, 0x00010800, _LEAF1_ECX_COMMON, _LEAF1_EDX | _bits(28)),
        (0x5, 0, 0x40, 0x40, 0x3, 0x11),
        (0x6, 0, 0x4, 0, 0, 0),
        (0x7, 0, 1, _LEAF7_EBX_COMMON, _LEAF7_ECX_COMMON | _bits(3),
         _bits(4, 26, 27, 29, 31)),
        (0x7, 1, _bits(5), 0, 0, 0),
        (0xB, 0, 0, 1, 0x100, 0),
        (0xB, 1, 0, 1, 0x201, 0),
        (0xD, 0, _bits(0, 1, 2, 5, 6, 7, 9), 0x988, 0x988, 0),
        (0xD, 1, _bits(0, 1, 2, 3), 0, 0, 0),
        (0xD, 2, 0x100, 0x240, 0, 0),
        (0xD, 5, 0x40, 0x340, 0, 0),
        (0xD, 6, 0x200, 0x380, 0, 0),
        (0xD, 7, 0x400, 0x580, 0, 0),
        (0xD, 9, 0x8, 0x980, 0, 0),
        (0x80000000, 0, *_vendor_leaf(0x80000021, b"AuthenticAMD")),
        (0x80000001, 0, 0x00A10F11, 0, _bits(0, 1, 2, 4, 5, 6, 7, 8, 9, 22, 23),
         _LEAF1_EDX | _bits(11, 20, 22, 25, 26, 27, 29)),
        *_brand("AMD EPYC 9454 48-Core Processor"),
        (0x80000005, 0, 0xFF40FF40, 0xFF40FF40, 0x20080140, 0x20080140),
        (0x80000006, 0, 0x48002200, 0x68004200, 0x04008140, 0x01009140),
        (0x80000007, 0, 0, 0, 0, 0x100),
        # 48-bit physical and linear; IBPB, IBRS, STIBP, SSBD and virtual SSBD.
        (0x80000008, 0, 0x00003030, _bits(0, 2, 9, 12, 14, 15, 24, 25), 0, 0),
        (0x8000000A, 0, 1, 0x8000, 0, _bits(0, 1, 3, 4, 10, 12, 13)),
        (0x8000001D, 0, 0x00000121, 0x01C0003F, 0x0000003F, 0),
        (0x8000001D, 1, 0x00000122, 0x01C0003F, 0x0000003F, 0),
        (0x8000001D, 2, 0x00000143, 0x01C0003F, 0x000007FF, 0x2),
        (0x8000001D, 3, 0x00000163, 0x03C0003F, 0x00007FFF, 0x1),
        (0x80000021, 0, _bits(0, 2, 6, 8), 0, 0, 0),
        *_kvm_leaves(),
    ]


_MODELS = {"intel": _intel_rows, "amd": _amd_rows}


def default_cpuid(vendor: str = "intel") -> Cpuid:
    """The sim's fixed CPU model for `vendor` ("intel" or "amd")."""
    try:
        rows = _MODELS[vendor]()
    except KeyError:
        raise ValueError(f"no built-in CPU model for vendor {vendor!r} (intel, amd)") from None
    return Cpuid(rows)
