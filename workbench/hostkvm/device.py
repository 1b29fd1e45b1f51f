"""File descriptors and ioctls on /dev/kvm, and whether this machine can use it at all.

ioctls go through libc via ctypes rather than fcntl.ioctl: the structures are passed by
pointer with no size limit or copy, the GIL is released during KVM_RUN, and an EINTR comes
back to us instead of being retried (PEP 475), so a signal can interrupt a running guest.
"""

from __future__ import annotations

import ctypes
import errno
import os
import weakref
from dataclasses import dataclass

from workbench.kvm import uapi

KVM_DEVICE = "/dev/kvm"

_libc = ctypes.CDLL(None, use_errno=True)
raw_ioctl = _libc.ioctl
raw_ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
raw_ioctl.restype = ctypes.c_int


class HostUnavailable(OSError):  # noqa: N818 - the name the public API promises
    """/dev/kvm cannot be used here; the message says why and what to do."""


def ioctl(fd: int, request: int, arg: object = None, what: str = "") -> int:
    """ioctl(2) with `arg` passed by pointer (structures) or by value (ints).

    Returns the kernel's non-negative result; a failure raises OSError with the kernel's
    errno, so callers see exactly what the ioctl returned.
    """
    pointer = arg if arg is None or isinstance(arg, int) else ctypes.addressof(arg)
    ctypes.set_errno(0)
    result = raw_ioctl(fd, request, pointer)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what or hex(request)}: {os.strerror(code)}")
    return result


@dataclass
class Fd:
    """An owned file descriptor; close() is idempotent so cleanup paths may repeat it, and
    a handle dropped without close() releases it when collected (weakref.finalize)."""

    fd: int
    name: str

    def __post_init__(self) -> None:
        self._release = weakref.finalize(self, os.close, self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            self.fd = -1
            self._release()

    @property
    def closed(self) -> bool:
        return self.fd < 0


def open_kvm() -> Fd:
    """Open /dev/kvm and check its API version, or raise HostUnavailable saying why."""
    try:
        fd = os.open(KVM_DEVICE, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        raise HostUnavailable(exc.errno, _open_failure(exc)) from None
    device = Fd(fd, KVM_DEVICE)
    try:
        version = ioctl(fd, uapi.KVM_GET_API_VERSION, 0, "KVM_GET_API_VERSION")
    except OSError as exc:
        device.close()
        raise HostUnavailable(exc.errno, f"{KVM_DEVICE} does not answer "
                              f"KVM_GET_API_VERSION ({exc.strerror})") from None
    if version != uapi.KVM_API_VERSION:
        device.close()
        raise HostUnavailable(
            errno.ENOTSUP,
            f"{KVM_DEVICE} speaks KVM API version {version}, the workbench needs "
            f"{uapi.KVM_API_VERSION}",
        )
    return device


def _open_failure(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return (f"{KVM_DEVICE} does not exist: load kvm_intel or kvm_amd, and enable "
                "virtualisation (VT-x/AMD-V, or nested virtualisation in a VM)")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (f"{KVM_DEVICE}: permission denied; add this user to the `kvm` group "
                "or run as root")
    if exc.errno in (errno.ENODEV, errno.ENXIO):
        return (f"{KVM_DEVICE} exists but no KVM module is bound to it: the CPU lacks "
                "hardware virtualisation or it is disabled in the firmware")
    return f"{KVM_DEVICE} cannot be opened: {exc.strerror}"


def host_unavailable_reason() -> str | None:
    """None when /dev/kvm opens and speaks API version 12, else the reason it cannot be used."""
    try:
        open_kvm().close()
    except HostUnavailable as exc:
        return exc.strerror
    return None


def host_available() -> bool:
    return host_unavailable_reason() is None
