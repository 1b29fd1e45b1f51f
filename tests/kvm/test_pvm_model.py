"""The "pvm" vendor model without /dev/kvm: kvm_pvm's answers as the 6.18-fc host gave them.

Each row is one MSR in a fresh vCPU (guest CPUID = the host's supported CPUID): a read, then
for each written value the write's failure (if any) and a read, as guest accesses. HOST_PVM
was captured on the host with kvm_pvm (user-space MSR mask 0x7, so every failure exited
with its reason); INTEL and AMD are the upstream models' answers, which the pvm vendor must
leave as they were.
"""

import pytest
from test_msr_catalogue import HOST_CPUID

import workbench.kvm
from workbench.kvm import uapi
from workbench.kvm.cpuid import Cpuid
from workbench.kvm.host_traits import DEFAULT_TSC_KHZ, HostTraits
from workbench.kvm.intercepts import InterceptState, NoMsrBitmap, msr_bitmap
from workbench.kvm.msrs import MsrContext, MsrFile, MsrResult, msr_name
from workbench.kvm.msrs import numbers as n
from workbench.kvm.profiles import LINUX_6_18

VALUES = (0, 1, 0x1000, 2**64 - 1, 0x0000_7FFF_FFFF_F000, 0x8000_0000_0000_0000, 0x4000_0001)
# KVM clock and PVM_GPA take guest-physical addresses: written with 0 and values outside
# guest RAM only (inside it the host writes clock data there, or stops the guest).
GPA_VALUES = (0, 0x400000, 0x400001, 0x40000001, 2**64 - 1)
GPA_MSRS = frozenset({0x11, 0x12, 0x4B564D00, 0x4B564D01, 0x4B564D10})

