"""The filter being edited: free-form rows that become an MsrFilter only on Apply.

A draft must hold what the kernel would reject (flags 0, nmsrs 13000, a base past u32), so
the kernel-like validation can name the field; the editor never "fixes" the user's input.
Bits are kept per offset from the range's base, so moving a range keeps its pattern.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass, field

import numpy as np

from workbench.kvm import uapi
from workbench.kvm.filter import (
    InstalledFilter,
    InstalledRange,
    MsrFilter,
    MsrFilterRange,
    bitmap_copy_size,
    kvm_msr_allowed,
)
from workbench.kvm.profiles import DEFAULT_PROFILE, PROFILES, KvmProfile

READ, WRITE = uapi.KVM_MSR_FILTER_READ, uapi.KVM_MSR_FILTER_WRITE
# The most bits any accepted range can use; larger ranges are rejected before the copy.
MAX_BITS = uapi.KVM_MSR_FILTER_MAX_BITMAP_SIZE * 8


def preview_profile(name: str | None) -> KvmProfile:
    """The profile a session's kernel previews with; a host kernel the sim has no profile
    for previews as the default (the newest) kernel."""
    return PROFILES.get(name or "", DEFAULT_PROFILE)


def bit_capacity(nmsrs: int) -> int:
    """Bits we keep for a range: whole longs, as the kernel copies, capped at the maximum."""
    return min(bitmap_copy_size(max(nmsrs, 0)) * 8, MAX_BITS)


@dataclass
class DraftRange:
    flags: int = READ | WRITE
    base: int = 0
    nmsrs: int = 64
    bits: np.ndarray = field(default_factory=lambda: np.zeros(64, dtype=np.uint8))

    def __post_init__(self) -> None:
        self.resize(self.nmsrs)

    def resize(self, nmsrs: int) -> None:
        """Change nmsrs, keeping the bits of the offsets that remain."""
        self.nmsrs = nmsrs
        size = bit_capacity(nmsrs)
        if size != len(self.bits):
            bits = np.zeros(size, dtype=np.uint8)
            keep = min(size, len(self.bits))
            bits[:keep] = self.bits[:keep]
            self.bits = bits

    @classmethod
    def from_range(cls, rng: MsrFilterRange) -> DraftRange:
        raw = np.frombuffer(rng.bitmap or b"", dtype=np.uint8)
        bits = np.unpackbits(raw, bitorder="little")[: bit_capacity(rng.nmsrs)]
        return cls(rng.flags, rng.base, rng.nmsrs, bits.copy())

    def to_range(self) -> MsrFilterRange:
        """The range as the user wrote it; bits past nmsrs are sent as zeros."""
        bits = self.bits.copy()
        bits[max(self.nmsrs, 0):] = 0
        return MsrFilterRange(self.flags, self.base, self.nmsrs,
                              np.packbits(bits, bitorder="little").tobytes())


@dataclass
class Draft:
    default_allow: bool = True
    ranges: list[DraftRange] = field(default_factory=list)
    profile: KvmProfile = DEFAULT_PROFILE  # the kernel whose rule the preview applies

    @classmethod
    def from_filter(cls, msr_filter: MsrFilter, profile: KvmProfile = DEFAULT_PROFILE) -> Draft:
        return cls(msr_filter.default_allow, [DraftRange.from_range(r) for r in msr_filter.ranges],
                   profile)

    def to_filter(self) -> MsrFilter:
        flags = uapi.KVM_MSR_FILTER_DEFAULT_ALLOW if self.default_allow \
            else uapi.KVM_MSR_FILTER_DEFAULT_DENY
        return MsrFilter(flags, tuple(r.to_range() for r in self.ranges))

    def decision(self, index: int, write: bool) -> bool:
        """What this draft would decide for one MSR, were it installed: the kernel's own
        rule (kvm_msr_allowed) under the draft's profile, over the ranges as written."""
        access = WRITE if write else READ
        return kvm_msr_allowed(self.as_installed(), index, access, self.profile)

    def as_installed(self) -> InstalledFilter:
        """The ranges as kvm_msr_allowed would read them, unchecked (a draft may hold what
        the kernel rejects); empty ranges are left out, as kvm_add_msr_filter skips them."""
        ranges = tuple(InstalledRange(r.flags, r.base, r.nmsrs, r.bits[: r.nmsrs].astype(bool))
                       for r in self.ranges if r.nmsrs > 0)
        return InstalledFilter(self.default_allow, ranges, self.to_filter())


_ERRNO = re.compile(r"\[Errno (\d+)\]\s*(.*)", re.S)
_FIELD = re.compile(r"\b(filter\.flags|flags|ranges(?:\[(\d+)\](?:\.(\w+))?)?)\s*:")


@dataclass(frozen=True)
class Rejection:
    """A kernel error, split so the editor can point at the row and column at fault."""

    errno_name: str
    message: str
    field: str | None
    row: int | None
    column: str | None

    def banner(self) -> str:
        return f"{self.errno_name}: {self.message}"


def parse_rejection(error: str) -> Rejection:
    """Read "[Errno 22] ranges[2].flags: …" into (EINVAL, ranges[2].flags, row 2, flags)."""
    match = _ERRNO.match(error)
    code, message = (int(match.group(1)), match.group(2)) if match else (None, error)
    name = errno.errorcode.get(code, f"errno {code}") if code is not None else "error"
    where = _FIELD.match(message)
    if where is None:
        return Rejection(name, message, None, None, None)
    row = int(where.group(2)) if where.group(2) is not None else None
    return Rejection(name, message, where.group(1), row, where.group(3))
