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
from dataclasses import dataclass

import unicorn
from unicorn import x86_const as ux
from unicorn.unicorn_py3.unicorn import HOOK_CODE_CFUNC, uclib

from workbench.kvm.guest import fastuc
from workbench.kvm.guest.assembler import Program
from workbench.kvm.guest.image import guest_image
from workbench.kvm.guest.layout import GUEST_MEM_SIZE, GUEST_STACK_TOP, RFLAGS_RESET
from workbench.kvm.guest.pause import PauseRequest
from workbench.kvm.regs import REG_NAMES
from workbench.values import parse_int

_UC_REG = {name: getattr(ux, f"UC_X86_REG_{name.upper()}") for name in REG_NAMES}
RAX, RBX, RCX, RDX, R14, R15, RIP = (
    _UC_REG[n] for n in ("rax", "rbx", "rcx", "rdx", "r14", "r15", "rip")
)
_ARCH_EXTRA = {
    "fs_base": ux.UC_X86_REG_FS_BASE, "gs_base": ux.UC_X86_REG_GS_BASE,
    "mxcsr": ux.UC_X86_REG_MXCSR,
    **{f"xmm{i}": getattr(ux, f"UC_X86_REG_XMM{i}") for i in range(16)},
}
_UNTIL_NEVER = ctypes.c_uint64(0xFFFF_FFFF_FFFF_FFFF)
_NO_TIMEOUT = ctypes.c_uint64(0)


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
    SOFT_INT = 9  # INT n / INT3 / INT1: intercepted only where the vendor module traps them


_MNEMONICS = {
    "rdmsr": Special.RDMSR, "wrmsr": Special.WRMSR, "hlt": Special.HLT, "in": Special.IN,
    "out": Special.OUT, "cpuid": Special.CPUID, "rdtsc": Special.RDTSC,
    "rdtscp": Special.RDTSCP,
}
_SOFT_INT_MNEMONICS = {"int": Special.SOFT_INT, "int3": Special.SOFT_INT,
                       "int1": Special.SOFT_INT}
_IO_SIZE = {"al": 1, "ax": 2, "eax": 4}


@dataclass(frozen=True, slots=True)
class SpecialInsn:
    kind: Special
    address: int
    size: int
    io_size: int = 0          # IN/OUT operand size in bytes
    io_port: int | None = None  # immediate port, None = the port is in DX


class Stop(enum.IntEnum):
    SHUTDOWN = 2   # an exception the runtime does not handle (triple fault on real hardware)
    PAUSED = 3     # pause() from another thread
    STEPPED = 4    # step() retired one ordinary instruction
    BREAKPOINT = 5  # at an address breakpoint, not yet executed
    BUDGET = 6     # run(limit=N) executed N instructions without reaching an intercept


