"""The guest CPU of the sim engine: Unicorn running x86-64 code, stopped where KVM acts.

Unicorn 2.1 cannot hook RDMSR/WRMSR, so the program is scanned once (capstone) and a code
hook is placed on exactly the addresses of the instructions KVM intercepts (RDMSR, WRMSR,
HLT, IN, OUT, CPUID, RDTSC, RDTSCP): it stops emulation before the instruction runs and the
KVM layer emulates it. Every other instruction runs at Unicorn's full speed. Register access
goes straight to libunicorn (uc_reg_read/uc_reg_write), four times cheaper than the Python
binding's wrappers, because it sits on the per-exit hot path.
"""

from __future__ import annotations

import ctypes
import enum
import threading
from dataclasses import dataclass

import unicorn
from unicorn import x86_const as ux
from unicorn.unicorn_py3.unicorn import uclib

from workbench.kvm.guest.assembler import Program
from workbench.kvm.guest.image import guest_image
from workbench.kvm.guest.layout import GUEST_MEM_SIZE, GUEST_STACK_TOP
from workbench.kvm.regs import REG_NAMES

_UC_REG = {name: getattr(ux, f"UC_X86_REG_{name.upper()}") for name in REG_NAMES}
RAX, RBX, RCX, RDX, R14, R15, RIP = (
    _UC_REG[n] for n in ("rax", "rbx", "rcx", "rdx", "r14", "r15", "rip")
)
_UNTIL_NEVER = 0xFFFF_FFFF_FFFF_FFFF
RFLAGS_RESET = 0x2


class Special(enum.IntEnum):
    """Instructions KVM intercepts and the sim therefore emulates in Python."""

    RDMSR = 1
    WRMSR = 2
    HLT = 3
    IN = 4
    OUT = 5
    CPUID = 6
    RDTSC = 7
    RDTSCP = 8


_MNEMONICS = {
    "rdmsr": Special.RDMSR, "wrmsr": Special.WRMSR, "hlt": Special.HLT, "in": Special.IN,
    "out": Special.OUT, "cpuid": Special.CPUID, "rdtsc": Special.RDTSC,
    "rdtscp": Special.RDTSCP,
}
_IO_SIZE = {"al": 1, "ax": 2, "eax": 4}


@dataclass(frozen=True, slots=True)
class SpecialInsn:
    kind: Special
    address: int
    size: int
    io_size: int = 0          # IN/OUT operand size in bytes
    io_port: int | None = None  # immediate port, None = the port is in DX


class Stop(enum.IntEnum):
    SPECIAL = 1    # at a SpecialInsn, not yet executed
    SHUTDOWN = 2   # an exception the runtime does not handle (triple fault on real hardware)
    PAUSED = 3     # pause() from another thread
    STEPPED = 4    # step() retired one ordinary instruction


def scan(program: Program) -> dict[int, SpecialInsn]:
    """The intercepted instructions of `program`, by address (linear disassembly)."""
    found: dict[int, SpecialInsn] = {}
    for insn in program.listing:
        kind = _MNEMONICS.get(insn.mnemonic)
        if kind is None:
            continue
        if kind in (Special.IN, Special.OUT):
            ops = [o.strip() for o in insn.op_str.split(",")]
            port_op, data_reg = ops if kind is Special.OUT else reversed(ops)
            port = None if port_op == "dx" else int(port_op, 0)
            found[insn.address] = SpecialInsn(kind, insn.address, insn.size,
                                              _IO_SIZE[data_reg], port)
        else:
            found[insn.address] = SpecialInsn(kind, insn.address, insn.size)
    return found


