"""Kernel selftest scenarios (spec §9) and the host observations of spec §5, on both engines.

Each scenario runs on the real kernel and on the sim (given this host's CPUID and vendor);
the exit sequences, #GP counts and final registers must be identical. Where a scenario
states what the kernel does (`expect`), the host run is also checked against it, so a
harness that silently did nothing could not pass.
"""

from __future__ import annotations

import errno

import pytest
from host_differential import (
    END_PORT,
    FILTER_PORT,
    MSR_EXITS,
    REPORT_PORT,
    Answer,
    Engines,
    Scenario,
    assert_same,
)

from workbench.kvm import MsrFilter, MsrFilterRange, uapi
from workbench.kvm.guest import assemble

pytestmark = [pytest.mark.host, pytest.mark.differential]

INVAL, UNKNOWN, FILTER = (uapi.KVM_MSR_EXIT_REASON_INVAL, uapi.KVM_MSR_EXIT_REASON_UNKNOWN,
                          uapi.KVM_MSR_EXIT_REASON_FILTER)
READ, WRITE, RW = uapi.KVM_MSR_FILTER_READ, uapi.KVM_MSR_FILTER_WRITE, 3
DENY = uapi.KVM_MSR_FILTER_DEFAULT_DENY

TSC, APIC_BASE, MSR_35, PRED_CMD, FLUSH_CMD = 0x10, 0x1B, 0x35, 0x49, 0x10B
XSS, EFER, FS_BASE, GS_BASE, KERNEL_GS_BASE, TSC_AUX = (
    0xDA0, 0xC0000080, 0xC0000100, 0xC0000101, 0xC0000102, 0xC0000103)
NON_EXISTENT = 0x474F4F00  # the selftest's MSR_NON_EXISTENT


# --- program text ----------------------------------------------------------------------------
def rd(index: int) -> str:
    """Read an MSR and report EDX:EAX (two OUT exits)."""
    return (f"mov ecx, {index:#x}\nrdmsr\nout {REPORT_PORT:#x}, eax\nmov eax, edx\n"
            f"out {REPORT_PORT + 1:#x}, eax\n")


def wr(index: int, value: int) -> str:
    return (f"mov ecx, {index:#x}\nmov eax, {value & 0xFFFFFFFF:#x}\n"
            f"mov edx, {value >> 32:#x}\nwrmsr\n")


def switch_filter(key: int) -> str:
    return f"mov al, {key}\nout {FILTER_PORT:#x}, al\n"


END = f"out {END_PORT:#x}, al\n"


# --- expected exits (VcpuExit.key()) -------------------------------------------------------
def x_rd(index: int, reason: int) -> tuple[int, ...]:
    return (uapi.KVM_EXIT_X86_RDMSR, index, 0, reason)


def x_wr(index: int, data: int, reason: int) -> tuple[int, ...]:
    return (uapi.KVM_EXIT_X86_WRMSR, index, data, reason)


def x_report(value: int) -> list[tuple[int, ...]]:
    out = uapi.KVM_EXIT_IO, uapi.KVM_EXIT_IO_OUT
    return [(*out, REPORT_PORT, 4, value & 0xFFFFFFFF), (*out, REPORT_PORT + 1, 4, value >> 32)]


def x_out(port: int, value: int) -> tuple[int, ...]:
    return (uapi.KVM_EXIT_IO, uapi.KVM_EXIT_IO_OUT, port, 1, value)


X_HLT = (uapi.KVM_EXIT_HLT,)


