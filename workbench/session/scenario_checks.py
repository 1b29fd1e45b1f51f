"""What a scenario file is checked against before anything runs: the documented limits
(workbench.session.limits), the kernel's field widths, and what the kernel itself would
refuse at set-up (asked of the sim, which models the scenario's kernel profile).

Each check raises FieldError naming the msgspec path of the field, so the scenario reader
can add the file's line; a kernel refusal carries the kernel's errno name in the message.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Callable, Iterable
from typing import Any

from workbench import kvm
from workbench.kvm import uapi
from workbench.kvm.filter import MsrFilter
from workbench.session.limits import (
    MAX_PCI_OFFSET,
    MAX_PCI_REPEAT,
    MAX_VCPUS,
)
from workbench.values import U32_MAX, U64_MAX
from workbench.vfio.story import PciScenario, PciStory


class FieldError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def in_range(value: int, field: str, top: int, what: str) -> int:
    """`value` if 0 <= value <= top, else FieldError saying it is not a `what`."""
    if not 0 <= value <= top:
        shown = f"{value:#x}" if value >= 0 else str(value)
        raise FieldError(field, f"{shown} is not {what} (0..{top:#x})")
    return value


def check_vcpu_count(count: int) -> None:
    if count > MAX_VCPUS:
        raise FieldError("$.vcpus", f"{count} vCPUs, more than the limit of {MAX_VCPUS}")


# Guest code is the .text section alone: data sections would silently vanish.
_SECTION = re.compile(r"^\s*(?:\w+:\s*)?\.(data|bss|rodata|section|pushsection)\b(.*)$")


def check_guest_source(source: str, field: str) -> None:
    for line in (part for row in source.splitlines() for part in row.split(";")):
        match = _SECTION.match(line)
        if match and not (match.group(1) == "section" and match.group(2).split(",")[0].strip()
                          == ".text"):
            raise FieldError(field, f"'.{match.group(1)}': guest code is one .text section; "
                                    f"put data in .text (e.g. after the code, with .byte)")


_KERNEL_ERRORS = {errno.EINVAL: "EINVAL", errno.E2BIG: "E2BIG", errno.EFAULT: "EFAULT",
                  errno.ENOMEM: "ENOMEM", errno.EEXIST: "EEXIST"}


def _kernel_refusal(call: Callable[[], Any], ioctl: str, field_of: Callable[[str], str]) -> None:
    try:
        call()
    except OSError as exc:
        name = _KERNEL_ERRORS.get(exc.errno or 0, errno.errorcode.get(exc.errno or 0, "?"))
        detail = exc.strerror or str(exc)
        raise FieldError(field_of(detail), f"{detail.split(': ', 1)[-1]} (the kernel's {ioctl} "
                                           f"fails with {name})") from None


def _filter_field(detail: str) -> str:
    match = re.match(r"(ranges\[\d+\]\.\w+|ranges|flags):", detail)
    return f"$.filter.{match.group(1)}" if match else "$.filter"


def check_kernel(vendor: str, profile: str | None, mask: int | None,
                 msr_filter: MsrFilter | None) -> None:
    """What KVM_ENABLE_CAP and KVM_X86_SET_MSR_FILTER would refuse, on a throwaway sim VM
    with the scenario's vendor and profile."""
    system = kvm.open("sim")
    try:
        try:
            vm = system.create_vm(vendor=vendor, profile=profile)
        except ValueError as exc:
            raise FieldError("$.vm.profile", str(exc)) from None
        try:
            if mask is not None:
                field = "$.caps.user_space_msr"
                in_range(mask, field, U64_MAX, "a u64 mask of INVAL|UNKNOWN|FILTER")
                _kernel_refusal(lambda: vm.enable_cap(uapi.KVM_CAP_X86_USER_SPACE_MSR, mask),
                                "KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR)",
                                lambda _: field)
            if msr_filter is not None:
                _kernel_refusal(lambda: vm.set_msr_filter(msr_filter),
                                "KVM_X86_SET_MSR_FILTER", _filter_field)
        finally:
            vm.close()
    finally:
        system.close()


_PCI_BOUNDS = {"repeat": (MAX_PCI_REPEAT, "a repeat count"),
               "offset": (MAX_PCI_OFFSET - 1, "an offset (u32)"),
               "size": (U32_MAX, "a size (u32)"), "value": (U64_MAX, "a u64 value")}


def check_pci(pci: PciScenario) -> None:
    """Bounded repeats and offsets, and devices the PCI model accepts (built aside)."""
    for i, step in enumerate(pci.actions):
        for name, (top, what) in _PCI_BOUNDS.items():
            value = getattr(step, name, None)
            if isinstance(value, int):
                in_range(value, f"$.pci.actions[{i}].{name}", top, what)
        if step.repeat < 1:
            raise FieldError(f"$.pci.actions[{i}].repeat", "must be at least 1")
    story = PciStory(pci, lambda event: None)
    for i, device in enumerate(pci.devices):
        try:
            story.build([device])
        except (ValueError, OSError) as exc:
            raise FieldError(_device_field(i, device, str(exc)), str(exc)) from None


def _device_field(i: int, device: Any, message: str) -> str:
    named: Iterable[str] = (f for f in device.__struct_fields__ if re.match(rf"{f}\b", message))
    first = next(iter(named), None)
    return f"$.pci.devices[{i}]" + (f".{first}" if first else "")
