"""Huge ranges: the allow/deny helpers never build what the kernel refuses to copy, and
setting such a range fails with the kernel's EINVAL, where the kernel checks it."""

import errno
import resource
import subprocess
import sys

import pytest

import workbench.kvm
from workbench.kvm import uapi
from workbench.kvm.filter import MsrFilter, MsrFilterRange

RW = uapi.KVM_MSR_FILTER_READ | uapi.KVM_MSR_FILTER_WRITE
HUGE = [0xFFFFFFFF, 0x1000000000000, 0x3008]   # 0x3008: the first size the kernel refuses


@pytest.mark.parametrize("nmsrs", HUGE)
@pytest.mark.parametrize("helper", ["from_indices", "from_denied"])
@pytest.mark.parametrize("profile", ["linux-5.10", "linux-6.18"])
def test_huge_range_from_a_helper_fails_when_set_with_einval(helper, nmsrs, profile):
    rng = getattr(MsrFilterRange, helper)(RW, 0, nmsrs, [5])
    vm = workbench.kvm.open("sim").create_vm(profile=profile)
    with pytest.raises(OSError) as info:
        vm.set_msr_filter(MsrFilter(0, [rng]))
    assert info.value.errno == errno.EINVAL
    assert "ranges[0].nmsrs" in str(info.value)


def test_largest_accepted_range_keeps_its_bitmap():
    vm = workbench.kvm.open("sim").create_vm()
    vm.set_msr_filter(MsrFilter(0, [MsrFilterRange.from_denied(RW, 0, 0x3000, [0x2FFF])]))
    assert vm.msr_allowed(0x2FFE, write=False)
    assert not vm.msr_allowed(0x2FFF, write=False)


@pytest.mark.parametrize(("profile", "message"), [
    ("linux-6.18", "ranges[1].flags"),   # 6.18 checks a range's flags before its size
    ("linux-5.10", "ranges[1].nmsrs"),   # 5.10 checks the size first
])
def test_size_check_keeps_each_profiles_order(profile, message):
    ranges = [MsrFilterRange.from_indices(RW, 0x10, 8, [0x10]),
              MsrFilterRange.from_denied(0, 0, 0xFFFFFFFF, [])]
    vm = workbench.kvm.open("sim").create_vm(profile=profile)
    with pytest.raises(OSError) as info:
        vm.set_msr_filter(MsrFilter(0, ranges))
    assert info.value.errno == errno.EINVAL and message in str(info.value)


def test_deny_helper_rejects_an_index_outside_the_range():
    with pytest.raises(ValueError, match="outside"):
        MsrFilterRange.from_denied(RW, 0x10, 4, [0x20])


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_scenario_with_a_huge_deny_range_neither_hangs_nor_crashes(tmp_path):
    scenario = tmp_path / "huge.toml"
    scenario.write_text('version = 1\n[[vcpus]]\nsource = "hlt"\n[filter]\ndefault = "allow"\n'
                        '[[filter.ranges]]\nflags = "rw"\nbase = 0\nnmsrs = 0xffffffff\n'
                        'deny = [5]\n')
    done = subprocess.run([sys.executable, "-m", "workbench.cli", "run", str(scenario),
                           "--headless"], capture_output=True, text=True, timeout=60,
                          preexec_fn=_limit_memory)
    assert "Traceback" not in done.stderr
    assert "ranges[0].nmsrs" in done.stdout + done.stderr
    assert "KVM_MSR_FILTER_MAX_BITMAP_SIZE" in done.stdout + done.stderr


@pytest.mark.host
@pytest.mark.parametrize("nmsrs", HUGE)
def test_host_refuses_huge_helper_ranges_with_einval(nmsrs):
    with (workbench.kvm.open("host") as kvm, kvm.create_vm() as vm,
          pytest.raises(OSError) as info):
        vm.set_msr_filter(MsrFilter(0, [MsrFilterRange.from_denied(RW, 0, nmsrs, [5])]))
    assert info.value.errno == errno.EINVAL
