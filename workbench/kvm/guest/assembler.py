"""Guest programs: Intel-syntax text assembled by GNU `as` in a subprocess, and listings.

The assembler runs out of process so a typo can only ever produce an `AssemblyError` with
its line number, never take the workbench down. A `Program` keeps both the source and the
machine code, so scenario files and recordings replay without an assembler.

Guest source comes from files other people write, so it may not reach the machine that
assembles it: `directives.check_directives` refuses `.incbin`, `.include` and everything
else outside an allow-list before `as` runs; `as` then runs in an empty directory with `-I`
pointing at it, and under limits on the bytes it may write, its CPU time, its address
space and the wall-clock time (`.fill 0x40000000` would otherwise write 1 GiB).
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import capstone

from workbench.kvm.guest.directives import check_directives
from workbench.kvm.guest.layout import GUEST_CODE_BASE, GUEST_CODE_LIMIT

_PRELUDE = ".intel_syntax noprefix\n.code64\n"
_PRELUDE_LINES = _PRELUDE.count("\n")
_ERROR_LINE = re.compile(r"^[^:]*:(\d+): (Error|Fatal error|Warning): (.*)$")
MAX_OUTPUT = 16 << 20      # bytes `as` or `objcopy` may write (the code area is 1 MiB)
MAX_CPU_SECONDS = 10
MAX_ADDRESS_SPACE = 1 << 30
_MAX_ERRORS = 100


class AssemblyError(ValueError):
    """The program does not assemble; `line` is 1-based in the user's text (0 = unknown)."""

    def __init__(self, message: str, line: int = 0, errors: list[tuple[int, str]] | None = None):
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.errors = errors or [(line, message)]


@dataclass(frozen=True)
class Instruction:
    address: int
    size: int
    mnemonic: str
    op_str: str
    raw: bytes

    @property
    def text(self) -> str:
        return f"{self.mnemonic} {self.op_str}".strip()


@dataclass(frozen=True)
class Program:
    """Machine code loaded at `base`, and the source it came from (if any)."""

    code: bytes
    source: str = ""
    base: int = GUEST_CODE_BASE

    def __post_init__(self) -> None:
        if not self.code:
            raise ValueError("program: no machine code")
        if self.base + len(self.code) > GUEST_CODE_LIMIT or self.base < GUEST_CODE_BASE:
            raise ValueError(
                f"program: {len(self.code)} bytes at {self.base:#x} do not fit the code area "
                f"[{GUEST_CODE_BASE:#x}, {GUEST_CODE_LIMIT:#x})"
            )

    @cached_property
    def listing(self) -> tuple[Instruction, ...]:
        """Linear disassembly (capstone); undecodable bytes appear as `.byte`."""
        return tuple(disassemble(self.code, self.base))


def disassemble(code: bytes, base: int) -> list[Instruction]:
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    out: list[Instruction] = []
    offset = 0
    while offset < len(code):
        decoded = next(md.disasm(code[offset:], base + offset, count=1), None)
        if decoded is None:
            out.append(Instruction(base + offset, 1, ".byte", f"{code[offset]:#04x}",
                                   code[offset:offset + 1]))
            offset += 1
            continue
        out.append(Instruction(decoded.address, decoded.size, decoded.mnemonic,
                               decoded.op_str, bytes(decoded.bytes)))
        offset += decoded.size
    return out


def _find_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise AssemblyError(
            f"GNU `{name}` (binutils) is not installed; `make run` installs it, "
            "or apt-get install binutils"
        )
    return path


def _limits() -> list[tuple[int, int]]:
    """(resource, limit) pairs for the child, never above the hard limits we already have."""
    wanted = [(resource.RLIMIT_FSIZE, MAX_OUTPUT), (resource.RLIMIT_CPU, MAX_CPU_SECONDS),
              (resource.RLIMIT_AS, MAX_ADDRESS_SPACE)]
    out = []
    for which, value in wanted:
        hard = resource.getrlimit(which)[1]
        out.append((which, value if hard == resource.RLIM_INFINITY else min(value, hard)))
    return out


def _run_bounded(argv: list[str], cwd: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a binutils tool in `cwd` under the output, CPU and memory limits; C messages."""
    limits = _limits()

    def limit_child() -> None:   # runs in the child between fork and exec: setrlimit only
        for which, value in limits:
            resource.setrlimit(which, (value, value))

    env = {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C"}
    try:
        result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                                errors="replace", timeout=timeout, check=False,
                                preexec_fn=limit_child)
    except subprocess.TimeoutExpired:
        raise AssemblyError(f"the assembler did not finish within {timeout} s") from None
    if result.returncode == -signal.SIGXFSZ:
        raise AssemblyError(f"the program's output exceeds {MAX_OUTPUT >> 20} MiB "
                            f"(the code area is {(GUEST_CODE_LIMIT - GUEST_CODE_BASE) >> 20} MiB)")
    if result.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise AssemblyError(f"the assembler used more than {MAX_CPU_SECONDS} s of CPU time")
    return result


def assemble(text: str, base: int = GUEST_CODE_BASE, timeout: float = 20.0) -> Program:
    """Assemble Intel-syntax x86-64 `text` into a Program loaded at `base`."""
    refused = check_directives(text)
    if refused is not None:
        raise AssemblyError(refused[1], refused[0])
    with tempfile.TemporaryDirectory(prefix="workbench-as-") as tmp:
        empty = Path(tmp, "empty")   # the tools' cwd and the only -I: nothing to find there
        empty.mkdir()
        src, obj, out = Path(tmp, "guest.s"), Path(tmp, "guest.o"), Path(tmp, "guest.bin")
        src.write_text(_PRELUDE + text + "\n")
        result = _run_bounded([_find_tool("as"), "--64", "-I", str(empty), "-o", str(obj),
                               str(src)], str(empty), timeout)
        if result.returncode != 0:
            raise _assembly_error(result.stderr)
        copied = _run_bounded([_find_tool("objcopy"), "-O", "binary", "-j", ".text", str(obj),
                               str(out)], str(empty), timeout)
        if copied.returncode != 0:
            raise AssemblyError(f"objcopy failed: {copied.stderr.strip()}")
        code = out.read_bytes() if out.exists() else b""
    if not code:
        raise AssemblyError("the program assembles to no code")
    try:
        return Program(code=code, source=text, base=base)
    except ValueError as exc:
        raise AssemblyError(str(exc)) from None


def _assembly_error(stderr: str) -> AssemblyError:
    """The first error (or fatal error) with its line in the user's text."""
    errors: list[tuple[int, str]] = []
    for raw in stderr.splitlines():
        match = _ERROR_LINE.match(raw.strip())
        if match and match.group(2) != "Warning" and len(errors) < _MAX_ERRORS:
            errors.append((max(int(match.group(1)) - _PRELUDE_LINES, 0), match.group(3)))
    if not errors:
        if "out of memory" in stderr or "memory exhausted" in stderr:
            return AssemblyError(f"the assembler ran out of memory (the limit is "
                                 f"{MAX_ADDRESS_SPACE >> 20} MiB)")
        lines = [raw.strip() for raw in stderr.splitlines() if raw.strip()]
        return AssemblyError(lines[-1] if lines else "the assembler failed")
    line, message = errors[0]
    return AssemblyError(message, line, errors)
