"""The MSRs and instructions where kvm_pvm parts from upstream VMX/SVM, on both engines.

Each of these once disagreed with the sim's upstream models; the sim's "pvm" vendor now
follows the host. Every case runs on the real kernel and on the sim (this host's CPUID and
KVM module) and must give the same exits, #GPs and registers.
"""

from __future__ import annotations

import pytest
from host_differential import (
    HLT,
    Engines,
    Scenario,
    assert_same,
    read_msr,
    write_msr,
)

from workbench.hostkvm import host_module
from workbench.kvm import uapi
from workbench.kvm.guest.layout import GUEST_MEM_SIZE

pytestmark = [pytest.mark.host, pytest.mark.differential, pytest.mark.skipif(
    host_module() != "pvm", reason="these cases are kvm_pvm's; the host runs another module")]

ALL_REASONS = uapi.KVM_MSR_EXIT_REASON_VALID_MASK
VALUES = (0, 1, 0x1000, 2**64 - 1, 0x0000_7FFF_FFFF_F000, 0x8000_0000_0000_0000, 0x4000_0001)
# Writes of a GPA inside guest RAM make the kernel write there (KVM clock) or stop the guest
# (PVM_GPA): these MSRs get values outside guest RAM only.
OUTSIDE_RAM = (GUEST_MEM_SIZE, GUEST_MEM_SIZE | 1, 0x4000_0000, 0x4000_0001, 2**64 - 1)
GPA_MSRS = frozenset({0x11, 0x12, 0x4B564D00, 0x4B564D01, 0x4B564D10})

PVM_MSRS = (
    0x11, 0x12, 0x3B, 0x48, 0x49, 0x8B, 0x10A, 0x10B, 0x122, 0x140, 0x174, 0x175, 0x176, 0x1A0,
    0x1D9, 0x277, 0x345, 0xDA0, 0xC0000103, 0xC0000104, *range(0xC0010000, 0xC0010008),
    0xC0010020, 0xC0010114, 0xC0010117, 0xC001011F, 0xC0010140, 0xC0010141, 0xC0011029,
    0x4B564D00, 0x4B564D01, 0x4B564D04, *range(0x4B564D10, 0x4B564D14), 0x4B564D14,
    0x4B564DFF,
)


@pytest.fixture(scope="module")
def engines():
    engines = Engines()
    yield engines
    engines.close()


@pytest.mark.parametrize("index", PVM_MSRS, ids=hex)
def test_reads_and_writes_agree(engines, index):
    """Read, then write each value and read it back, every failure exiting to user space."""
    code = read_msr(index)
    for value in OUTSIDE_RAM if index in GPA_MSRS else VALUES:
        code += write_msr(index, value) + read_msr(index)
    host, sim = engines.both(Scenario(f"MSR {index:#x}", code + HLT, mask=ALL_REASONS))
    assert_same(host, sim)


@pytest.mark.parametrize(("written", "read"), [(0x11, 0x4B564D00), (0x4B564D00, 0x11),
                                               (0x12, 0x4B564D01), (0x4B564D01, 0x12)], ids=hex)
def test_kvm_clock_msrs_share_their_value_with_the_new_ones(engines, written, read):
    code = write_msr(written, 0x4000_0001) + read_msr(read) + HLT
    host, sim = engines.both(Scenario("clock twins", code, mask=ALL_REASONS))
    assert_same(host, sim)


def test_pv_eoi_inside_guest_ram_is_accepted(engines):
    code = (write_msr(0x4B564D04, GUEST_MEM_SIZE - 3) + read_msr(0x4B564D04)
            + write_msr(0x4B564D04, GUEST_MEM_SIZE | 1) + read_msr(0x4B564D04) + HLT)
    host, sim = engines.both(Scenario("PV EOI", code, mask=ALL_REASONS))
    assert_same(host, sim)


# Far beyond any host's TSC (the guest TSC follows the host's, ~2.2 hours of uptime reached
# the 0x1234_0000_0000 written before), and twice it still fits in 64 bits.
_FAR_TSC = 1 << 62


def test_tsc_writes_leave_the_tsc_running_and_move_tsc_adjust(engines):
    """Values are time: compared is that the TSC does not jump to the written value and
    that TSC_ADJUST moves by about (written - TSC), twice for two writes."""
    code = (read_msr(0x10) + write_msr(0x10, _FAR_TSC) + write_msr(0x10, _FAR_TSC)
            + read_msr(0x3B) + read_msr(0x10) + HLT)
    for trace in engines.both(Scenario("TSC write", code, mask=ALL_REASONS)):
        data = [key[4] for key in trace.exits if key[0] == uapi.KVM_EXIT_IO]
        tsc0, adjust, tsc1 = (data[i] | data[i + 1] << 32 for i in (0, 2, 4))
        assert tsc0 < tsc1 < _FAR_TSC
        assert abs(adjust - 2 * (_FAR_TSC - tsc0)) < 2 * (tsc1 - tsc0) + 2**32


@pytest.mark.parametrize("code", ["int3", "int1", "int 3", "int 0x80", "int 6", "rdtscp",
                                  "nop\nint3", "ud2", "xor eax, eax\ndiv eax"])
def test_instruction_outcome(engines, code):
    """Software interrupts and RDTSCP: KVM_EXIT_INTERNAL_ERROR (PVM cannot emulate them),
    with RIP at the instruction, again on re-entry; other exceptions: SHUTDOWN."""
    seen = []
    for vm in (engines.host.create_vm(),
               engines.sim.create_vm(**engines.traits.sim_vm_args())):
        with vm:
            vcpu = vm.create_vcpu(code + "\nhlt")
            first, again = vcpu.run(), vcpu.run()
            rip = vcpu.get_regs().rip if first.exit_reason != uapi.KVM_EXIT_SHUTDOWN else None
            seen.append((first.exit_reason, again.exit_reason, rip))
    assert seen[0] == seen[1]
