"""The guest runtime of api.md on the sim: start state, HLT/IO exits, step, shutdown."""

import pytest

from workbench.kvm import uapi
from workbench.kvm.guest import GUEST_CODE_BASE, GUEST_STACK_TOP, AssemblyError, assemble


def test_start_state(sim):
    vcpu = sim.create_vm().create_vcpu(assemble("hlt"))
    regs = vcpu.get_regs()
    assert regs.rip == GUEST_CODE_BASE and regs.rsp == GUEST_STACK_TOP
    assert all(regs[r] == 0 for r in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
                                      "r15"))


def test_hlt_exits_after_the_instruction(sim):
    vcpu = sim.create_vm().create_vcpu(assemble("nop\nhlt\nmov eax, 1\nhlt"))
    exit_ = vcpu.run()
    assert exit_.exit_reason == uapi.KVM_EXIT_HLT
    assert vcpu.get_regs().rip == GUEST_CODE_BASE + 2
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_HLT
    assert vcpu.get_regs().rax == 1


def test_out_reports_port_size_and_value(sim):
    vcpu = sim.create_vm().create_vcpu(assemble(
        "mov eax, 0x12345678\nout 0x80, al\nmov dx, 0x3f8\nout dx, eax\nhlt"))
    first, second = vcpu.run(), vcpu.run()
    assert (first.exit_reason, first.io.direction, first.io.port, first.io.size,
            first.io.data) == (uapi.KVM_EXIT_IO, uapi.KVM_EXIT_IO_OUT, 0x80, 1, 0x78)
    assert (second.io.port, second.io.size, second.io.data) == (0x3F8, 4, 0x12345678)
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_HLT


def test_in_takes_user_space_data_on_reentry(sim):
    vcpu = sim.create_vm().create_vcpu(assemble("mov eax, 0xffffffff\nin al, 0x60\nhlt"))
    exit_ = vcpu.run()
    assert (exit_.io.direction, exit_.io.port, exit_.io.size) == (uapi.KVM_EXIT_IO_IN, 0x60, 1)
    exit_.io.data = 0x5A
    vcpu.run()
    assert vcpu.get_regs().rax == 0xFFFFFF5A


def test_step_executes_one_instruction(sim):
    vcpu = sim.create_vm().create_vcpu(assemble("mov eax, 1\nmov ebx, 2\nhlt"))
    assert vcpu.step() is None
    regs = vcpu.get_regs()
    assert (regs.rax, regs.rbx, regs.rip) == (1, 0, GUEST_CODE_BASE + 5)
    assert vcpu.step() is None
    assert vcpu.step().exit_reason == uapi.KVM_EXIT_HLT


LOOP = "top:\nmov ebx, 2\nmov ecx, 3\nout 0x80, al\njmp top"


def test_a_step_after_a_run_over_the_same_code_executes_one_instruction(sim):
    """The run translated the loop's code without counting; a step over it still stops
    after one instruction, not at the next intercepted one."""
    program = assemble(LOOP)
    vcpu = sim.create_vm().create_vcpu(program)
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_IO     # out retired: RIP at the jmp
    addresses = [insn.address for insn in program.listing]
    seen = []
    for _ in range(3):
        assert vcpu.step() is None
        seen.append(vcpu.get_regs().rip)
    assert seen == [addresses[0], addresses[1], addresses[2]]   # jmp, mov ebx, mov ecx


def test_a_breakpoint_set_after_its_code_ran_stops_the_next_run(sim):
    program = assemble(LOOP)
    vcpu = sim.create_vm().create_vcpu(program)
    vcpu.run()
    second = program.listing[1].address
    vcpu.set_breakpoint(second)
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_DEBUG
    assert vcpu.get_regs().rip == second


def test_undefined_instruction_shuts_down(sim):
    vcpu = sim.create_vm().create_vcpu(assemble("ud2"))
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_SHUTDOWN
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_SHUTDOWN


def test_memory_beyond_guest_ram_shuts_down(sim):
    vcpu = sim.create_vm().create_vcpu(assemble("mov rax, 0x40000000\nmov rbx, [rax]\nhlt"))
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_SHUTDOWN


def test_set_regs_round_trip(sim):
    vcpu = sim.create_vm().create_vcpu(assemble("hlt"))
    regs = vcpu.get_regs()
    regs.rbx = 0xDEADBEEF
    regs["r9"] = 7
    vcpu.set_regs(regs)
    assert (vcpu.get_regs().rbx, vcpu.get_regs().r9) == (0xDEADBEEF, 7)


def test_cpuid_instruction_reads_the_vm_cpuid(sim):
    vcpu = sim.create_vm(vendor="amd").create_vcpu(assemble("xor eax, eax\ncpuid\nhlt"))
    vcpu.run()
    regs = vcpu.get_regs()
    vendor = b"".join(regs[r].to_bytes(4, "little") for r in ("rbx", "rdx", "rcx"))
    assert vendor == b"AuthenticAMD"


def test_assembly_error_names_the_line():
    with pytest.raises(AssemblyError) as info:
        assemble("mov eax, 1\nfrobnicate eax\nhlt")
    assert info.value.line == 2
    assert "line 2" in str(info.value)


def test_listing_disassembles_the_program():
    program = assemble("mov ecx, 0x35\nrdmsr\nhlt")
    assert [i.text for i in program.listing] == ["mov ecx, 0x35", "rdmsr", "hlt"]
    assert program.listing[1].address == GUEST_CODE_BASE + 5


def test_rip_at_io_exits_follows_the_kernel(sim):
    """Seen on the 6.18 host: an OUT has retired when user space sees the exit, an IN
    waits at the instruction until its data arrives."""
    vcpu = sim.create_vm().create_vcpu(assemble("out 0x80, al\nin al, 0x60\nhlt"))
    out = vcpu.run()
    assert out.rip == vcpu.get_regs().rip == GUEST_CODE_BASE + 2
    in_ = vcpu.run()
    assert in_.rip == vcpu.get_regs().rip == GUEST_CODE_BASE + 2
    assert vcpu.run().exit_reason == uapi.KVM_EXIT_HLT
    assert vcpu.get_regs().rip == GUEST_CODE_BASE + 5
