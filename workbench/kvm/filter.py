"""MSR filter values and the kernel's rules for installing and consulting them.

`MsrFilter` / `MsrFilterRange` are plain values a user builds freely; like the kernel, we
check them only when they are set (`install_filter`, after arch/x86/kvm/x86.c
kvm_vm_ioctl_set_msr_filter and kvm_add_msr_filter). `InstalledFilter` is the kernel-side
copy the allow decision reads (kvm_msr_allowed).
"""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.kvm import uapi
from workbench.kvm.profiles import KvmProfile
from workbench.values import U32_MAX, as_int

# "x2APIC MSRs do not support filtering" (kvm_msr_allowed): the one definition of the range.
X2APIC_FIRST, X2APIC_LAST = 0x800, 0x8FF
_LONG = 8  # sizeof(long) on x86-64: the kernel copies whole longs of bitmap


def bitmap_copy_size(nmsrs: int) -> int:
    """Bytes the kernel copies for a range of `nmsrs` MSRs: BITS_TO_LONGS(nmsrs) * 8."""
    return (nmsrs + 63) // 64 * _LONG


def _bitmap_bytes(value: Any, name: str) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not a hex byte string") from None
    if isinstance(value, Sequence) and all(isinstance(b, int) and 0 <= b <= 255 for b in value):
        return bytes(value)
    raise ValueError(f"{name}: expected bytes, a hex string or a list of byte values")


def fits_bitmap_limit(nmsrs: int) -> bool:
    """Whether the kernel would copy a bitmap for `nmsrs` (kvm_add_msr_filter refuses more
    than KVM_MSR_FILTER_MAX_BITMAP_SIZE bytes, and the ABI carries only a u32)."""
    return 0 <= nmsrs <= U32_MAX and bitmap_copy_size(nmsrs) <= uapi.KVM_MSR_FILTER_MAX_BITMAP_SIZE


def _bitmap_with(nmsrs: int, offsets: list[int], allow: bool) -> bytes:
    """The copied-size bitmap with `offsets` set (allow) or cleared (deny, the rest set)."""
    if not fits_bitmap_limit(nmsrs):
        return b""
    bits = np.zeros(bitmap_copy_size(nmsrs) * 8, dtype=np.uint8)
    if not allow:
        bits[:nmsrs] = 1
    bits[offsets] = 1 if allow else 0
    return np.packbits(bits, bitorder="little").tobytes()


