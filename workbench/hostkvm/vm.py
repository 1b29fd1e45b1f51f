"""The real KVM's system and VM handles, with the same interface as the sim's SimKvm/SimVm.

A VM owns its guest RAM (an anonymous mapping of exactly GUEST_MEM_SIZE in memory slot 0)
and its vCPUs; close() releases them in the order the kernel needs (vCPUs before the VM,
the VM before the memory it maps), and a construction that fails half-way releases what
it had already made.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

from workbench.hostkvm.cpuid import CpuidTuple, set_cpuid_buffer, supported_cpuid
from workbench.hostkvm.device import Fd, ioctl, open_kvm
from workbench.hostkvm.module import host_module
from workbench.hostkvm.msr_filter import filter_argument
from workbench.hostkvm.vcpu import KVM_CAP_SYNC_REGS, HostVcpu, no_checkpoints
from workbench.kvm import uapi
from workbench.kvm.cpuid_rows import checked_rows
from workbench.kvm.engine import ClosedError, SimOnlyError
from workbench.kvm.filter import MsrFilter
from workbench.kvm.guest.assembler import Program
from workbench.kvm.guest.image import guest_image
from workbench.kvm.guest.layout import GUEST_MEM_SIZE, check_ram_range
from workbench.kvm.handles import as_program
from workbench.kvm.profiles import PROFILES, KvmProfile
from workbench.values import U64_MAX

if TYPE_CHECKING:
    from workbench.kvm.msr_exits import MsrAccess


def running_profile() -> str:
    """The profile name of the running kernel: "linux-M.m" from uname's release."""
    major, minor = os.uname().release.split(".")[:2]
    return f"linux-{int(major)}.{int(''.join(c for c in minor if c.isdigit()) or 0)}"


