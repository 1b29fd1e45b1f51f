"""Scenario files: a versioned TOML description of a VM, its guest code and its devices.

Validated with msgspec so that every error names the field (`$.vcpus[0].source`) and, for
files, the line it stands on. Numbers may be written as integers or as strings, decimal or
0x hex ("0xc0000100", workbench.values.parse_int), because MSR indices read best in hex.

    version = 1
    name = "..."
    [vm]          vendor, profile, irqchip, ignore_msrs, cpuid = [[fn, idx, eax, ebx, ecx, edx]]
    [caps]        user_space_msr = ["UNKNOWN", "FILTER"]   (or an integer mask)
    [filter]      default = "allow" | "deny"  (or flags = N);  [[filter.ranges]]
                  flags = "r" | "w" | "rw" | N, base, nmsrs, and bitmap (hex) or allow/deny lists
    [[vcpus]]     source = "..." (Intel syntax) and/or code = "hex machine code"
    [[handlers]]  msr, kind = "constant" | "register" | "fail", value
    [[ioctls]]    user_space_msr = mask, or a [ioctls.filter] table as [filter]: VMM
                  ioctls issued after set-up, before the vCPUs run; the kernel may refuse
                  them (a logged errno, not a bad scenario), so kernels can be compared
    [pci]         a PCI/SR-IOV story (workbench.vfio.story.PciScenario)
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from workbench.kvm import uapi
from workbench.kvm.filter import MsrFilter, MsrFilterRange, check_abi
from workbench.kvm.guest.assembler import AssemblyError, Program, assemble
from workbench.kvm.host_traits import HostTraits
from workbench.kvm.profiles import KvmProfile
from workbench.session import commands as c
from workbench.session import scenario_checks as checks
from workbench.session.limits import (
    MAX_NESTING,
    MAX_SCENARIO_BYTES,
    read_bounded,
    too_deep,
)
from workbench.values import U32_MAX, U64_MAX, Number, parse_int
from workbench.vfio.story import PciScenario

SCENARIO_VERSION = 1


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the field and, for files, the line."""

    def __init__(self, message: str, field: str = "", line: int = 0, source: str = ""):
        where = f"{source}:{line}: " if source and line else (f"{source}: " if source else "")
        super().__init__(f"{where}{field + ': ' if field else ''}{message}")
        self.field, self.line, self.source = field, line, source


class VmSpec(msgspec.Struct, forbid_unknown_fields=True):
    vendor: Literal["intel", "amd", "pvm"] = "intel"
    profile: str | None = None
    irqchip: bool = False
    ignore_msrs: bool = False
    cpuid: list[list[Number]] | None = None


class CapsSpec(msgspec.Struct, forbid_unknown_fields=True):
    user_space_msr: int | list[Literal["INVAL", "UNKNOWN", "FILTER"]] | None = None


class RangeSpec(msgspec.Struct, forbid_unknown_fields=True):
    base: Number
    nmsrs: Number
    flags: Number = "rw"
    bitmap: str | None = None
    allow: list[Number] | None = None
    deny: list[Number] | None = None


class FilterSpec(msgspec.Struct, forbid_unknown_fields=True):
    default: Literal["allow", "deny"] | None = None
    flags: Number | None = None
    ranges: list[RangeSpec] = []


class IoctlSpec(msgspec.Struct, forbid_unknown_fields=True):
    """One VMM ioctl after set-up: KVM_ENABLE_CAP(USER_SPACE_MSR) or SET_MSR_FILTER."""

    user_space_msr: int | list[Literal["INVAL", "UNKNOWN", "FILTER"]] | None = None
    filter: FilterSpec | None = None


class VcpuSpec(msgspec.Struct, forbid_unknown_fields=True):
    source: str | None = None
    code: str | None = None


class HandlerSpec(msgspec.Struct, forbid_unknown_fields=True):
    msr: Number
    kind: Literal["constant", "register", "fail"] = "constant"
    value: Number = 0


class ScenarioSpec(msgspec.Struct, forbid_unknown_fields=True):
    version: int
    name: str = ""
    description: str = ""
    vm: VmSpec = msgspec.field(default_factory=VmSpec)
    caps: CapsSpec = msgspec.field(default_factory=CapsSpec)
    filter: FilterSpec | None = None
    vcpus: list[VcpuSpec] = []
    handlers: list[HandlerSpec] = []
    ioctls: list[IoctlSpec] = []
    pci: PciScenario | None = None


@dataclass(frozen=True)
class Handler:
    msr: int
    kind: str
    value: int


@dataclass(frozen=True)
class Scenario:
    """A validated scenario, ready to run: numbers parsed, programs assembled."""

    spec: ScenarioSpec
    vendor: str
    profile: str | KvmProfile | None  # a name; compare-profiles passes a KvmProfile
    irqchip: bool
    ignore_msrs: bool
    cpuid: list[tuple[int, int, int, int, int, int]] | None
    user_space_msr_mask: int | None
    msr_filter: MsrFilter | None
    programs: list[Program]
    handlers: dict[int, Handler]
    ioctls: tuple[c.EnableCap | c.SetFilter, ...] = ()
    source: str = ""   # the TOML text loads() read; a recording embeds it to be self-contained
    host: HostTraits | None = None  # set to make the sim answer as that real host (compare)

    @property
    def name(self) -> str:
        return self.spec.name


