"""User-space MSR exits per second: the sim engine vs a bare Unicorn stop/start loop.

All run the same guest code (`mov ecx, 0x35; rdmsr; jmp`), alternately in short rounds
so that machine noise hits them alike. The bare loops stop at the rdmsr, read ECX, put
the answer in EDX:EAX and step past it: once through the Python binding's calls, once
through the raw library calls the sim itself uses (the strict baseline). The sim does
the same plus KVM's work: the filter, the in-kernel MSR handler, the UNKNOWN exit record
and its completion on re-entry.
"""

from __future__ import annotations

import ctypes
import statistics
import time

import unicorn
from unicorn import x86_const as ux
from unicorn.unicorn_py3.unicorn import HOOK_CODE_CFUNC, uclib

import workbench.kvm
from workbench.kvm import uapi
from workbench.kvm.guest import assemble, fastuc
from workbench.kvm.guest.layout import GUEST_MEM_SIZE

LOOP = "loop:\n    mov ecx, 0x35\n    rdmsr\n    jmp loop\n"
ANSWER = 0x0000_0004_0000_0008


def _bare_engine(code: bytes, base: int) -> tuple[unicorn.Uc, int, object]:
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_64)
    uc.mem_map(0, GUEST_MEM_SIZE)
    uc.mem_write(base, code)
    return uc, base + code.index(b"\x0f\x32"), uc._uch


def bare_binding(code: bytes, base: int, exits: int) -> float:
    """The loop as the Python binding invites one to write it: hook_add, emu_start,
    reg_read/reg_write. Seconds for `exits` answered rdmsr stops."""
    uc, rdmsr, _ = _bare_engine(code, base)
    uc.hook_add(unicorn.UC_HOOK_CODE, lambda u, a, s, d: u.emu_stop(), begin=rdmsr, end=rdmsr)
    start_at = base
    began = time.perf_counter()
    for _ in range(exits):
        uc.emu_start(start_at, 0xFFFF_FFFF_FFFF_FFFF)
        uc.reg_read(ux.UC_X86_REG_RCX)
        uc.reg_write(ux.UC_X86_REG_RAX, ANSWER & 0xFFFF_FFFF)
        uc.reg_write(ux.UC_X86_REG_RDX, ANSWER >> 32)
        start_at = rdmsr + 2
    return time.perf_counter() - began


def bare_raw(code: bytes, base: int, exits: int) -> float:
    """The least any Unicorn-based emulation of this exit can do, with the same raw library
    calls the sim uses: stop at the rdmsr, read ECX, put the answer in EDX:EAX, go on."""
    uc, rdmsr, handle = _bare_engine(code, base)
    stop = HOOK_CODE_CFUNC(lambda _u, _a, _s, _d: fastuc.emu_stop(handle))
    hook = ctypes.c_size_t()
    uclib.uc_hook_add(handle, ctypes.byref(hook), unicorn.UC_HOOK_CODE, stop, None, rdmsr, rdmsr)
    cell, pair = ctypes.c_uint64(), (ctypes.c_uint64 * 2)()
    ids = (ctypes.c_int * 2)(ux.UC_X86_REG_RAX, ux.UC_X86_REG_RDX)
    ptrs = (ctypes.c_void_p * 2)(ctypes.addressof(pair), ctypes.addressof(pair) + 8)
    ref, until, zero = ctypes.byref(cell), ctypes.c_uint64(2**64 - 1), ctypes.c_uint64(0)
    count = ctypes.c_size_t(0)
    start_at = base
    began = time.perf_counter()
    for _ in range(exits):
        fastuc.emu_start(handle, ctypes.c_uint64(start_at), until, zero, count)
        fastuc.reg_read(handle, ux.UC_X86_REG_RCX, ref)
        pair[0], pair[1] = ANSWER & 0xFFFF_FFFF, ANSWER >> 32
        fastuc.reg_write_batch(handle, ids, ptrs, 2)
        start_at = rdmsr + 2
    return time.perf_counter() - began


def sim_engine(exits: int) -> float:
    """Seconds for `exits` UNKNOWN exits through the sim's public API."""
    vm = workbench.kvm.open("sim").create_vm()
    vm.enable_cap(uapi.KVM_CAP_X86_USER_SPACE_MSR, uapi.KVM_MSR_EXIT_REASON_UNKNOWN)
    vcpu = vm.create_vcpu(assemble(LOOP))
    began = time.perf_counter()
    for _ in range(exits):
        exit_ = vcpu.run()
        exit_.msr.data = ANSWER
    return time.perf_counter() - began


def measure(rounds: int = 7, exits: int = 20_000) -> dict[str, float]:
    program = assemble(LOOP)
    rates: dict[str, list[float]] = {"binding": [], "raw": [], "sim": []}
    for _ in range(rounds):
        rates["binding"].append(exits / bare_binding(program.code, program.base, exits))
        rates["raw"].append(exits / bare_raw(program.code, program.base, exits))
        rates["sim"].append(exits / sim_engine(exits))
    median = {name: statistics.median(values) for name, values in rates.items()}
    return {**{f"{k}_exits_per_s": v for k, v in median.items()},
            "ratio_vs_binding": median["sim"] / median["binding"],
            "ratio_vs_raw": median["sim"] / median["raw"]}


def main() -> None:
    f = measure()
    print(f"bare Unicorn, Python binding calls: {f['binding_exits_per_s']:>10,.0f} exits/s")
    print(f"bare Unicorn, raw library calls:    {f['raw_exits_per_s']:>10,.0f} exits/s")
    print(f"sim engine (UNKNOWN exit + answer): {f['sim_exits_per_s']:>10,.0f} exits/s")
    print(f"ratio sim / bare (binding):         {f['ratio_vs_binding']:.2f}")
    print(f"ratio sim / bare (raw calls):       {f['ratio_vs_raw']:.2f}  (target >= 0.8)")


if __name__ == "__main__":
    main()
