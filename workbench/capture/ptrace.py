"""The Linux calls `workbench capture` needs that Python's `os` lacks: ptrace and seccomp.

Only x86-64 Linux: the seccomp filter checks the audit arch, and the syscall numbers and
`ptrace_syscall_info` layout are x86-64's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
_libc.ptrace.restype = ctypes.c_long
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                        ctypes.c_ulong]
_libc.prctl.restype = ctypes.c_int

PTRACE_TRACEME = 0
PTRACE_CONT = 7
PTRACE_KILL = 8
PTRACE_SYSCALL = 24
PTRACE_SETOPTIONS = 0x4200
PTRACE_GET_SYSCALL_INFO = 0x420E

PTRACE_O_TRACESYSGOOD = 1
PTRACE_O_TRACEFORK = 1 << 1
PTRACE_O_TRACEVFORK = 1 << 2
PTRACE_O_TRACECLONE = 1 << 3
PTRACE_O_TRACEEXEC = 1 << 4
PTRACE_O_TRACEEXIT = 1 << 6
PTRACE_O_TRACESECCOMP = 1 << 7
PTRACE_O_EXITKILL = 1 << 20
# Every descendant is followed: the seccomp filter is inherited, and an untraced process
# under SECCOMP_RET_TRACE would see ENOSYS from ioctl(2).
OPTIONS = (PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK
           | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT
           | PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL)

PTRACE_EVENT_FORK, PTRACE_EVENT_VFORK, PTRACE_EVENT_CLONE = 1, 2, 3
PTRACE_EVENT_EXEC, PTRACE_EVENT_EXIT, PTRACE_EVENT_SECCOMP = 4, 6, 7

SYSCALL_INFO_ENTRY, SYSCALL_INFO_EXIT, SYSCALL_INFO_SECCOMP = 1, 2, 3

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_AUDIT_ARCH_X86_64 = 0xC000003E
_SYS_IOCTL = 16
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_TRACE = 0x7FF00000
# BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_RET_K = 0x06
# struct seccomp_data: nr at 0, arch at 4, instruction_pointer at 8, args[] from 16.
_OFF_NR, _OFF_ARCH, _OFF_ARG1_LOW = 0, 4, 24


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def _check(result: int, what: str) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def ioctl_filter(requests: list[int]) -> list[tuple[int, int, int, int]]:
    """BPF program: ioctl(2) with one of `requests` -> SECCOMP_RET_TRACE, all else ALLOW.

    The request is compared on its low 32 bits, as the kernel's ioctl takes an unsigned int.
    Every other syscall and every other ioctl runs at full speed, without a stop."""
    allow = (_RET_K, 0, 0, _SECCOMP_RET_ALLOW)
    trace = (_RET_K, 0, 0, _SECCOMP_RET_TRACE)
    n = len(requests)
    prog = [(_LD_W_ABS, 0, 0, _OFF_ARCH), (_JEQ_K, 1, 0, _AUDIT_ARCH_X86_64), allow,
            (_LD_W_ABS, 0, 0, _OFF_NR), (_JEQ_K, 1, 0, _SYS_IOCTL), allow,
            (_LD_W_ABS, 0, 0, _OFF_ARG1_LOW)]
    for i, request in enumerate(requests):
        # Jump to `trace` (after the remaining compares and the `allow`) on a match.
        prog.append((_JEQ_K, n - i, 0, request & 0xFFFFFFFF))
    prog += [allow, trace]
    return prog


def install_seccomp(program: list[tuple[int, int, int, int]]) -> None:
    """Install a seccomp filter on the calling thread (the child, before exec)."""
    array = (_SockFilter * len(program))(*[_SockFilter(*ins) for ins in program])
    fprog = _SockFprog(len(program), array)
    if os.geteuid() != 0:   # needed without CAP_SYS_ADMIN
        _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, None, 0, 0), "prctl(NO_NEW_PRIVS)")
    _check(_libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0),
           "prctl(SET_SECCOMP)")


def ptrace(request: int, pid: int, addr: int = 0, data: int = 0) -> int:
    return _check(_libc.ptrace(request, pid, addr, data), f"ptrace({request:#x}, {pid})")


def traceme() -> None:
    ptrace(PTRACE_TRACEME, 0)


def resume(pid: int, signal: int = 0, syscall_exit: bool = False) -> bool:
    """Restart a stopped tracee; False when it is already gone (killed meanwhile)."""
    request = PTRACE_SYSCALL if syscall_exit else PTRACE_CONT
    if _libc.ptrace(request, pid, 0, signal) == -1:
        if ctypes.get_errno() == 3:   # ESRCH: it died while stopped
            return False
        _check(-1, f"ptrace(resume, {pid})")
    return True


# struct ptrace_syscall_info: op u8, pad, arch u32, ip u64, sp u64, then the union
_INFO_SIZE = 88
_info_buf = ctypes.create_string_buffer(_INFO_SIZE)
_HEAD = struct.Struct("<B3xIQQ")
_SECCOMP = struct.Struct("<Q6Q")
_EXIT = struct.Struct("<qB")


def syscall_info(pid: int) -> tuple[int, tuple[int, ...]]:
    """(op, values): for SECCOMP/ENTRY (nr, arg0..arg5), for EXIT (rval, is_error)."""
    _check(_libc.ptrace(PTRACE_GET_SYSCALL_INFO, pid, _INFO_SIZE, ctypes.addressof(_info_buf)),
           f"ptrace(GET_SYSCALL_INFO, {pid})")
    op = _info_buf[0][0]
    if op == SYSCALL_INFO_EXIT:
        return op, _EXIT.unpack_from(_info_buf, _HEAD.size)
    return op, _SECCOMP.unpack_from(_info_buf, _HEAD.size)