@dataclass(frozen=True)
class MsrFilterRange:
    """One `kvm_msr_filter_range`; `bitmap=None` stands for a NULL bitmap pointer."""

    flags: int
    base: int
    nmsrs: int
    bitmap: bytes | None = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "bitmap", _bitmap_bytes(self.bitmap, "bitmap"))

    @classmethod
    def from_indices(
        cls, flags: int, base: int, nmsrs: int, allowed: Iterable[int]
    ) -> MsrFilterRange:
        """A range whose bitmap allows exactly the MSR indices in `allowed`.

        A range the kernel refuses for its size gets no bitmap bytes (it never copies
        them), so a huge `nmsrs` fails with EINVAL when set instead of allocating here."""
        offsets = []
        for index in allowed:
            offset = (index - base) & U32_MAX
            if not 0 <= offset < nmsrs:
                raise ValueError(f"MSR {index:#x} is outside [{base:#x}, {base + nmsrs:#x})")
            offsets.append(offset)
        return cls(flags, base, nmsrs, _bitmap_with(nmsrs, offsets, allow=True))

    @classmethod
    def from_denied(
        cls, flags: int, base: int, nmsrs: int, denied: Iterable[int]
    ) -> MsrFilterRange:
        """A range whose bitmap allows every MSR in [base, base + nmsrs) but `denied`."""
        offsets = []
        for index in denied:
            if not base <= index < base + nmsrs:
                raise ValueError(f"MSR {index:#x} is outside [{base:#x}, {base + nmsrs:#x})")
            offsets.append(index - base)
        return cls(flags, base, nmsrs, _bitmap_with(nmsrs, offsets, allow=False))

    def bit(self, offset: int) -> bool:
        """Bit `offset` of the bitmap as the kernel reads it (zero past the given bytes)."""
        data = self.bitmap or b""
        byte = offset >> 3
        return byte < len(data) and bool(data[byte] >> (offset & 7) & 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "flags": self.flags,
            "base": f"{self.base:#x}",
            "nmsrs": self.nmsrs,
            "bitmap": None if self.bitmap is None else self.bitmap.hex(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "range") -> MsrFilterRange:
        unknown = set(data) - {"flags", "base", "nmsrs", "bitmap"}
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        for key in ("flags", "base", "nmsrs"):
            if key not in data:
                raise ValueError(f"{where}.{key}: missing")
        return cls(
            flags=as_int(data["flags"], f"{where}.flags"),
            base=as_int(data["base"], f"{where}.base"),
            nmsrs=as_int(data["nmsrs"], f"{where}.nmsrs"),
            bitmap=_bitmap_bytes(data.get("bitmap", b""), f"{where}.bitmap"),
        )


@dataclass(frozen=True)
class MsrFilter:
    """One `kvm_msr_filter`: a default action and up to 16 ranges, in priority order."""

    flags: int = uapi.KVM_MSR_FILTER_DEFAULT_ALLOW
    ranges: tuple[MsrFilterRange, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "ranges", tuple(self.ranges))

    @property
    def default_allow(self) -> bool:
        return not self.flags & uapi.KVM_MSR_FILTER_DEFAULT_DENY

    def to_dict(self) -> dict[str, Any]:
        return {"flags": self.flags, "ranges": [r.to_dict() for r in self.ranges]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MsrFilter:
        if not isinstance(data, Mapping):
            raise ValueError("filter: expected a table with 'flags' and 'ranges'")
        unknown = set(data) - {"flags", "ranges"}
        if unknown:
            raise ValueError(f"filter: unknown field(s) {', '.join(sorted(unknown))}")
        ranges = data.get("ranges", [])
        if not isinstance(ranges, Sequence) or isinstance(ranges, str):
            raise ValueError("filter.ranges: expected a list of ranges")
        return cls(
            flags=as_int(data.get("flags", 0), "filter.flags"),
            ranges=tuple(
                MsrFilterRange.from_dict(r, f"filter.ranges[{i}]") for i, r in enumerate(ranges)
            ),
        )

    def to_bytes(self) -> bytes:
        """The 392-byte `kvm_msr_filter`, each bitmap pointer replaced by the offset of its
        bitmap inside the returned blob (the bitmaps follow, in range order; 0 = NULL)."""
        check_abi(self)
        header = uapi.kvm_msr_filter()
        header.flags = self.flags
        tail = bytearray()
        offset = ctypes.sizeof(header)
        for slot, rng in zip(header.ranges, self.ranges, strict=False):
            slot.flags, slot.base, slot.nmsrs = rng.flags, rng.base, rng.nmsrs
            if rng.bitmap is not None:
                slot.bitmap = offset + len(tail)
                tail += rng.bitmap
        return bytes(header) + bytes(tail)

    @classmethod
    def from_bytes(cls, blob: bytes) -> MsrFilter:
        size = ctypes.sizeof(uapi.kvm_msr_filter)
        if len(blob) < size:
            raise ValueError(f"kvm_msr_filter: need {size} bytes, got {len(blob)}")
        header = uapi.kvm_msr_filter.from_buffer_copy(blob[:size])
        # Bitmaps follow in range order, so each one ends where the next one starts.
        starts = [r.bitmap for r in header.ranges if r.bitmap] + [len(blob)]
        # All 16 slots always exist in the kernel struct: trailing all-zero slots are unused.
        last_used = max(
            (i for i, r in enumerate(header.ranges) if r.flags or r.base or r.nmsrs or r.bitmap),
            default=-1,
        )
        ranges, following = [], 0
        for i, raw in enumerate(header.ranges[: last_used + 1]):
            bitmap: bytes | None = None
            if raw.bitmap:
                following += 1
                end = starts[following]
                if not size <= raw.bitmap <= end <= len(blob):
                    raise ValueError(f"ranges[{i}].bitmap: offset {raw.bitmap} is out of order")
                bitmap = blob[raw.bitmap:end]
            ranges.append(MsrFilterRange(raw.flags, raw.base, raw.nmsrs, bitmap))
        return cls(header.flags, tuple(ranges))


def check_abi(msr_filter: MsrFilter) -> None:
    """Refuse what `struct kvm_msr_filter` cannot carry, on every engine alike: more than 16
    ranges, or a field outside u32 (EINVAL, naming the field)."""
    if len(msr_filter.ranges) > uapi.KVM_MSR_FILTER_MAX_RANGES:
        raise OSError(
            errno.EINVAL,
            f"ranges: {len(msr_filter.ranges)} ranges, struct kvm_msr_filter holds at most "
            f"{uapi.KVM_MSR_FILTER_MAX_RANGES}",
        )
    fields = [("flags", msr_filter.flags)]
    for i, rng in enumerate(msr_filter.ranges):
        fields += [(f"ranges[{i}].{k}", getattr(rng, k)) for k in ("flags", "base", "nmsrs")]
    for name, value in fields:
        if not 0 <= value <= U32_MAX:
            raise OSError(errno.EINVAL, f"{name}: {value:#x} does not fit the kernel's u32")


@dataclass(frozen=True)
class InstalledRange:
    """A range as the kernel keeps it: the copied bitmap, as one bool per MSR."""

    flags: int
    base: int
    nmsrs: int
    bits: np.ndarray  # bool[nmsrs]; a preview's may be shorter (bits past it read 0)

    @property
    def end(self) -> int:
        """`base + nmsrs` in u32 arithmetic: a range that wraps matches nothing."""
        return (self.base + self.nmsrs) & U32_MAX

    def test_bit(self, offset: int) -> bool:
        return offset < len(self.bits) and bool(self.bits[offset])


@dataclass(frozen=True)
class InstalledFilter:
    """The VM's filter as kvm_msr_allowed sees it (`kvm->arch.msr_filter`)."""

    default_allow: bool
    ranges: tuple[InstalledRange, ...]
    source: MsrFilter

    def allowed(self, index: int, access: int, profile: KvmProfile) -> bool:
        return kvm_msr_allowed(self, index, access, profile)

    def allowed_map(self, first: int, count: int, access: int, profile: KvmProfile) -> np.ndarray:
        """kvm_msr_allowed for `count` consecutive indices at once, for heatmaps (a
        property test holds the two equal)."""
        indices = np.arange(first, first + count, dtype=np.int64)
        if not self.ranges and profile.empty_filter_allows_all:
            return np.ones(count, dtype=bool)
        result = np.full(count, self.default_allow, dtype=bool)
        decided = np.zeros(count, dtype=bool)
        for rng in self.ranges:
            if not rng.flags & access:
                continue
            lo = max(first, rng.base)
            hi = min(first + count, rng.end) if rng.end > rng.base else lo
            if hi <= lo:
                continue
            window = slice(lo - first, hi - first)
            fresh = ~decided[window]
            result[window][fresh] = rng.bits[lo - rng.base : hi - rng.base][fresh]
            decided[window] = True
        result[(indices >= X2APIC_FIRST) & (indices <= X2APIC_LAST)] = True
        return result


def kvm_msr_allowed(msr_filter: InstalledFilter, index: int, access: int,
                    profile: KvmProfile) -> bool:
    """kvm_msr_allowed: x2APIC exempt, then the first range of that access type holding
    `index` decides, else the default. linux-5.10 allows everything while no range is
    installed (count == 0), whatever the default; 6.18 has no such case."""
    if X2APIC_FIRST <= index <= X2APIC_LAST:
        return True
    if not msr_filter.ranges and profile.empty_filter_allows_all:
        return True
    for rng in msr_filter.ranges:
        if rng.flags & access and rng.base <= index < rng.end:
            return rng.test_bit(index - rng.base)
    return msr_filter.default_allow


NO_FILTER = InstalledFilter(default_allow=True, ranges=(), source=MsrFilter())


def _install_range(rng: MsrFilterRange, i: int, profile: KvmProfile) -> InstalledRange | None:
    """kvm_add_msr_filter for one range: None when skipped (nmsrs == 0)."""
    where = f"ranges[{i}]"
    if rng.nmsrs == 0:
        return None
    size = bitmap_copy_size(rng.nmsrs)
    checks = [
        (
            rng.flags & ~uapi.KVM_MSR_FILTER_RANGE_VALID_MASK,
            errno.EINVAL,
            f"{where}.flags: {rng.flags:#x} has bits outside READ|WRITE",
        ),
        (rng.flags == 0, errno.EINVAL, f"{where}.flags: 0 (neither READ nor WRITE)"),
    ]
    size_check = (
        size > uapi.KVM_MSR_FILTER_MAX_BITMAP_SIZE,
        errno.EINVAL,
        f"{where}.nmsrs: {rng.nmsrs} needs a {size}-byte bitmap, more than "
        f"KVM_MSR_FILTER_MAX_BITMAP_SIZE ({uapi.KVM_MSR_FILTER_MAX_BITMAP_SIZE:#x})",
    )
    copy_check = (rng.bitmap is None, errno.EFAULT, f"{where}.bitmap: NULL pointer")
    if profile.filter_flags_checked_first:
        checks += [size_check, copy_check]
    else:
        checks = [size_check, copy_check, *checks]
    for failed, code, message in checks:
        if failed:
            raise OSError(code, message)
    raw = (rng.bitmap or b"")[:size].ljust(size, b"\0")
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")
    return InstalledRange(rng.flags, rng.base, rng.nmsrs, bits[: rng.nmsrs].astype(bool))


def install_filter(
    msr_filter: MsrFilter, current: InstalledFilter, profile: KvmProfile
) -> tuple[InstalledFilter, OSError | None]:
    """kvm_vm_ioctl_set_msr_filter: the filter now in force, and the error to return.

    linux-6.18 builds the new filter aside and keeps `current` on any error; linux-5.10
    clears the old one, stores the default, then adds ranges until one fails.
    """
    if not isinstance(msr_filter, MsrFilter):
        raise TypeError(f"expected an MsrFilter, got {type(msr_filter).__name__}")
    check_abi(msr_filter)
    if profile.strict_filter_flags and msr_filter.flags & ~uapi.KVM_MSR_FILTER_VALID_MASK:
        return current, OSError(
            errno.EINVAL, f"flags: {msr_filter.flags:#x} has bits outside DEFAULT_DENY"
        )
    empty = all(r.nmsrs == 0 for r in msr_filter.ranges)
    if empty and not msr_filter.default_allow:
        return current, OSError(
            errno.EINVAL, "flags: DEFAULT_DENY with no non-empty range would deny everything"
        )
    installed: list[InstalledRange] = []
    error: OSError | None = None
    for i, rng in enumerate(msr_filter.ranges):
        try:
            added = _install_range(rng, i, profile)
        except OSError as exc:
            error = exc
            break
        if added is not None:
            installed.append(added)
    new = InstalledFilter(msr_filter.default_allow, tuple(installed), msr_filter)
    if error is not None and profile.atomic_filter_update:
        return current, error
    return new, error