def deny(flags: int, base: int, nmsrs: int = 1) -> MsrFilterRange:
    return MsrFilterRange(flags, base, nmsrs, bytes((nmsrs + 7) // 8))


def allow_all_but(flags: int, base: int, nmsrs: int, denied: tuple[int, ...] = ()):
    allowed = [i for i in range(base, base + nmsrs) if i not in denied]
    return MsrFilterRange.from_indices(flags, base, nmsrs, allowed)


# --- the scenarios -----------------------------------------------------------------------
# (scenario, expected exits on the kernel or None, expected #GP count or None)
FILTER_ALLOW = MsrFilter(uapi.KVM_MSR_FILTER_DEFAULT_ALLOW, (
    deny(RW, XSS), deny(RW, FLUSH_CMD), deny(WRITE, NON_EXISTENT), deny(READ, NON_EXISTENT),
    deny(READ, FS_BASE), deny(WRITE, GS_BASE),
))
SELFTEST = [
    (
        Scenario(
            "filter allow: denied accesses exit FILTER, user space's answer is what the guest sees",
            rd(XSS) + wr(XSS, 0x1) + rd(FLUSH_CMD) + wr(FLUSH_CMD, 1) + rd(NON_EXISTENT)
            + wr(NON_EXISTENT, 0xAB_0000_00CD) + rd(FS_BASE) + wr(FS_BASE, 0x1000)
            + rd(GS_BASE) + wr(GS_BASE, 0x2000) + "hlt",
            mask=FILTER, filter=FILTER_ALLOW,
            answers=[Answer(0x1122334455667788), Answer(), Answer(error=1), Answer(error=1),
                     Answer(0xFFFF_FFFF_0000_0001), Answer(), Answer(0x42), Answer()],
        ),
        [x_rd(XSS, FILTER), *x_report(0x1122334455667788), x_wr(XSS, 1, FILTER),
         x_rd(FLUSH_CMD, FILTER), *x_report(1), x_wr(FLUSH_CMD, 1, FILTER),
         x_rd(NON_EXISTENT, FILTER), *x_report(0xFFFF_FFFF_0000_0001),
         x_wr(NON_EXISTENT, 0xAB_0000_00CD, FILTER), x_rd(FS_BASE, FILTER), *x_report(0x42),
         *x_report(0), x_wr(GS_BASE, 0x2000, FILTER), X_HLT],
        2,
    ),
    (
        Scenario(
            "filter deny: accesses outside every allow range exit FILTER",
            rd(APIC_BASE) + rd(TSC) + rd(MSR_35) + rd(0x40000000) + rd(0x4B564D00)
            + wr(0x4B564D00, 0) + rd(0x808) + rd(FS_BASE) + wr(GS_BASE, 0x7F00_0000_1000)
            + rd(GS_BASE) + rd(0xC0010015) + rd(0xC0011029) + wr(0xC0010200, 5) + "hlt",
            mask=INVAL | UNKNOWN | FILTER,
            filter=MsrFilter(DENY, (
                allow_all_but(READ, 0, 0x3000, denied=(TSC,)),
                allow_all_but(WRITE, 0, 0x3000),
                allow_all_but(RW, 0xC0000000, 0x3000, denied=(FS_BASE,)),
                allow_all_but(RW, 0xC0010000, 0x100),
            )),
            answers=[Answer(0x5), Answer(0x35), Answer(0x4000), Answer(0x4B56)],
        ),
        None,
        0,
    ),
    (
        Scenario(
            "permission bitmap: passthrough FS/GS_BASE follow the filter while the vCPU lives",
            wr(FS_BASE, 0x7000_1000) + wr(GS_BASE, 0x7000_2000) + rd(FS_BASE) + switch_filter(1)
            + rd(FS_BASE) + wr(GS_BASE, 0x9999) + rd(GS_BASE) + switch_filter(2)
            + rd(FS_BASE) + wr(FS_BASE, 0x5000) + switch_filter(0) + rd(FS_BASE) + rd(GS_BASE)
            + "hlt",
            mask=FILTER,
            filters_on_out={
                0: None,
                1: MsrFilter(0, (deny(RW, FS_BASE, 2),)),
                2: MsrFilter(0, (deny(WRITE, FS_BASE),)),
            },
            answers=[Answer(0xDEAD), Answer(), Answer(), Answer()],
        ),
        [*x_report(0x7000_1000), x_out(FILTER_PORT, 1), x_rd(FS_BASE, FILTER),
         *x_report(0xDEAD), x_wr(GS_BASE, 0x9999, FILTER), x_rd(GS_BASE, FILTER),
         *x_report(0), x_out(FILTER_PORT, 2), *x_report(0x7000_1000),
         x_wr(FS_BASE, 0x5000, FILTER), x_out(FILTER_PORT, 0), *x_report(0x7000_1000),
         *x_report(0x7000_2000), X_HLT],
        0,
    ),
]

OBSERVATIONS = [
    (
        Scenario(
            "unknown indices exit UNKNOWN",
            rd(MSR_35) + wr(MSR_35, 1) + rd(0x2) + rd(0xFFFFFFFF) + rd(0x40000100)
            + rd(0xC0001000) + wr(0x474F4F00, 7) + "hlt",
            mask=UNKNOWN,
            answers=[Answer(1), Answer(), Answer(2), Answer(3), Answer(4), Answer(5), Answer()],
        ),
        [x_rd(MSR_35, UNKNOWN), *x_report(1), x_wr(MSR_35, 1, UNKNOWN),
         x_rd(0x2, UNKNOWN), *x_report(2), x_rd(0xFFFFFFFF, UNKNOWN), *x_report(3),
         x_rd(0x40000100, UNKNOWN), *x_report(4), x_rd(0xC0001000, UNKNOWN), *x_report(5),
         x_wr(0x474F4F00, 7, UNKNOWN), X_HLT],
        0,
    ),
    *[
        (
            Scenario(
                f"filter-denied TSC read, mask {mask:#x}",
                rd(TSC) + "hlt", mask=mask, filter=MsrFilter(0, (deny(READ, TSC),)),
                answers=[Answer(0x1234)],
            ),
            [x_rd(TSC, FILTER), *x_report(0x1234), X_HLT] if mask else [*x_report(0), X_HLT],
            0 if mask else 1,
        )
        for mask in (FILTER, 0)
    ],
    *[
        (
            Scenario(
                f"x2APIC MSRs in xAPIC mode are INVAL (irqchip={irqchip}), "
                "even under a default-deny filter",
                rd(0x802) + rd(0x808) + wr(0x808, 0) + (END if irqchip else "hlt"),
                mask=INVAL | FILTER, irqchip=irqchip,
                filter=MsrFilter(DENY, (deny(RW, 0x10),)),
                answers=[Answer(0x802), Answer(0x808), Answer()],
            ),
            [x_rd(0x802, INVAL), *x_report(0x802), x_rd(0x808, INVAL), *x_report(0x808),
             x_wr(0x808, 0, INVAL), x_out(END_PORT, 0) if irqchip else X_HLT],
            0,
        )
        for irqchip in (False, True)
    ],
    (
        Scenario(
            "PRED_CMD: read UNKNOWN, write of 1 accepted",
            rd(PRED_CMD) + wr(PRED_CMD, 1) + "hlt", mask=INVAL | UNKNOWN,
            answers=[Answer(0x77)],
        ),
        [x_rd(PRED_CMD, UNKNOWN), *x_report(0x77), X_HLT],
        0,
    ),
    (
        Scenario(
            "TSC_AUX without RDTSCP/RDPID in the guest CPUID: read and write INVAL",
            rd(TSC_AUX) + wr(TSC_AUX, 1) + "hlt", mask=INVAL,
            answers=[Answer(0x99), Answer()],
        ),
        None,
        0,
    ),
    (
        Scenario(
            "FS_BASE: non-canonical write INVAL, canonical FS/GS/KERNEL_GS_BASE round-trip",
            wr(FS_BASE, 0x8000_0000_0000_0000) + wr(FS_BASE, 0xFFFF_8000_1234_5000)
            + wr(GS_BASE, 0x0000_7FFF_FFFF_F000) + wr(KERNEL_GS_BASE, 0xFFFF_FFFF_FFFF_F000)
            + rd(FS_BASE) + rd(GS_BASE) + rd(KERNEL_GS_BASE) + "hlt",
            mask=INVAL,
        ),
        [x_wr(FS_BASE, 0x8000_0000_0000_0000, INVAL), *x_report(0xFFFF_8000_1234_5000),
         *x_report(0x0000_7FFF_FFFF_F000), *x_report(0xFFFF_FFFF_FFFF_F000), X_HLT],
        0,
    ),
    (
        Scenario("APIC_BASE of the boot vCPU", rd(APIC_BASE) + "hlt", mask=7),
        [*x_report(0xFEE00900), X_HLT],
        0,
    ),
    (
        Scenario(
            "a refused completion (error) injects #GP and leaves RAX/RDX unchanged",
            "mov eax, 0x11111111\nmov edx, 0x22222222\nmov ecx, 0x35\nrdmsr\n"
            "mov ecx, 0x36\nmov eax, 0x33\nwrmsr\nhlt",
            mask=UNKNOWN, answers=[Answer(0xFFFF, error=1), Answer(error=0xFF)],
        ),
        [x_rd(MSR_35, UNKNOWN), x_wr(0x36, 0x2222222200000033, UNKNOWN), X_HLT],
        2,
    ),
]

USER_EXIT_PER_REASON = [
    (
        Scenario(
            f"user exit per reason, mask {mask:#x}",
            rd(TSC_AUX) + rd(MSR_35) + rd(TSC) + wr(TSC_AUX, 0) + wr(MSR_35, 0) + wr(TSC, 0)
            + "hlt",
            mask=mask, filter=MsrFilter(0, (deny(RW, TSC),)),
            answers=[Answer(0x42)] * 6,
        ),
        None,
        2 * sum(1 for reason in (INVAL, UNKNOWN, FILTER) if not mask & reason),
    )
    for mask in range(8)
]

CASES = SELFTEST + OBSERVATIONS + USER_EXIT_PER_REASON


@pytest.fixture(scope="module")
def engines():
    engines = Engines()
    yield engines
    engines.close()


def _param(case):
    """A scenario showing a reported disagreement is an xfail(strict=True)."""
    reason = case[0].known_divergence
    marks = [] if reason is None else [pytest.mark.kernel_divergence(reason=reason),
                                       pytest.mark.xfail(strict=True, reason=reason)]
    return pytest.param(*case, id=case[0].name, marks=marks)


@pytest.mark.parametrize(("scenario", "expected", "gp_count"), [_param(c) for c in CASES])
def test_scenario_agrees(engines, scenario, expected, gp_count):
    host, sim = engines.both(scenario)
    if expected is not None:
        assert host.exits == expected
    if gp_count is not None:
        assert host.gp_count == gp_count
    assert all(error is None for error in host.errors)
    assert_same(host, sim)


def test_user_exit_per_reason_exits_only_for_chosen_reasons(engines):
    """The mask decides per reason: each MSR exit's reason is in the mask (kernel side)."""
    for scenario, _, _ in USER_EXIT_PER_REASON:
        host = engines.run_host(scenario)
        reasons = {key[3] for key in host.exits if key[0] in MSR_EXITS}
        assert reasons == {r for r in (INVAL, UNKNOWN, FILTER) if scenario.mask & r}


def test_rip_at_io_exits_agrees(engines):
    """Where RIP stands while user space handles an IO exit (an OUT has retired on this
    kernel, which emulates it; an IN waits at the instruction for its data)."""
    seen = []
    for vm in (engines.host.create_vm(),
               engines.sim.create_vm(**engines.traits.sim_vm_args())):
        with vm:
            vcpu = vm.create_vcpu(assemble("out 0x80, al\nin al, 0x60\nhlt"))
            rips = []
            for _ in range(3):
                exit_ = vcpu.run()
                rips.append((exit_.exit_reason, exit_.rip, vcpu.get_regs().rip))
            seen.append(rips)
    assert seen[0] == seen[1]


# --- flags checks: refused with EINVAL on both engines -----------------------------------------
VALID_RANGE = MsrFilterRange(READ, 0, 8, b"\xff")
FLAG_CHECKS = [
    *[("filter flags", MsrFilter(flags, (VALID_RANGE,)), errno.EINVAL)
      for flags in (2, 3, 4, 0x80, 0x8000_0000, 0xFFFF_FFFF)],
    *[("range flags", MsrFilter(0, (MsrFilterRange(flags, 0, 8, b"\xff"),)), errno.EINVAL)
      for flags in (0, 4, 7, 8, 0x8000_0000)],
    ("default deny, no range", MsrFilter(DENY), errno.EINVAL),
    ("default deny, empty ranges", MsrFilter(DENY, (MsrFilterRange(RW, 0, 0),)), errno.EINVAL),
    ("valid", MsrFilter(DENY, (VALID_RANGE,)), None),
    ("valid, empty range with bad flags skipped", MsrFilter(0, (MsrFilterRange(8, 0, 0),)),
     None),
    *[("cap mask", mask, errno.EINVAL) for mask in (8, 0x10, 0xF, 0x8000_0000, 1 << 63)],
    *[("cap mask", mask, None) for mask in range(8)],
]


@pytest.mark.parametrize(("what", "value", "expected"), FLAG_CHECKS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FLAG_CHECKS)])
def test_flags_checks(engines, what, value, expected):
    results = []
    for vm in (engines.host.create_vm(),
               engines.sim.create_vm(**engines.traits.sim_vm_args())):
        with vm:
            try:
                if what == "cap mask":
                    vm.enable_cap(uapi.KVM_CAP_X86_USER_SPACE_MSR, value)
                else:
                    vm.set_msr_filter(value)
            except OSError as exc:
                results.append(exc.errno)
            else:
                results.append(None)
    assert results == [expected, expected]