class GuestCpu:
    """One vCPU's architectural state on Unicorn, with the runtime's RAM image loaded.

    Unicorn does not walk the image's page tables or vector through its IDT: it maps RAM
    flat and the KVM layer plays the #GP handler, so only the memory contents are shared.
    """

    def __init__(self, program: Program) -> None:
        self.program = program
        self.uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_64)
        self.uc.mem_map(0, GUEST_MEM_SIZE)
        for address, data in guest_image(program):
            self.uc.mem_write(address, data)
        self.specials = scan(program)
        self._handle = self.uc._uch
        self._cell = ctypes.c_uint64()
        self._cell_ref = ctypes.byref(self._cell)
        self._stop_at: int | None = None
        self._fault: str | None = None
        self._pause = threading.Event()
        for address in self.specials:
            self.uc.hook_add(unicorn.UC_HOOK_CODE, self._on_special, begin=address, end=address)
        self.uc.hook_add(unicorn.UC_HOOK_INTR, self._on_interrupt)
        self.set_regs({name: 0 for name in REG_NAMES} | {
            "rsp": GUEST_STACK_TOP, "rip": program.base, "rflags": RFLAGS_RESET,
        })

    # --- registers (hot path: direct libunicorn calls) -----------------------------------
    def reg(self, uc_reg: int) -> int:
        uclib.uc_reg_read(self._handle, uc_reg, self._cell_ref)
        return self._cell.value

    def set_reg(self, uc_reg: int, value: int) -> None:
        self._cell.value = value
        uclib.uc_reg_write(self._handle, uc_reg, self._cell_ref)

    def get_regs(self) -> dict[str, int]:
        return {name: self.reg(uc) for name, uc in _UC_REG.items()}

    def set_regs(self, regs: dict[str, int]) -> None:
        for name, value in regs.items():
            if name not in _UC_REG:
                raise ValueError(f"unknown register {name!r} (known: {', '.join(REG_NAMES)})")
            self.set_reg(_UC_REG[name], value & 0xFFFF_FFFF_FFFF_FFFF)

    def read_memory(self, address: int, size: int) -> bytes:
        return bytes(self.uc.mem_read(address, size))

    def write_memory(self, address: int, data: bytes) -> None:
        self.uc.mem_write(address, data)

    # --- execution -----------------------------------------------------------------------
    def _on_special(self, uc: unicorn.Uc, address: int, size: int, user_data: object) -> None:
        self._stop_at = address
        uc.emu_stop()

    def _on_interrupt(self, uc: unicorn.Uc, intno: int, user_data: object) -> None:
        self._fault = f"exception or interrupt vector {intno}"
        uc.emu_stop()

    def pause(self) -> None:
        """Ask a run in another thread to stop at the next instruction boundary."""
        self._pause.set()
        self.uc.emu_stop()

    def run(self) -> tuple[Stop, SpecialInsn | str | None]:
        """Run from RIP until an intercepted instruction, a fault or pause()."""
        rip = self.reg(RIP)
        special = self.specials.get(rip)
        if special is not None:
            return Stop.SPECIAL, special
        return self._emulate(rip, 0)

    def step(self) -> tuple[Stop, SpecialInsn | str | None]:
        """Execute one ordinary instruction, or report the intercepted one at RIP."""
        rip = self.reg(RIP)
        special = self.specials.get(rip)
        if special is not None:
            return Stop.SPECIAL, special
        stop, detail = self._emulate(rip, 1)
        if stop is Stop.SPECIAL or (stop is Stop.PAUSED and self.reg(RIP) != rip):
            return Stop.STEPPED, None
        return stop, detail

    def _emulate(self, rip: int, count: int) -> tuple[Stop, SpecialInsn | str | None]:
        self._stop_at = None
        self._fault = None
        if self._pause.is_set():
            self._pause.clear()
            return Stop.PAUSED, None
        try:
            self.uc.emu_start(rip, _UNTIL_NEVER, 0, count)
        except unicorn.UcError as exc:
            return Stop.SHUTDOWN, f"{exc} at {self.reg(RIP):#x}"
        if self._fault is not None:
            return Stop.SHUTDOWN, self._fault
        if self._stop_at is not None:
            return Stop.SPECIAL, self.specials[self._stop_at]
        if count:
            return Stop.STEPPED, None
        self._pause.clear()
        return Stop.PAUSED, None