def scan(program: Program, soft_ints: bool = False) -> dict[int, SpecialInsn]:
    """The intercepted instructions of `program`, by address (linear disassembly); with
    `soft_ints`, software interrupts too."""
    mnemonics = _MNEMONICS | _SOFT_INT_MNEMONICS if soft_ints else _MNEMONICS
    found: dict[int, SpecialInsn] = {}
    for insn in program.listing:
        kind = mnemonics.get(insn.mnemonic)
        if kind is None:
            continue
        if kind in (Special.IN, Special.OUT):
            ops = [o.strip() for o in insn.op_str.split(",")]
            port_op, data_reg = ops if kind is Special.OUT else reversed(ops)
            port = None if port_op == "dx" else parse_int(port_op)
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

    def __init__(self, program: Program, trap_soft_ints: bool = False) -> None:
        self.program = program
        self.uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_64)
        self.uc.mem_map(0, GUEST_MEM_SIZE)
        for address, data in guest_image(program):
            self.uc.mem_write(address, data)
        self.specials = scan(program, trap_soft_ints)
        self._handle = self.uc._uch
        self._cell = ctypes.c_uint64()
        self._cell_ref = ctypes.byref(self._cell)
        self._pair = (ctypes.c_uint64 * 2)()
        self._pair_ids = (ctypes.c_int * 2)(RAX, RDX)
        self._pair_ptrs = (ctypes.c_void_p * 2)(
            ctypes.addressof(self._pair), ctypes.addressof(self._pair) + 8)
        self._stop_at: int | None = None
        self._breakpoints: dict[int, int] = {}   # address -> Unicorn hook handle
        self._break_at: int | None = None
        self._pass_breakpoint: int | None = None  # resume over this one without stopping
        self.fault: str | None = None
        self._read_buffer: ctypes.Array[ctypes.c_char] | None = None  # read_memory's
        self._pause = PauseRequest(lambda: fastuc.emu_stop(self._handle))
        self._counted = False  # the last emulation counted instructions (see _emulate)
        self._add_special_hooks()
        self.uc.hook_add(unicorn.UC_HOOK_INTR, self._on_interrupt)
        self.set_regs({name: 0 for name in REG_NAMES} | {
            "rsp": GUEST_STACK_TOP, "rip": program.base, "rflags": RFLAGS_RESET,
        })

    def close(self) -> None:
        """Free Unicorn's RAM and translation buffer now (idempotent). The hooks' bound
        methods tie the engine and this object in a cycle that only the cyclic GC breaks,
        often after the next vCPUs have run out of address space."""
        if self._handle:
            unicorn.Uc.release_handle(self._handle)
            self._handle.value = None   # the engine's own finalizer then skips uc_close

    # --- registers (hot path: direct libunicorn calls) -----------------------------------
    def reg(self, uc_reg: int) -> int:
        fastuc.reg_read(self._handle, uc_reg, self._cell_ref)
        return self._cell.value

    def set_reg(self, uc_reg: int, value: int) -> None:
        self._cell.value = value
        fastuc.reg_write(self._handle, uc_reg, self._cell_ref)

    def set_edx_eax(self, value: int) -> None:
        """RAX = value[31:0], RDX = value[63:32], upper halves zeroed, in one library call."""
        pair = self._pair
        pair[0] = value & 0xFFFF_FFFF
        pair[1] = value >> 32 & 0xFFFF_FFFF
        fastuc.reg_write_batch(self._handle, self._pair_ids, self._pair_ptrs, 2)

    def get_regs(self) -> dict[str, int]:
        return {name: self.reg(uc) for name, uc in _UC_REG.items()}

    def set_regs(self, regs: dict[str, int]) -> None:
        for name, value in regs.items():
            if name not in _UC_REG:
                raise ValueError(f"unknown register {name!r} (known: {', '.join(REG_NAMES)})")
            self.set_reg(_UC_REG[name], value & 0xFFFF_FFFF_FFFF_FFFF)

    def arch_state(self) -> dict[str, int]:
        """The architectural registers a guest program can observe, by name: GPRs, RIP,
        RFLAGS, FS/GS base, MXCSR and XMM0-15. Plain ints, so they can go into a file
        (a raw Unicorn context cannot: it is host memory)."""
        state = self.get_regs()
        for name in _ARCH_EXTRA:
            state[name] = self.uc.reg_read(_ARCH_EXTRA[name])
        return state

    def set_arch_state(self, state: dict[str, int]) -> None:
        unknown = set(state) - set(_UC_REG) - set(_ARCH_EXTRA)
        if unknown:
            raise ValueError(f"unknown register(s): {', '.join(sorted(unknown))}")
        self.set_regs({k: v for k, v in state.items() if k in _UC_REG})
        for name, value in state.items():
            if name in _ARCH_EXTRA:
                self.uc.reg_write(_ARCH_EXTRA[name], value)

    def save_context(self) -> unicorn.UcContext:
        """Every CPU register Unicorn keeps (GPRs, segments, flags, x87/SSE, MSRs)."""
        return self.uc.context_save()

    def restore_context(self, context: unicorn.UcContext) -> None:
        self.uc.context_restore(context)

    def read_memory(self, address: int, size: int) -> bytes:
        """One library call into a buffer kept for it: the binding allocates and copies
        anew, 40 ms for guest RAM, which checkpoints and the debugger's snapshots read."""
        if not 0 <= size <= GUEST_MEM_SIZE:
            raise unicorn.UcError(unicorn.UC_ERR_READ_UNMAPPED)
        if self._read_buffer is None:
            self._read_buffer = ctypes.create_string_buffer(GUEST_MEM_SIZE)
        status = fastuc.mem_read(self._handle, ctypes.c_uint64(address), self._read_buffer,
                                 ctypes.c_size_t(size))
        if status:
            raise unicorn.UcError(status)
        return bytes(memoryview(self._read_buffer)[:size])

    def write_memory(self, address: int, data: bytes) -> None:
        self.uc.mem_write(address, data)

    # --- execution -----------------------------------------------------------------------
    def _add_special_hooks(self) -> None:
        """One raw ctypes code hook per intercepted address, bypassing the binding's
        callback wrapper: it runs once per exit, so every Python frame counts."""
        handle, emu_stop = self._handle, fastuc.emu_stop

        def on_special(_uc: object, address: int, _size: int, _data: object) -> None:
            self._stop_at = address
            emu_stop(handle)

        self._special_hook = HOOK_CODE_CFUNC(on_special)
        for address in self.specials:
            hook = ctypes.c_size_t()
            status = uclib.uc_hook_add(handle, ctypes.byref(hook), unicorn.UC_HOOK_CODE,
                                       self._special_hook, None, address, address)
            if status:
                raise unicorn.UcError(status)

    def set_breakpoint(self, address: int, enabled: bool) -> None:
        """An address breakpoint: run() stops before the instruction there."""
        if enabled and address not in self._breakpoints:
            self._breakpoints[address] = self.uc.hook_add(
                unicorn.UC_HOOK_CODE, self._on_breakpoint, begin=address, end=address)
            # Unicorn calls code hooks only from blocks translated after they were added:
            # a block already holding the address would run straight over the breakpoint.
            self.uc.ctl_remove_cache(address, address + 1)
        elif not enabled and address in self._breakpoints:
            self.uc.hook_del(self._breakpoints.pop(address))

    @property
    def breakpoints(self) -> frozenset[int]:
        return frozenset(self._breakpoints)

    def breakpoint_state(self) -> tuple[frozenset[int], int | None]:
        """The breakpoints and the one a resume must step over, for checkpoints."""
        return frozenset(self._breakpoints), self._pass_breakpoint

    def restore_breakpoint_state(self, state: tuple[frozenset[int], int | None]) -> None:
        addresses, passing = state
        for address in set(self._breakpoints) - addresses:
            self.set_breakpoint(address, False)
        for address in addresses:
            self.set_breakpoint(address, True)
        self._pass_breakpoint = passing

    def _on_breakpoint(self, uc: unicorn.Uc, address: int, size: int, data: object) -> None:
        if address == self._pass_breakpoint:
            self._pass_breakpoint = None
            return
        self._break_at = address
        fastuc.emu_stop(self._handle)

    def _on_interrupt(self, uc: unicorn.Uc, intno: int, user_data: object) -> None:
        self.fault = f"exception or interrupt vector {intno}"
        uc.emu_stop()

    def cancel_pause(self) -> None:
        """Forget a pause request that arrived when no run was in progress."""
        self._pause.cancel()

    def pause(self) -> None:
        """Ask a run in another thread to stop at the next instruction boundary."""
        self._pause.ask()

    def run(self, start: int | None = None, limit: int = 0) -> SpecialInsn | Stop:
        """Run from `start` (default: RIP) until an intercepted instruction (returned, not
        yet executed), a fault (Stop.SHUTDOWN, see `fault`), pause() (Stop.PAUSED) or, with
        `limit`, that many instructions (Stop.BUDGET; Unicorn counts them, so where the
        guest stops is deterministic). Passing `start` saves writing RIP."""
        rip = self.reg(RIP) if start is None else start
        if self._pause.take():   # as kvm_run.immediate_exit: not even an intercept runs
            self.set_reg(RIP, rip)
            return Stop.PAUSED
        if self._breakpoints and rip in self._breakpoints and self._pass_breakpoint != rip:
            self.set_reg(RIP, rip)
            self._pass_breakpoint = rip   # reported once; the next run goes over it
            return Stop.BREAKPOINT
        special = self.specials.get(rip)
        if special is not None:
            if start is not None:
                self.set_reg(RIP, rip)
            self._pass_breakpoint = None
            return special
        return self._emulate(rip, limit, Stop.BUDGET)

    def step(self) -> SpecialInsn | Stop:
        """Execute one ordinary instruction (Stop.STEPPED), or return the intercepted one
        at RIP; faults and pauses as run()."""
        rip = self.reg(RIP)
        special = self.specials.get(rip)
        if special is not None:
            return special
        stop = self._emulate(rip, 1, Stop.STEPPED)
        if stop.__class__ is SpecialInsn or (stop is Stop.PAUSED and self.reg(RIP) != rip):
            return Stop.STEPPED
        return stop

    def _emulate(self, rip: int, count: int, counted_out: Stop) -> SpecialInsn | Stop:
        self._stop_at = None
        self._break_at = None
        self.fault = None
        if not self._pause.begin():
            self._pause.take()
            self.set_reg(RIP, rip)
            return Stop.PAUSED
        if count and not self._counted:
            # Unicorn counts instructions with a code hook it adds for a counted run
            # without retranslating: blocks from an uncounted run would execute uncounted,
            # so a step or budget would run on to the next hooked instruction, a distance
            # that depends on which blocks earlier runs happened to translate.
            self.uc.ctl_flush_tb()
        self._counted = count > 0
        try:
            status = fastuc.emu_start(self._handle, ctypes.c_uint64(rip), _UNTIL_NEVER,
                                      _NO_TIMEOUT, ctypes.c_size_t(count))
        finally:
            self._pause.end()
        if status:
            self.fault = f"{unicorn.UcError(status)} at {self.reg(RIP):#x}"
            return Stop.SHUTDOWN
        if self.fault is not None:
            return Stop.SHUTDOWN
        if self._stop_at in self._breakpoints and self._stop_at != self._pass_breakpoint:
            self._break_at = self._stop_at   # an intercepted instruction is a breakpoint too
        if self._break_at is not None:
            self._pass_breakpoint = self._break_at
            return Stop.BREAKPOINT
        self._pass_breakpoint = None
        if self._stop_at is not None:
            return self.specials[self._stop_at]
        if count and (counted_out is Stop.STEPPED or not self._pause.asked):
            return counted_out   # a pause that lands as the count runs out is a pause
        self._pause.take()
        return Stop.PAUSED