# Observed on the 6.18-fc host with kvm_pvm, except PVM_TSC_KHZ: the host read its own TSC
# rate there; the sim reads the VM's (DEFAULT_TSC_KHZ unless told the host's, see below).
HOST_PVM = {
    0x11: "0x0 0x0 0x400000 0x400001 0x40000001 0xffffffffffffffff",
    0x12: "0x0 0x0 0x400000 0x400001 0x40000001 0xffffffffffffffff",
    0x3b: "0x0 0x0 0x1 0x1000 0xffffffffffffffff 0x7ffffffff000 0x8000000000000000 0x40000001",
    0x48: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0x49: "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN",
    0x8b: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0x10a: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
            "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0x10b: "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN",
    0x122: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0x140: "0x0 0x0 0x1 0x1000 0xffffffffffffffff 0x7ffffffff000 0x8000000000000000 0x40000001",
    0x174: "0x0 0x0 0x1 0x1000 0xffffffffffffffff 0x7ffffffff000 0x8000000000000000 0x40000001",
    0x175: "0x0 0x0 0x1 0x1000 0xffffffffffffffff 0x7ffffffff000 0x0 0x40000001",
    0x176: "0x0 0x0 0x1 0x1000 0xffffffffffffffff 0x7ffffffff000 0x0 0x40000001",
    0x1a0: "0x1 0x0 0x1 0x1000 0xffffffffffffffff 0x7ffffffff000 0x8000000000000000 0x40000001",
    0x1d9: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0x277: ("0x7040600070406 0x0 0x1 0x1000 "
            "0xffffffffffffffff 0x7ffffffff000 0x8000000000000000 0x40000001"),
    0x345: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
            "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0xda0: ("INVAL UNKNOWN INVAL UNKNOWN INVAL UNKNOWN INVAL "
            "UNKNOWN INVAL UNKNOWN INVAL UNKNOWN INVAL UNKNOWN INVAL"),
    0xc0000103: ("INVAL INVAL INVAL INVAL INVAL INVAL INVAL "
                 "INVAL INVAL INVAL INVAL INVAL INVAL INVAL INVAL"),
    0xc0000104: ("INVAL INVAL INVAL INVAL INVAL INVAL INVAL "
                 "INVAL INVAL INVAL INVAL INVAL INVAL INVAL INVAL"),
    0xc0010000: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc0010001: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc0010002: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc0010003: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc0010004: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc0010005: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc0010006: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc0010007: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc0010020: "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN",
    0xc0010114: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0xc0010117: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc001011f: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc0010140: ("0x0 0x0 0x1 0x1000 "
                 "0xffffffffffffffff 0x7ffffffff000 0x8000000000000000 0x40000001"),
    0xc0010141: ("0x0 0x0 0x1 0x1000 "
                 "0xffffffffffffffff 0x7ffffffff000 0x8000000000000000 0x40000001"),
    0xc0011029: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0x4b564d00: "0x0 0x0 0x400000 0x400001 0x40000001 0xffffffffffffffff",
    0x4b564d01: "0x0 0x0 0x400000 0x400001 0x40000001 0xffffffffffffffff",
    0x4b564d04: ("0x0 0x0 0x1 0x1000 INVAL "
                 "0x1000 0x7ffffffff000 0x8000000000000000 INVAL 0x8000000000000000"),
    0x4b564d10: "0x0 0x0 INVAL 0x0 INVAL 0x0 INVAL 0x0 INVAL 0x0",
    0x4b564d11: ("0x4d5650 UNKNOWN 0x4d5650 UNKNOWN 0x4d5650 UNKNOWN 0x4d5650 "
                 "UNKNOWN 0x4d5650 UNKNOWN 0x4d5650 UNKNOWN 0x4d5650 UNKNOWN 0x4d5650"),
    0x4b564d12: ("0x1ff UNKNOWN 0x1ff UNKNOWN 0x1ff UNKNOWN 0x1ff "
                 "UNKNOWN 0x1ff UNKNOWN 0x1ff UNKNOWN 0x1ff UNKNOWN 0x1ff"),
    0x4b564d13: ("0x1e8480 UNKNOWN 0x1e8480 UNKNOWN 0x1e8480 UNKNOWN 0x1e8480 "
                 "UNKNOWN 0x1e8480 UNKNOWN 0x1e8480 UNKNOWN 0x1e8480 UNKNOWN 0x1e8480"),
    0x4b564d14: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0x4b564dff: ("INVAL INVAL INVAL INVAL INVAL INVAL INVAL "
                 "INVAL INVAL INVAL INVAL INVAL INVAL INVAL INVAL"),
}
# The VMX model's answers (unchanged by the pvm vendor).
INTEL = {
    0x11: "0x0 0x0 0x400000 0x400001 0x40000001 0xffffffffffffffff",
    0x12: "0x0 0x0 0x400000 0x400001 0x40000001 0xffffffffffffffff",
    0x3b: "0x0 0x0 0x1 0x1000 0xffffffffffffffff 0x7ffffffff000 0x8000000000000000 0x40000001",
    0x48: ("INVAL INVAL INVAL INVAL INVAL INVAL INVAL "
           "INVAL INVAL INVAL INVAL INVAL INVAL INVAL INVAL"),
    0x49: ("UNKNOWN INVAL UNKNOWN INVAL UNKNOWN INVAL UNKNOWN "
           "INVAL UNKNOWN INVAL UNKNOWN INVAL UNKNOWN INVAL UNKNOWN"),
    0x8b: ("0x100000000 0x100000000 0x100000000 0x100000000 "
           "0x100000000 0x100000000 0x100000000 0x100000000"),
    0x10a: ("0xe16b INVAL 0xe16b INVAL 0xe16b INVAL 0xe16b "
            "INVAL 0xe16b INVAL 0xe16b INVAL 0xe16b INVAL 0xe16b"),
    0x10b: ("UNKNOWN INVAL UNKNOWN INVAL UNKNOWN INVAL UNKNOWN "
            "INVAL UNKNOWN INVAL UNKNOWN INVAL UNKNOWN INVAL UNKNOWN"),
    0x122: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
            "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0x140: "0x0 0x0 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1",
    0x174: "0x0 0x0 0x1 0x1000 0xffffffff 0xfffff000 0x0 0x40000001",
    0x175: "0x0 0x0 0x1 0x1000 0xffffffffffffffff 0x7ffffffff000 0x0 0x40000001",
    0x176: "0x0 0x0 0x1 0x1000 0xffffffffffffffff 0x7ffffffff000 0x0 0x40000001",
    0x1a0: ("0x1800 INVAL 0x1800 INVAL 0x1800 INVAL 0x1800 0xffffffffffffff7f INVAL "
            "0xffffffffffffff7f INVAL 0xffffffffffffff7f INVAL 0xffffffffffffff7f"),
    0x1d9: "0x0 0x0 0x0 INVAL 0x0 INVAL 0x0 INVAL 0x0 INVAL 0x0 INVAL 0x0",
    0x277: "0x7040600070406 0x0 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1",
    0x345: ("INVAL INVAL INVAL INVAL INVAL INVAL INVAL "
            "INVAL INVAL INVAL INVAL INVAL INVAL INVAL INVAL"),
    0xda0: ("INVAL INVAL INVAL INVAL INVAL INVAL INVAL "
            "INVAL INVAL INVAL INVAL INVAL INVAL INVAL INVAL"),
    0xc0000103: ("INVAL INVAL INVAL INVAL INVAL INVAL INVAL "
                 "INVAL INVAL INVAL INVAL INVAL INVAL INVAL INVAL"),
    0xc0000104: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0xc0010000: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc0010001: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc0010002: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc0010003: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc0010004: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc0010005: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc0010006: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc0010007: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc0010020: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0xc0010114: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0xc0010117: "0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
    0xc001011f: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0xc0010140: ("0x0 0x0 0x1 0x1000 "
                 "0xffffffffffffffff 0x7ffffffff000 0x8000000000000000 0x40000001"),
    0xc0010141: ("0x0 0x0 0x1 0x1000 "
                 "0xffffffffffffffff 0x7ffffffff000 0x8000000000000000 0x40000001"),
    0xc0011029: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0x4b564d00: "0x0 0x0 0x400000 0x400001 0x40000001 0xffffffffffffffff",
    0x4b564d01: "0x0 0x0 0x400000 0x400001 0x40000001 0xffffffffffffffff",
    0x4b564d04: "0x0 0x0 0x1 0x1000 INVAL 0x1000 0x7ffffffff000 0x8000000000000000 0x40000001",
    0x4b564d10: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0x4b564d11: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0x4b564d12: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0x4b564d13: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0x4b564d14: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0x4b564dff: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
}
# The SVM model's answers (unchanged by the pvm vendor).
AMD = {
    0x11: "0x0 0x0 0x400000 0x400001 0x40000001 0xffffffffffffffff",
    0x12: "0x0 0x0 0x400000 0x400001 0x40000001 0xffffffffffffffff",
    0x3b: "0x0 0x0 0x1 0x1000 0xffffffffffffffff 0x7ffffffff000 0x8000000000000000 0x40000001",
    0x48: ("INVAL INVAL INVAL INVAL INVAL INVAL INVAL "
           "INVAL INVAL INVAL INVAL INVAL INVAL INVAL INVAL"),
    0x49: ("UNKNOWN INVAL UNKNOWN INVAL UNKNOWN INVAL UNKNOWN "
           "INVAL UNKNOWN INVAL UNKNOWN INVAL UNKNOWN INVAL UNKNOWN"),
    0x8b: "0x1000065 0x1000065 0x1000065 0x1000065 0x1000065 0x1000065 0x1000065 0x1000065",
    0x10a: ("0xc000069 INVAL 0xc000069 INVAL 0xc000069 INVAL 0xc000069 "
            "INVAL 0xc000069 INVAL 0xc000069 INVAL 0xc000069 INVAL 0xc000069"),
    0x10b: ("UNKNOWN INVAL UNKNOWN INVAL UNKNOWN INVAL UNKNOWN "
            "INVAL UNKNOWN INVAL UNKNOWN INVAL UNKNOWN INVAL UNKNOWN"),
    0x122: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
            "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0x140: "0x0 0x0 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1",
    0x174: "0x0 0x0 0x1 0x1000 0xffffffffffffffff 0x7ffffffff000 0x8000000000000000 0x40000001",
    0x175: "0x0 0x0 0x1 0x1000 0xffffffff 0xfffff000 0x0 0x40000001",
    0x176: "0x0 0x0 0x1 0x1000 0xffffffff 0xfffff000 0x0 0x40000001",
    0x1a0: ("0x1800 INVAL 0x1800 INVAL 0x1800 INVAL 0x1800 0xffffffffffffff7f INVAL "
            "0xffffffffffffff7f INVAL 0xffffffffffffff7f INVAL 0xffffffffffffff7f"),
    0x1d9: "0x0 0x0 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1",
    0x277: "0x7040600070406 0x0 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1",
    0x345: ("INVAL INVAL INVAL INVAL INVAL INVAL INVAL "
            "INVAL INVAL INVAL INVAL INVAL INVAL INVAL INVAL"),
    0xda0: ("INVAL INVAL INVAL INVAL INVAL INVAL INVAL "
            "INVAL INVAL INVAL INVAL INVAL INVAL INVAL INVAL"),
    0xc0000103: ("INVAL INVAL INVAL INVAL INVAL INVAL INVAL "
                 "INVAL INVAL INVAL INVAL INVAL INVAL INVAL INVAL"),
    0xc0000104: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0xc0010000: "0x0 0x0 0x1 0x1000 0xfffd7ffff 0xfffd7f000 0x0 0x40000001",
    0xc0010001: "0x0 0x0 0x1 0x1000 0xfffd7ffff 0xfffd7f000 0x0 0x40000001",
    0xc0010002: "0x0 0x0 0x1 0x1000 0xfffd7ffff 0xfffd7f000 0x0 0x40000001",
    0xc0010003: "0x0 0x0 0x1 0x1000 0xfffd7ffff 0xfffd7f000 0x0 0x40000001",
    0xc0010004: "0x0 0x0 0x1 0x1000 0xffffffffffff 0x7ffffffff000 0x0 0x40000001",
    0xc0010005: "0x0 0x0 0x1 0x1000 0xffffffffffff 0x7ffffffff000 0x0 0x40000001",
    0xc0010006: "0x0 0x0 0x1 0x1000 0xffffffffffff 0x7ffffffff000 0x0 0x40000001",
    0xc0010007: "0x0 0x0 0x1 0x1000 0xffffffffffff 0x7ffffffff000 0x0 0x40000001",
    0xc0010020: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0xc0010114: "0x0 0x0 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1 INVAL 0x1",
    0xc0010117: ("0x0 0x0 INVAL 0x0 0x1000 INVAL "
                 "0x1000 0x7ffffffff000 INVAL 0x7ffffffff000 INVAL 0x7ffffffff000"),
    0xc001011f: ("INVAL INVAL INVAL INVAL INVAL INVAL INVAL "
                 "INVAL INVAL INVAL INVAL INVAL INVAL INVAL INVAL"),
    0xc0010140: ("0x5 0x0 0x1 0x1000 "
                 "0xffffffffffffffff 0x7ffffffff000 0x8000000000000000 0x40000001"),
    0xc0010141: ("0x0 0x0 0x1 0x1000 "
                 "0xffffffffffffffff 0x7ffffffff000 0x8000000000000000 0x40000001"),
    0xc0011029: "0x0 0x0 INVAL 0x0 INVAL 0x0 INVAL 0x0 INVAL 0x0 INVAL 0x0 INVAL 0x0",
    0x4b564d00: "0x0 0x0 0x400000 0x400001 0x40000001 0xffffffffffffffff",
    0x4b564d01: "0x0 0x0 0x400000 0x400001 0x40000001 0xffffffffffffffff",
    0x4b564d04: "0x0 0x0 0x1 0x1000 INVAL 0x1000 0x7ffffffff000 0x8000000000000000 0x40000001",
    0x4b564d10: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0x4b564d11: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0x4b564d12: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0x4b564d13: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0x4b564d14: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
    0x4b564dff: ("UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN "
                 "UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN"),
}


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def make(vendor: str, clock=None) -> MsrFile:
    return MsrFile(MsrContext(vendor, LINUX_6_18, Cpuid(HOST_CPUID), False), clock or Clock())


