"""The sim's system and VM handles: the filter, the user-space MSR mask and the vCPUs that
share them, with the kernel's checks on each ioctl (kvm_vm_ioctl_enable_cap,
kvm_vm_ioctl_set_msr_filter) and the sim-only inspection and checkpoints.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping

import numpy as np

from workbench.kvm import uapi
from workbench.kvm.cpuid import Cpuid, default_cpuid
from workbench.kvm.engine import ClosedError
from workbench.kvm.filter import NO_FILTER, InstalledFilter, MsrFilter, install_filter
from workbench.kvm.guest.assembler import Program
from workbench.kvm.handles import as_program
from workbench.kvm.msr_exits import MsrAccess
from workbench.kvm.msrs.base import DEFAULT_TSC_KHZ, VENDORS
from workbench.kvm.profiles import KvmProfile, get_profile
from workbench.kvm.sim_state import VmState
from workbench.kvm.sim_vcpu import SimVcpu

# The CPU model a VM gets when create_vm names no CPUID: kvm_pvm's is the AMD EPYC it runs on.
_DEFAULT_CPU_MODEL = {"intel": "intel", "amd": "amd", "pvm": "amd"}


class SimKvm:
    """The sim's `/dev/kvm` handle."""

    engine = "sim"
    can_model_machine = True
    closed = False

    def _check_open(self) -> None:
        if self.closed:
            raise ClosedError("the /dev/kvm handle is closed")

    def check_extension(self, cap: int) -> int:
        self._check_open()
        return 1 if cap in (
            uapi.KVM_CAP_X86_USER_SPACE_MSR, uapi.KVM_CAP_X86_MSR_FILTER, uapi.KVM_CAP_IRQCHIP,
        ) else 0

    def create_vm(
        self,
        vendor: str | None = None,
        profile: str | None = None,
        irqchip: bool = False,
        cpuid: Iterable | Cpuid | None = None,
        *,
        ignore_msrs: bool = False,
        cstate_in_guest: bool = False,
        tsc_khz: int | None = None,
        host_msrs: Mapping[int, int] | None = None,
    ) -> SimVm:
        """KVM_CREATE_VM; `tsc_khz` and `host_msrs` carry a real host's machine-dependent
        values (workbench.kvm.host_traits) where the sim should answer as that host."""
        self._check_open()
        vendor = vendor or "intel"
        if vendor not in VENDORS:
            raise ValueError(f"vendor: {vendor!r} is not one of {', '.join(VENDORS)}")
        if cpuid is None:
            cpuid = default_cpuid(_DEFAULT_CPU_MODEL[vendor])
        elif not isinstance(cpuid, Cpuid):
            cpuid = Cpuid.from_tuples(cpuid)
        if tsc_khz is not None and not 0 < tsc_khz < 1 << 32:
            raise ValueError(f"tsc_khz: {tsc_khz} is not a frequency in kHz (1 .. 2^32-1)")
        vm = SimVm(vendor, get_profile(profile), irqchip, cpuid, ignore_msrs, cstate_in_guest)
        vm.tsc_khz = tsc_khz or DEFAULT_TSC_KHZ
        vm.host_msrs = dict(host_msrs or {})
        return vm

    def close(self) -> None:
        """Refuse further use, as the host does; VMs made from it live on, as in KVM."""
        self.closed = True

    def __enter__(self) -> SimKvm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SimVm:
    """A VM: the filter, the user-space MSR mask and the vCPUs that share them."""

    can_checkpoint = True
    can_inspect_filter = True
    observes_msrs = True

    def __init__(
        self,
        vendor: str,
        profile: KvmProfile,
        irqchip: bool,
        cpuid: Cpuid,
        ignore_msrs: bool = False,
        cstate_in_guest: bool = False,
    ) -> None:
        self.vendor = vendor
        self.profile = profile
        self.irqchip = irqchip
        self.cpuid = cpuid
        self.ignore_msrs = ignore_msrs
        self.cstate_in_guest = cstate_in_guest
        self.user_space_msr_mask = 0
        self.filter: InstalledFilter = NO_FILTER
        self.filter_generation = 0
        self.vcpus: list[SimVcpu] = []
        self.observer: Callable[[MsrAccess], None] | None = None
        self._allowed_cache: dict[tuple[int, int], bool] = {}
        self.tsc_khz = DEFAULT_TSC_KHZ
        self.host_msrs: dict[int, int] = {}
        self.closed = False

    def _check_open(self) -> None:
        if self.closed:
            raise ClosedError("the VM is closed")

    @property
    def profile_name(self) -> str:
        return self.profile.name

    # --- ioctls ---------------------------------------------------------------------------
    def enable_cap(self, cap: int, *args: int) -> None:
        """KVM_ENABLE_CAP on the VM (kvm_vm_ioctl_enable_cap)."""
        self._check_open()
        values = list(args) + [0] * (4 - len(args))
        if len(args) > 4 or any(not 0 <= a < 1 << 64 for a in values):
            raise OSError(errno.EINVAL, "args: at most four u64 arguments")
        if cap != uapi.KVM_CAP_X86_USER_SPACE_MSR:
            raise OSError(errno.EINVAL, f"cap {cap}: not a VM capability the sim can enable")
        mask = values[0]
        if self.profile.strict_user_space_msr_mask and mask & ~uapi.KVM_MSR_EXIT_REASON_VALID_MASK:
            raise OSError(
                errno.EINVAL, f"args[0]: mask {mask:#x} has bits outside INVAL|UNKNOWN|FILTER"
            )
        self.user_space_msr_mask = mask

    def set_msr_filter(self, msr_filter: MsrFilter | None) -> None:
        """KVM_X86_SET_MSR_FILTER; None clears the filter (DEFAULT_ALLOW, no ranges)."""
        self._check_open()
        new, error = install_filter(msr_filter or MsrFilter(), self.filter, self.profile)
        if new is not self.filter:
            self.filter = new
            self.filter_generation += 1
            self._allowed_cache.clear()
        if error is not None:
            raise error

    def create_vcpu(self, program: Program | bytes | str) -> SimVcpu:
        self._check_open()
        vcpu = SimVcpu(self, len(self.vcpus), as_program(program))
        self.vcpus.append(vcpu)
        return vcpu

    # --- inspection (sim only) ----------------------------------------------------------------
    def filter_in_force(self) -> MsrFilter:
        """The installed filter, as user space gave it."""
        return self.filter.source

    def msr_allowed(self, index: int, write: bool) -> bool:
        self._check_open()
        access = uapi.KVM_MSR_FILTER_WRITE if write else uapi.KVM_MSR_FILTER_READ
        key = (index, access)
        allowed = self._allowed_cache.get(key)
        if allowed is None:
            allowed = self.filter.allowed(index, access, self.profile)
            self._allowed_cache[key] = allowed
        return allowed

    def filter_map(self, first: int, count: int, write: bool) -> np.ndarray:
        self._check_open()
        access = uapi.KVM_MSR_FILTER_WRITE if write else uapi.KVM_MSR_FILTER_READ
        return self.filter.allowed_map(first, count, access, self.profile)

    def save_state(self) -> VmState:
        self._check_open()
        return VmState(self.filter, self.filter_generation, self.user_space_msr_mask,
                       tuple(vcpu.save_state() for vcpu in self.vcpus))

    def restore_state(self, state: VmState) -> None:
        self._check_open()
        if len(state.vcpus) != len(self.vcpus):
            raise ValueError(f"state has {len(state.vcpus)} vCPUs, the VM {len(self.vcpus)}")
        self.filter, self.filter_generation = state.filter, state.filter_generation
        self.user_space_msr_mask = state.user_space_msr_mask
        self._allowed_cache.clear()
        for vcpu, vcpu_state in zip(self.vcpus, state.vcpus, strict=True):
            vcpu.restore_state(vcpu_state)

    def state_parts(self) -> Iterator[bytes]:
        """The filter and the user-space MSR mask, for a session's state digest."""
        yield repr(self.filter.source.to_dict()).encode()
        yield struct.pack("<Q", self.user_space_msr_mask)

    def close(self) -> None:
        """Close the vCPUs and refuse further use (idempotent)."""
        for vcpu in self.vcpus:
            vcpu.close()
        self.vcpus.clear()
        self.closed = True

    def __enter__(self) -> SimVm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