_REASONS = {"INVAL": uapi.KVM_MSR_EXIT_REASON_INVAL, "UNKNOWN": uapi.KVM_MSR_EXIT_REASON_UNKNOWN,
            "FILTER": uapi.KVM_MSR_EXIT_REASON_FILTER}
_RANGE_FLAGS = {"r": uapi.KVM_MSR_FILTER_READ, "w": uapi.KVM_MSR_FILTER_WRITE,
                "rw": uapi.KVM_MSR_FILTER_READ | uapi.KVM_MSR_FILTER_WRITE}


def _num(value: Number, field: str) -> int:
    try:
        return value if isinstance(value, int) else parse_int(value)
    except ValueError as exc:
        raise ScenarioError(str(exc), field) from None


def _range_numbers(spec: RangeSpec, where: str) -> tuple[int, int, int]:
    flags = spec.flags
    if isinstance(flags, str) and flags.lower() in _RANGE_FLAGS:
        flags = _RANGE_FLAGS[flags.lower()]
    return (_num(flags, f"{where}.flags"), _num(spec.base, f"{where}.base"),
            _num(spec.nmsrs, f"{where}.nmsrs"))


def _range(spec: RangeSpec, where: str) -> MsrFilterRange:
    flags, base, nmsrs = _range_numbers(spec, where)
    given = [name for name in ("bitmap", "allow", "deny") if getattr(spec, name) is not None]
    if len(given) > 1:
        raise ScenarioError("give one of bitmap, allow or deny", f"{where}.{given[1]}")
    try:
        if spec.allow is not None:
            allowed = [_num(i, f"{where}.allow") for i in spec.allow]
            return MsrFilterRange.from_indices(flags, base, nmsrs, allowed)
        if spec.deny is not None:
            denied = [_num(i, f"{where}.deny") for i in spec.deny]
            return MsrFilterRange.from_denied(flags, base, nmsrs, denied)
        bitmap = bytes.fromhex(spec.bitmap) if spec.bitmap is not None else b""
    except ValueError as exc:
        raise ScenarioError(str(exc), f"{where}.{given[0] if given else 'bitmap'}") from None
    return MsrFilterRange(flags, base, nmsrs, bitmap)


def _filter_flags(spec: FilterSpec, where: str = "$.filter") -> int:
    if spec.flags is not None and spec.default is not None:
        raise ScenarioError("give either default or flags", f"{where}.flags")
    return _num(spec.flags, f"{where}.flags") if spec.flags is not None else (
        uapi.KVM_MSR_FILTER_DEFAULT_DENY if spec.default == "deny" else 0)


def _filter_shape(spec: FilterSpec) -> MsrFilter:
    """The filter with empty bitmaps: all the kernel checks, before any bitmap is built
    (a huge `nmsrs` is refused here instead of filling memory)."""
    return MsrFilter(_filter_flags(spec), [
        MsrFilterRange(*_range_numbers(r, f"$.filter.ranges[{i}]"), b"")
        for i, r in enumerate(spec.ranges)])


def _filter(spec: FilterSpec, where: str = "$.filter") -> MsrFilter:
    return MsrFilter(_filter_flags(spec, where),
                     [_range(r, f"{where}.ranges[{i}]") for i, r in enumerate(spec.ranges)])


def _mask(caps: int | list[str] | None) -> int | None:
    return caps if isinstance(caps, int) or caps is None else sum({_REASONS[r] for r in caps})


def _ioctl(spec: IoctlSpec, where: str) -> c.EnableCap | c.SetFilter:
    """The command for one [[ioctls]] entry: checked for what the uapi structs can carry,
    never for what a kernel would refuse (that is the outcome being compared)."""
    if (spec.user_space_msr is None) == (spec.filter is None):
        raise ScenarioError("give exactly one of user_space_msr or filter", where)
    mask = _mask(spec.user_space_msr)
    if mask is not None:
        checks.in_range(mask, f"{where}.user_space_msr", U64_MAX, "a u64 mask")
        return c.EnableCap(cap=uapi.KVM_CAP_X86_USER_SPACE_MSR, args=[mask])
    assert spec.filter is not None
    msr_filter = _filter(spec.filter, f"{where}.filter")
    try:
        check_abi(msr_filter)
    except OSError as exc:
        field, _, message = (exc.strerror or "").partition(": ")
        raise ScenarioError(message, f"{where}.filter.{field}") from None
    return c.SetFilter(filter=msr_filter.to_dict())


def _program(spec: VcpuSpec, where: str) -> Program:
    if spec.code is not None:
        try:
            return Program(bytes.fromhex(spec.code), source=spec.source or "")
        except ValueError as exc:
            raise ScenarioError(str(exc), f"{where}.code") from None
    if spec.source is None:
        raise ScenarioError("a vCPU needs source or code", where)
    checks.check_guest_source(spec.source, f"{where}.source")
    try:
        return assemble(spec.source)
    except AssemblyError as exc:
        raise ScenarioError(str(exc), f"{where}.source") from None