def _code(result: MsrResult, value: int = 0) -> str:
    if result == MsrResult.OK:
        return f"{value:#x}"
    return "INVAL" if result == MsrResult.INVALID else "UNKNOWN"


def answers(vendor: str, index: int) -> str:
    f = make(vendor)
    seen = [_code(*f.get(index))]
    for value in GPA_VALUES if index in GPA_MSRS else VALUES:
        result = f.set(index, value)
        if result != MsrResult.OK:
            seen.append(_code(result))
        seen.append(_code(*f.get(index)))
    return " ".join(seen)


@pytest.mark.parametrize(("vendor", "table"), [("pvm", HOST_PVM), ("intel", INTEL), ("amd", AMD)])
def test_answers(vendor, table):
    assert {hex(i): answers(vendor, i) for i in table} == {hex(i): a for i, a in table.items()}


def test_tsc_write_moves_tsc_adjust_not_the_tsc():
    clock = Clock()
    f = make("pvm", clock)
    clock.now = 5000
    assert f.set(n.MSR_IA32_TSC, 0x1234_0000_0000) == MsrResult.OK
    assert f.set(n.MSR_IA32_TSC, 0x1234_0000_0000) == MsrResult.OK
    assert f.get(n.MSR_IA32_TSC) == (MsrResult.OK, 5000)
    assert f.get(n.MSR_IA32_TSC_ADJUST) == (MsrResult.OK, 2 * (0x1234_0000_0000 - 5000))
    assert f.host_set(n.MSR_IA32_TSC, 7) == MsrResult.OK
    assert f.get(n.MSR_IA32_TSC) == (MsrResult.OK, 5000)
    assert f.set(n.MSR_IA32_TSC_ADJUST, 3) == MsrResult.OK
    assert f.get(n.MSR_IA32_TSC) == (MsrResult.OK, 5000)


