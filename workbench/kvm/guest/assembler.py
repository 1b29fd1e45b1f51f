"""Guest programs: Intel-syntax text assembled by GNU `as` in a subprocess, and listings.

The assembler runs out of process so a typo can only ever produce an `AssemblyError` with
its line number, never take the workbench down. A `Program` keeps both the source and the
machine code, so scenario files and recordings replay without an assembler.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import capstone

from workbench.kvm.guest.layout import GUEST_CODE_BASE, GUEST_CODE_LIMIT

_PRELUDE = ".intel_syntax noprefix\n.code64\n"
_PRELUDE_LINES = _PRELUDE.count("\n")
_ERROR_LINE = re.compile(r"^[^:]*:(\d+): (?:Error|Warning): (.*)$")


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

    def instruction_at(self, address: int) -> Instruction | None:
        for insn in self.listing:
            if insn.address == address:
                return insn
        return None


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


def assemble(text: str, base: int = GUEST_CODE_BASE, timeout: float = 20.0) -> Program:
    """Assemble Intel-syntax x86-64 `text` into a Program loaded at `base`."""
    with tempfile.TemporaryDirectory(prefix="workbench-as-") as tmp:
        src, obj, out = Path(tmp, "guest.s"), Path(tmp, "guest.o"), Path(tmp, "guest.bin")
        src.write_text(_PRELUDE + text + "\n")
        try:
            result = subprocess.run(
                [_find_tool("as"), "--64", "-o", str(obj), str(src)],
                capture_output=True, text=True, timeout=timeout, check=False,
            )
        except subprocess.TimeoutExpired:
            raise AssemblyError(f"the assembler did not finish within {timeout} s") from None
        if result.returncode != 0:
            raise _assembly_error(result.stderr)
        copied = subprocess.run(
            [_find_tool("objcopy"), "-O", "binary", "-j", ".text", str(obj), str(out)],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
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
    errors: list[tuple[int, str]] = []
    for raw in stderr.splitlines():
        match = _ERROR_LINE.match(raw.strip())
        if match and "Error" in raw:
            errors.append((max(int(match.group(1)) - _PRELUDE_LINES, 0), match.group(2)))
    if not errors:
        return AssemblyError(stderr.strip() or "the assembler failed")
    line, message = errors[0]
    return AssemblyError(message, line, errors)