def build(spec: ScenarioSpec) -> Scenario:
    """Turn a decoded spec into a runnable Scenario (ScenarioError names the field)."""
    try:
        return _build(spec)
    except checks.FieldError as exc:
        raise ScenarioError(str(exc), exc.field) from None


def _build(spec: ScenarioSpec) -> Scenario:
    if spec.version != SCENARIO_VERSION:
        raise ScenarioError(
            f"version {spec.version} is not supported (this workbench reads version "
            f"{SCENARIO_VERSION})", "$.version")
    cpuid = None
    if spec.vm.cpuid is not None:
        cpuid = []
        for i, row in enumerate(spec.vm.cpuid):
            if len(row) != 6:
                raise ScenarioError("a CPUID row is [function, index, eax, ebx, ecx, edx]",
                                    f"$.vm.cpuid[{i}]")
            cpuid.append(tuple(checks.in_range(_num(v, f"$.vm.cpuid[{i}]"), f"$.vm.cpuid[{i}]",
                                               U32_MAX, "a u32 CPUID value") for v in row))
    mask = _mask(spec.caps.user_space_msr)
    handlers: dict[int, Handler] = {}
    for i, h in enumerate(spec.handlers):
        where = f"$.handlers[{i}]"
        index = checks.in_range(_num(h.msr, f"{where}.msr"), f"{where}.msr", U32_MAX,
                                "a u32 MSR index")
        if index in handlers:
            raise ScenarioError(f"MSR {index:#x} has two handlers", f"{where}.msr")
        value = checks.in_range(_num(h.value, f"{where}.value"), f"{where}.value", U64_MAX,
                                "a u64 value")
        handlers[index] = Handler(index, h.kind, value)
    checks.check_vcpu_count(len(spec.vcpus))
    checks.check_kernel(spec.vm.vendor, spec.vm.profile, mask,
                        _filter_shape(spec.filter) if spec.filter is not None else None)
    if spec.pci is not None:
        checks.check_pci(spec.pci)
    return Scenario(
        spec=spec, vendor=spec.vm.vendor, profile=spec.vm.profile, irqchip=spec.vm.irqchip,
        ignore_msrs=spec.vm.ignore_msrs, cpuid=cpuid, user_space_msr_mask=mask,
        msr_filter=_filter(spec.filter) if spec.filter is not None else None,
        programs=[_program(v, f"$.vcpus[{i}]") for i, v in enumerate(spec.vcpus)],
        handlers=handlers,
        ioctls=tuple(_ioctl(s, f"$.ioctls[{i}]") for i, s in enumerate(spec.ioctls)),
    )


def loads(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and validate scenario TOML text."""
    if line := too_deep(text):
        raise ScenarioError(f"arrays or inline tables nest more than {MAX_NESTING} deep",
                            line=line, source=source)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ScenarioError(f"not valid TOML: {exc}", line=int(match.group(1)) if match else 0,
                            source=source) from None
    try:
        spec = msgspec.toml.decode(text.encode(), type=ScenarioSpec)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).rpartition(" - at ")
        path = path.strip("`") if message else ""
        raise ScenarioError(message or str(exc), path, locate(text, path), source) from None
    try:
        return dataclasses.replace(build(spec), source=text)
    except ScenarioError as exc:
        message = str(exc).split(": ", 1)[1] if exc.field else str(exc)
        raise ScenarioError(message, exc.field, locate(text, exc.field), source) from None


def load(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        text = read_bounded(path, MAX_SCENARIO_BYTES).decode("utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read the file: {exc.strerror or exc}",
                            source=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"cannot read the file: {exc}", source=str(path)) from None
    return loads(text, str(path))


_PATH_PART = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?")


def locate(text: str, path: str) -> int:
    """The 1-based line of a msgspec path like `$.vcpus[1].source` in TOML text, 0 if unsure.

    Follows table headers ([a], [[a]], [a.b]) and `key =` lines; good enough to point a user
    at the right place, which is all a message needs.
    """
    parts = [(m.group(1), int(m.group(2)) if m.group(2) else None)
             for m in _PATH_PART.finditer(path.removeprefix("$"))]
    if not parts:
        return 0
    lines = text.splitlines()
    best, start, prefix = 0, 0, ""
    for name, index in parts:
        dotted = f"{prefix}{name}"
        header = re.compile(rf"^\s*\[\[?\s*{re.escape(dotted)}\s*\]\]?\s*(#.*)?$")
        key = re.compile(rf"^\s*{re.escape(name)}\s*=")
        hits = [i for i in range(start, len(lines)) if header.match(lines[i])]
        if hits:
            pick = hits[index] if index is not None and index < len(hits) else hits[0]
            best, start, prefix = pick + 1, pick + 1, f"{dotted}."
            continue
        for i in range(start, len(lines)):
            if key.match(lines[i]):
                return i + 1
            if lines[i].lstrip().startswith("[") and i > start:
                break
        return best
    return best