def test_legacy_kvm_clock_msrs_share_state_with_the_new_ones():
    f = make("pvm")
    assert f.set(n.MSR_KVM_WALL_CLOCK, 0x4000_0000) == MsrResult.OK
    assert f.get(n.MSR_KVM_WALL_CLOCK_NEW) == (MsrResult.OK, 0x4000_0000)
    assert f.set(n.MSR_KVM_SYSTEM_TIME_NEW, 0x4000_0001) == MsrResult.OK
    assert f.get(n.MSR_KVM_SYSTEM_TIME) == (MsrResult.OK, 0x4000_0001)


def test_pvm_msrs_have_names():
    assert msr_name(n.MSR_PVM_SIGNATURE) == "PVM_SIGNATURE"
    assert msr_name(n.MSR_IA32_TSX_CTRL) == "IA32_TSX_CTRL"
    assert msr_name(n.MSR_AMD64_PATCH_LOADER) == "AMD64_PATCH_LOADER"


def test_pvm_has_no_msr_bitmap():
    with pytest.raises(NoMsrBitmap, match="every guest RDMSR/WRMSR traps"):
        msr_bitmap("pvm", LINUX_6_18, Cpuid(HOST_CPUID), lambda i, w: True, InterceptState())
    vm = workbench.kvm.open("sim").create_vm(vendor="pvm")
    vcpu = vm.create_vcpu("mov ecx, 0x10\nrdmsr\nhlt")
    with pytest.raises(ValueError):
        vcpu.msr_bitmap()
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_HLT