class HostKvm:
    """An open /dev/kvm (raises HostUnavailable, saying why, when it cannot be used)."""

    engine = "host"
    can_model_machine = False  # the running kernel on this machine's CPU, nothing else

    def __init__(self) -> None:
        self._device = open_kvm()
        try:
            self.vcpu_mmap_size = ioctl(self.fd, uapi.KVM_GET_VCPU_MMAP_SIZE, 0,
                                        "KVM_GET_VCPU_MMAP_SIZE")
            # Asked once: a VM outlives its /dev/kvm handle, in KVM and here.
            self.sync_regs = self.check_extension(KVM_CAP_SYNC_REGS)
        except BaseException:
            self.close()
            raise

    @property
    def fd(self) -> int:
        if self._device.closed:
            raise ClosedError("the /dev/kvm handle is closed")
        return self._device.fd

    def check_extension(self, cap: int) -> int:
        """KVM_CHECK_EXTENSION on /dev/kvm: 0 = unsupported, else the cap's value."""
        return ioctl(self.fd, uapi.KVM_CHECK_EXTENSION, cap, "KVM_CHECK_EXTENSION")

    def create_vm(
        self,
        vendor: str | None = None,
        profile: str | None = None,
        irqchip: bool = False,
        cpuid: Iterable[CpuidTuple] | None = None,
    ) -> HostVm:
        """A VM on this kernel: `vendor` (the KVM vendor module) and `profile` may only name
        the running ones."""
        module = host_module()
        if vendor is not None and vendor != module:
            raise ValueError(
                f"vendor: the host engine runs this machine's KVM module, kvm_{module} "
                f"(vendor {module!r}), not {vendor!r}; use the sim engine to model another "
                "vendor"
            )
        running = running_profile()
        if profile is not None and profile != running:
            raise ValueError(
                f"profile: the host engine is the running kernel ({running}), not "
                f"{profile!r}; use the sim engine to model another kernel"
            )
        rows = supported_cpuid() if cpuid is None else checked_rows(cpuid)
        return HostVm(self, module, running, irqchip, rows)

    def close(self) -> None:
        self._device.close()

    def __enter__(self) -> HostKvm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HostVm:
    """A KVM VM: guest RAM, optional in-kernel irqchip, and the vCPUs created in it."""

    can_checkpoint = False
    can_inspect_filter = False
    observes_msrs = False  # the kernel tells user space nothing of what it handles

    def __init__(self, kvm: HostKvm, vendor: str, profile_name: str, irqchip: bool,
                 cpuid: list[CpuidTuple]) -> None:
        self.kvm = kvm
        self.vendor = vendor
        self.profile_name = profile_name
        self.profile: KvmProfile | None = PROFILES.get(profile_name)
        self.irqchip = irqchip
        self.cpuid = cpuid
        self.vcpus: list[HostVcpu] = []
        # Never called: the kernel tells user space nothing of the MSR accesses it handles.
        self.observer: Callable[[MsrAccess], None] | None = None
        self._filter = MsrFilter()  # the last filter the kernel accepted
        self._next_vcpu_id = 0  # KVM never frees an id, even when a vCPU's setup failed
        self.cpuid_buffer = set_cpuid_buffer(cpuid)
        self._fd = Fd(ioctl(kvm.fd, uapi.KVM_CREATE_VM, 0, "KVM_CREATE_VM"), "vm")
        self._memory: mmap.mmap | None = None
        try:
            if irqchip:
                ioctl(self.fd, uapi.KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP")
            self._memory = mmap.mmap(-1, GUEST_MEM_SIZE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            region = uapi.kvm_userspace_memory_region(
                slot=0, flags=0, guest_phys_addr=0, memory_size=GUEST_MEM_SIZE,
                userspace_addr=self._memory_address(),
            )
            ioctl(self.fd, uapi.KVM_SET_USER_MEMORY_REGION, region, "KVM_SET_USER_MEMORY_REGION")
        except BaseException:
            self.close()
            raise

    @property
    def fd(self) -> int:
        if self._fd.closed:
            raise ClosedError("the VM is closed")
        return self._fd.fd

    def _memory_address(self) -> int:
        view = ctypes.c_char.from_buffer(self._memory)
        try:
            return ctypes.addressof(view)
        finally:
            del view

    # --- ioctls ---------------------------------------------------------------------------
    def enable_cap(self, cap: int, *args: int) -> None:
        """KVM_ENABLE_CAP on the VM; the kernel's errno comes back as OSError."""
        if len(args) > 4 or any(not 0 <= a <= U64_MAX for a in args):
            raise OSError(errno.EINVAL, "args: at most four u64 arguments")
        request = uapi.kvm_enable_cap(cap=cap)
        for i, value in enumerate(args):
            request.args[i] = value
        ioctl(self.fd, uapi.KVM_ENABLE_CAP, request, f"KVM_ENABLE_CAP({cap})")

    def set_msr_filter(self, msr_filter: MsrFilter | None) -> None:
        """KVM_X86_SET_MSR_FILTER; None clears the filter (DEFAULT_ALLOW, no ranges)."""
        if msr_filter is not None and not isinstance(msr_filter, MsrFilter):
            raise TypeError(f"expected an MsrFilter, got {type(msr_filter).__name__}")
        msr_filter = msr_filter or MsrFilter()
        argument = filter_argument(msr_filter)
        ioctl(self.fd, uapi.KVM_X86_SET_MSR_FILTER, argument.struct, "KVM_X86_SET_MSR_FILTER")
        self._filter = msr_filter

    def filter_in_force(self) -> MsrFilter:
        """The last filter the kernel accepted (it cannot be read back)."""
        return self._filter

    def create_vcpu(self, program: Program | bytes | str) -> HostVcpu:
        """A vCPU at `program`, which is loaded (with the runtime image) into guest RAM.

        RAM is per VM on a real KVM: a second vCPU's program replaces the first one's code.
        """
        program = as_program(program)
        if self._memory is None:
            raise ClosedError("the VM is closed")
        for address, data in guest_image(program):
            self._memory[address : address + len(data)] = data
        vcpu_id, self._next_vcpu_id = self._next_vcpu_id, self._next_vcpu_id + 1
        vcpu = HostVcpu(self, vcpu_id, program)
        self.vcpus.append(vcpu)
        return vcpu

    def read_memory(self, address: int, size: int) -> bytes:
        """Guest RAM (memory slot 0); ValueError outside it."""
        if self._memory is None:
            raise ClosedError("the VM is closed")
        check_ram_range(address, size)
        return bytes(self._memory[address : address + size])

    # --- sim-only inspection ------------------------------------------------------------------
    def msr_allowed(self, index: int, write: bool) -> bool:
        raise SimOnlyError(
            "vm.msr_allowed(): the real kernel does not report its filter decisions; "
            "probe with guest accesses, or use the sim engine"
        )

    def filter_map(self, first: int, count: int, write: bool) -> NoReturn:
        raise SimOnlyError(
            "vm.filter_map(): the real kernel does not report its filter decisions; "
            "use the sim engine for filter heatmaps"
        )

    def save_state(self) -> NoReturn:
        raise no_checkpoints("vm.save_state()")

    def restore_state(self, state: Any) -> NoReturn:
        raise no_checkpoints("vm.restore_state()")

    def state_parts(self) -> Iterator[bytes]:
        """Nothing beyond what a session sees through the vCPUs' registers."""
        return iter(())

    # --- lifetime ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the vCPUs (each first stops and waits for a run in another thread), then
        the VM fd, then unmap guest RAM (idempotent)."""
        for vcpu in self.vcpus:
            vcpu.close()
        self.vcpus.clear()
        self._fd.close()
        if self._memory is not None:
            self._memory.close()
            self._memory = None

    def __enter__(self) -> HostVm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
