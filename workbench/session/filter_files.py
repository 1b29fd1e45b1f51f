"""An MsrFilter as a file of its own: the workbench's JSON and TOML, and the code exports.

Both text formats hold `MsrFilter.to_dict()` (api.md): top-level `flags` and a list of
`ranges`, each with `flags`, `base`, `nmsrs` and `bitmap` (hex). Reading one never runs
code and never trusts a size: a bad file gives a FilterFileError naming the file, the line
and the field, and a filter the kernel would refuse gives the errno KVM_X86_SET_MSR_FILTER
would return (checked against a kernel profile). Every file is written atomically.
"""

from __future__ import annotations

import errno
import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.atomic import write_atomic
from workbench.kvm.filter import NO_FILTER, MsrFilter, install_filter
from workbench.kvm.profiles import KvmProfile, get_profile
from workbench.session.filter_code import GENERATORS
from workbench.session.limits import read_bounded

MAX_FILTER_BYTES = 1 << 20  # 16 ranges of 0x600-byte bitmaps in hex are ~50 KiB
SUFFIXES = {"c": ".c", "rust": ".rs", "json": ".json", "toml": ".toml"}


class FilterFileError(ValueError):
    """A filter file that cannot be used: names the file, line and field (and errno)."""


def to_json(msr_filter: MsrFilter) -> str:
    return json.dumps(msr_filter.to_dict(), indent=2) + "\n"


def to_toml(msr_filter: MsrFilter) -> str:
    """TOML has no null: a NULL bitmap pointer (EFAULT for any non-empty range) has no TOML
    form, and is refused naming the range; JSON keeps it."""
    out = [f"flags = {msr_filter.flags}"]
    for i, rng in enumerate(msr_filter.ranges):
        if rng.bitmap is None:
            raise ValueError(f"ranges[{i}].bitmap: a NULL bitmap has no TOML form; "
                             "export it as JSON")
        out += ["", "[[ranges]]", f"flags = {rng.flags}", f'base = "{rng.base:#x}"',
                f"nmsrs = {rng.nmsrs}", f'bitmap = "{rng.bitmap.hex()}"']
    return "\n".join(out) + "\n"


TEXT_FORMATS: dict[str, Callable[[MsrFilter], str]] = {"json": to_json, "toml": to_toml}
EXPORTERS: dict[str, Callable[[MsrFilter], str]] = {**GENERATORS, **TEXT_FORMATS}


def export(msr_filter: MsrFilter, path: str | Path, kind: str | None = None) -> str:
    """Write `msr_filter` to `path` as `kind` (default: from the suffix); returns the kind.
    OSError (EINVAL) for a filter the kernel's struct cannot carry, ValueError for a form
    the format lacks; the file is not touched in either case."""
    path = Path(path)
    kind = kind or kind_of(path)
    if kind not in EXPORTERS:
        raise ValueError(f"{path.name}: unknown export format {kind!r}; "
                         f"use one of {', '.join(EXPORTERS)}")
    text = EXPORTERS[kind](msr_filter)
    write_atomic(path, [text.encode()])
    return kind


def kind_of(path: Path) -> str:
    by_suffix = {suffix: kind for kind, suffix in SUFFIXES.items()}
    return by_suffix.get(path.suffix.lower(), "json")


# --- reading ---------------------------------------------------------------------------------
_FIELD = re.compile(r"^(?:filter\.)?(?:ranges\[(\d+)\])?\.?(\w+)?")


def _section_lines(text: str, toml: bool) -> list[int]:
    """Line numbers (1-based) where each range's table starts: `[[ranges]]` in TOML, the
    n-th `{` after "ranges" in JSON (bitmaps are hex, so no brace hides in a string)."""
    lines = text.splitlines()
    if toml:
        return [n for n, line in enumerate(lines, 1) if line.strip().startswith("[[ranges]]")]
    starts, seen_ranges = [], False
    for n, line in enumerate(lines, 1):
        seen_ranges = seen_ranges or '"ranges"' in line
        if seen_ranges:
            starts += [n] * line.count("{")
    return starts


def field_line(text: str, field: str, toml: bool) -> int:
    """The line of `field` ("ranges[2].nmsrs", "flags") in the file, or 0 if unknown."""
    match = _FIELD.match(field)
    if match is None:
        return 0
    index, key = match.group(1), match.group(2)
    sections = _section_lines(text, toml)
    lines = text.splitlines()
    if index is None:
        start, end = 1, (sections[0] - 1 if sections else len(lines))
    else:
        i = int(index)
        if i >= len(sections):
            return 0
        start = sections[i]
        end = sections[i + 1] - 1 if i + 1 < len(sections) else len(lines)
    key_line = re.compile(rf'^\s*"?{re.escape(key or "")}"?\s*[:=]') if key else None
    for n in range(start, end + 1):
        if key_line is not None and key_line.match(lines[n - 1]):
            return n
    return start if index is not None else 0


def errno_name(code: int | None) -> str:
    return errno.errorcode.get(code, f"errno {code}") if code is not None else "error"


_UNKNOWN = re.compile(r"unknown field\(s\) (\w+)")


def _located(path: Path, text: str, message: str, toml: bool, code: int | None = None) -> str:
    field = message.split(":", 1)[0].strip()
    unknown = _UNKNOWN.search(message)
    if unknown is not None:  # point at the first unknown key, not at its table
        field = f"{field.removeprefix('filter').lstrip('.')}.{unknown.group(1)}".lstrip(".")
    line = field_line(text, field, toml)
    where = f"{path}:{line}" if line else f"{path}"
    prefix = f"{errno_name(code)}: " if code else ""
    return f"{where}: {prefix}{message}"


def _parse(path: Path, text: str, toml: bool) -> Any:
    try:
        if toml:
            return tomllib.loads(text)
        return json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FilterFileError(f"{path}: not TOML: {exc}") from None
    except json.JSONDecodeError as exc:
        raise FilterFileError(f"{path}:{exc.lineno}: not JSON: {exc.msg} "
                              f"(column {exc.colno})") from None
    except RecursionError:
        raise FilterFileError(f"{path}: nested too deeply") from None


def loads(text: str, path: str | Path = "<filter>", toml: bool = False,
          profile: str | KvmProfile | None = None) -> MsrFilter:
    """The filter in `text`; FilterFileError naming the line and field when the text is
    not a filter, or names the errno when the kernel of `profile` would refuse it."""
    path = Path(path)
    data = _parse(path, text, toml)
    try:
        msr_filter = MsrFilter.from_dict(data)
    except ValueError as exc:
        raise FilterFileError(_located(path, text, str(exc), toml)) from None
    try:
        _, error = install_filter(msr_filter, NO_FILTER, get_profile(profile))
    except OSError as exc:  # check_abi: fields the struct cannot carry
        error = exc
    if error is not None:
        raise FilterFileError(_located(path, text, error.strerror or str(error), toml,
                                       error.errno))
    return msr_filter


def load(path: str | Path, profile: str | KvmProfile | None = None) -> MsrFilter:
    """Read a filter file (TOML by its suffix, else JSON)."""
    path = Path(path)
    try:
        raw = read_bounded(path, MAX_FILTER_BYTES)
    except OSError as exc:
        raise FilterFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FilterFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return loads(text, path, toml=kind_of(path) == "toml", profile=profile)