@pytest.mark.parametrize("code", ["int3", "int1", "int 0x80", "rdtscp"])
def test_unemulated_instructions_are_internal_errors(code):
    """Observed on the 6.18-fc host with kvm_pvm: RIP stays at the instruction, and every
    re-entry fails again; other vendors are unchanged (SHUTDOWN, or RDTSCP executes)."""
    kvm = workbench.kvm.open("sim")
    vcpu = kvm.create_vm(vendor="pvm").create_vcpu(f"nop\n{code}\nhlt")
    for _ in range(2):
        exit_ = vcpu.run()
        assert exit_.exit_reason == uapi.KVM_EXIT_INTERNAL_ERROR
        assert exit_.rip == vcpu.get_regs().rip == 0x100001
    for vendor in ("intel", "amd"):
        exit_ = kvm.create_vm(vendor=vendor).create_vcpu(f"{code}\nhlt").run()
        expected = uapi.KVM_EXIT_HLT if code == "rdtscp" else uapi.KVM_EXIT_SHUTDOWN
        assert exit_.exit_reason == expected


def test_other_exceptions_still_shut_down():
    vcpu = workbench.kvm.open("sim").create_vm(vendor="pvm").create_vcpu("ud2\nhlt")
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_SHUTDOWN


def _read(vm, index: int) -> int:
    vcpu = vm.create_vcpu(f"mov ecx, {index:#x}\nrdmsr\nhlt")
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_HLT
    regs = vcpu.get_regs()
    return regs.rdx << 32 | regs.rax


