"""The vCPU state the debugger views read on both engines: KVM_GET_SREGS, the MSR file
and guest memory, and the decoders that spell their bits out."""

from __future__ import annotations

import pytest

import workbench.kvm
from workbench.kvm import decode
from workbench.kvm.guest import GUEST_STACK_TOP
from workbench.kvm.msrs import numbers as n
from workbench.kvm.msrs.decode import decode_msr

WRITES = """
    mov ecx, 0x277
    mov eax, 0x00000001
    mov edx, 0x00000007
    wrmsr
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x801
    wrmsr
    mov rax, 0x1122334455667788
    push rax
    hlt
"""
NEW_PAT = 0x0000_0007_0000_0001
ENGINES = ["sim", pytest.param("host", marks=pytest.mark.host)]


@pytest.fixture(params=ENGINES)
def vcpu(request):
    with workbench.kvm.open(request.param) as kvm, kvm.create_vm() as vm:
        vcpu = vm.create_vcpu(WRITES)
        yield vcpu
        vcpu.close()


def test_sregs_are_the_runtimes_long_mode_and_follow_efer_writes(vcpu):
    assert vcpu.can_read_state
    before = vcpu.get_sregs()
    assert before.cs.l == 1 and before.cs.present == 1 and before.cs.selector == 0x08
    assert before.cr0 & 1 << 31 and before.cr4 & 1 << 5  # paging, PAE
    assert "PG" in decode.cr0(before.cr0).split()
    assert before.efer & n.EFER_LMA and not before.efer & n.EFER_NX
    assert vcpu.run().kind.name == "HLT"
    after = vcpu.get_sregs()
    assert after.efer & (n.EFER_NX | n.EFER_SCE) == n.EFER_NX | n.EFER_SCE
    assert vcpu.msr_file()[n.MSR_IA32_CR_PAT] == NEW_PAT
    assert vcpu.msr_file()[n.MSR_EFER] == after.efer


def test_memory_shows_the_pushed_value(vcpu):
    vcpu.run()
    rsp = vcpu.get_regs().rsp
    assert rsp == GUEST_STACK_TOP - 8
    assert vcpu.read_memory(rsp, 8) == (0x1122334455667788).to_bytes(8, "little")


def test_memory_outside_ram_is_refused_naming_the_address(vcpu):
    with pytest.raises(ValueError, match="address: 0x400000"):
        vcpu.read_memory(0x400000, 1)


def test_only_the_host_msr_file_has_a_note_on_what_it_cannot_show(vcpu):
    sees_all = vcpu.vm.observes_msrs
    assert (vcpu.msr_file_note == "") == sees_all
    assert sees_all or "last-write" in vcpu.msr_file_note


def test_decoders_spell_out_fields():
    assert decode_msr(n.MSR_IA32_CR_PAT, 0x0007040600070406) == (
        "PA0=WB PA1=WT PA2=UC- PA3=UC PA4=WB PA5=WT PA6=UC- PA7=UC")
    assert decode_msr(n.MSR_IA32_CR_PAT, 0x2) == (
        "PA0=reserved(0x2) PA1=UC PA2=UC PA3=UC PA4=UC PA5=UC PA6=UC PA7=UC")
    assert decode_msr(n.MSR_EFER, 0xD01) == "SCE LME LMA NXE"
    assert decode_msr(n.MSR_IA32_APICBASE, 0xFEE00900) == "base=0xfee00000 xAPIC BSP"
    assert decode_msr(n.MSR_IA32_APICBASE, 0xFEE00C00) == "base=0xfee00000 x2APIC"
    assert decode_msr(n.MSR_IA32_MISC_ENABLE, 0x1801) == "FAST_STRING BTS_UNAVAIL PEBS_UNAVAIL"
    assert decode_msr(n.MSR_IA32_SPEC_CTRL, 0x5) == "IBRS SSBD"
    assert decode_msr(n.MSR_IA32_TSC, 5) is None
    assert decode.rflags(0x246) == "PF ZF IF IOPL=0"
    assert decode.rflags(0x3002) == "IOPL=3"