def test_tsc_khz_is_the_vms_not_a_pinned_host_value():
    """PVM_TSC_KHZ and KVM_GET_TSC_KHZ give the VM's TSC rate: the documented default, or
    the rate of the host the sim is told to mimic (any host's, not the development one's)."""
    kvm = workbench.kvm.open("sim")
    vm = kvm.create_vm(vendor="pvm")
    assert _read(vm, n.MSR_PVM_TSC_KHZ) == DEFAULT_TSC_KHZ == vm.vcpus[0].get_tsc_khz()
    for khz in (2_445_418, 3_100_000):
        vm = kvm.create_vm(vendor="pvm", tsc_khz=khz)
        assert _read(vm, n.MSR_PVM_TSC_KHZ) == khz == vm.vcpus[0].get_tsc_khz()
    with pytest.raises(ValueError, match="tsc_khz"):
        kvm.create_vm(vendor="pvm", tsc_khz=0)


def test_host_traits_replace_machine_dependent_values():
    traits = HostTraits("pvm", tuple(HOST_CPUID), 1_999_999,
                        {n.MSR_PVM_INFO: 0x3FF, n.MSR_IA32_ARCH_CAPABILITIES: 0x1234})
    vm = workbench.kvm.open("sim").create_vm(**traits.sim_vm_args())
    assert _read(vm, n.MSR_PVM_TSC_KHZ) == 1_999_999
    assert _read(vm, n.MSR_PVM_INFO) == 0x3FF
    intel = HostTraits("intel", tuple(HOST_CPUID), 1_999_999,
                       {n.MSR_IA32_ARCH_CAPABILITIES: 0x1234})
    vm = workbench.kvm.open("sim").create_vm(**intel.sim_vm_args())
    assert _read(vm, n.MSR_IA32_ARCH_CAPABILITIES) == 0x1234
    assert _read(workbench.kvm.open("sim").create_vm(vendor="pvm"), n.MSR_PVM_INFO) == 0x1FF
