"""Guest CPUID: lookups, vendor and feature questions, and the built-in CPU models."""

import pytest

import workbench.kvm
from workbench.kvm.cpuid import FEATURES, Cpuid, CpuidEntry, default_cpuid


def _vendor_leaf(sig: bytes) -> tuple[int, ...]:
    ebx, edx, ecx = (int.from_bytes(sig[i:i + 4], "little") for i in (0, 4, 8))
    return (0, 0, 0xD, ebx, ecx, edx)


def _with(rows, *extra):
    return Cpuid([*rows, *extra])


@pytest.mark.parametrize("sig, vendor, intel_compatible", [
    (b"GenuineIntel", "intel", True),
    (b"AuthenticAMD", "amd", False),
    (b"HygonGenuine", "hygon", False),
    (b"CentaurHauls", "centaur", True),
    (b"  Shanghai  ", "zhaoxin", True),
    (b"VirtualCPU!!", "unknown", True),
])
def test_vendor_and_intel_compatibility(sig, vendor, intel_compatible):
    cpuid = Cpuid([_vendor_leaf(sig)])
    assert cpuid.vendor == vendor
    assert cpuid.is_intel_compatible is intel_compatible


def test_no_leaf_0_is_unknown_vendor():
    assert Cpuid().vendor == "unknown"


def test_index_matters_only_for_indexed_leaves():
    cpuid = Cpuid([(7, 0, 1, 2, 3, 4), (7, 1, 5, 6, 7, 8), (1, 0, 9, 9, 9, 9)])
    assert cpuid.get(7, 1).eax == 5
    assert cpuid.get(7).eax == 1
    assert cpuid.get(7, 2) is None
    assert cpuid.get(1, 5).eax == 9  # leaf 1 ignores ECX
    assert cpuid.get(0x8000001D, 0) is None


def test_tuples_and_entries_round_trip():
    rows = [(0, 0, 1, 2, 3, 4), (0xD, 1, 0xF, 0, 0x1800, 0)]
    cpuid = Cpuid.from_tuples(rows)
    assert cpuid.to_tuples() == rows
    assert cpuid.entries[1] == CpuidEntry(0xD, 1, 0xF, 0, 0x1800, 0)
    assert Cpuid(cpuid.entries) == cpuid
    model = default_cpuid("amd")
    assert Cpuid.from_tuples(model.to_tuples()) == model


def test_unknown_feature_raises():
    with pytest.raises(ValueError, match="no_such_feature"):
        default_cpuid().has("no_such_feature")


def test_unknown_model_vendor_raises():
    with pytest.raises(ValueError):
        default_cpuid("via")


def test_spec_ctrl_is_any_of_intel_and_amd_bits():
    base = [_vendor_leaf(b"AuthenticAMD")]
    assert not _with(base).has("spec_ctrl")
    for bit in (14, 15, 24):  # AMD IBRS, STIBP, SSBD
        assert _with(base, (0x80000008, 0, 0, 1 << bit, 0, 0)).has("spec_ctrl")
    assert not _with(base, (0x80000008, 0, 0, 1 << 12, 0, 0)).has("spec_ctrl")
    assert _with(base, (7, 0, 0, 0, 0, 1 << 26)).has("spec_ctrl")


def test_ibpb_follows_pred_cmd_rule():
    base = [_vendor_leaf(b"GenuineIntel")]
    assert not _with(base).has("ibpb")
    assert _with(base, (0x80000008, 0, 0, 1 << 12, 0, 0)).has("ibpb")
    assert _with(base, (7, 0, 0, 0, 0, 1 << 26)).has("ibpb")
    assert not _with(base, (0x80000008, 0, 0, 1 << 14, 0, 0)).has("ibpb")


def test_kvm_pv_features_need_the_signature():
    sig = (0x40000000, 0, 0x40000001, 0x4B4D564B, 0x564B4D56, 0x4D)
    feats = (0x40000001, 0, 0b1001, 0, 0, 0)
    assert Cpuid([sig, feats]).has("kvm_pv_clocksource")
    assert Cpuid([sig, feats]).has("kvm_pv_clocksource2")
    assert not Cpuid([sig, feats]).has("kvm_pv_async_pf")
    assert not Cpuid([feats]).has("kvm_pv_clocksource")  # no signature, no PV leaf


def test_kvm_leaves_found_behind_another_hypervisor():
    hyperv = (0x40000000, 0, 0x40000005, 0x7263694D, 0x666F736F, 0x76482074)
    kvm = [(0x40000100, 0, 0x40000101, 0x4B4D564B, 0x564B4D56, 0x4D),
           (0x40000101, 0, 1 << 5, 0, 0, 0)]
    cpuid = Cpuid([hyperv, *kvm])
    assert cpuid.kvm_pv_base == 0x40000100
    assert cpuid.has("kvm_pv_steal_time")


REQUIRED = {
    "intel": ["x2apic", "tsc_deadline_timer", "rdtscp", "rdpid", "spec_ctrl", "ibpb",
              "flush_l1d", "arch_capabilities", "xsaves", "xfd", "shstk", "ibt", "pdcm",
              "mtrr", "pat", "mca", "mce", "lm", "nx", "syscall", "kvm_pv_clocksource",
              "kvm_pv_clocksource2", "kvm_pv_async_pf", "kvm_pv_steal_time", "kvm_pv_eoi",
              "kvm_pv_poll_control", "kvm_pv_async_pf_int", "kvm_pv_msi_ext_dest_id"],
    "amd": ["x2apic", "tsc_deadline_timer", "rdtscp", "rdpid", "spec_ctrl", "ibpb",
            "arch_capabilities", "xsaves", "svm", "virt_ssbd", "osvw", "mtrr", "pat", "lm",
            "nx", "syscall", "kvm_pv_clocksource2", "kvm_pv_async_pf_int"],
}
ABSENT = {
    "intel": ["svm", "vmx", "la57", "osvw"],
    "amd": ["flush_l1d", "xfd", "ibt", "pdcm", "vmx"],
}


@pytest.mark.parametrize("vendor", ["intel", "amd"])
def test_default_models_have_the_promised_features(vendor):
    model = default_cpuid(vendor)
    assert model.vendor == vendor
    assert [f for f in REQUIRED[vendor] if not model.has(f)] == []
    assert [f for f in ABSENT[vendor] if model.has(f)] == []


@pytest.mark.parametrize("vendor", ["intel", "amd"])
def test_default_models_are_consistent(vendor):
    model = default_cpuid(vendor)
    max_basic = model.get(0).eax
    max_ext = model.get(0x80000000).eax
    for e in model.entries:
        if e.function < 0x40000000:
            assert e.function <= max_basic, hex(e.function)
        elif e.function >= 0x80000000:
            assert e.function <= max_ext, hex(e.function)
    assert model.get(0x40000000).eax == 0x40000001
    assert model.get(7, 0).eax >= 1 and model.get(7, 1) is not None
    assert model.max_phys_addr in (46, 48)
    keys = [(e.function, e.index) for e in model.entries]
    assert len(keys) == len(set(keys))
    assert default_cpuid(vendor) == model  # deterministic


def test_features_lists_every_known_name():
    assert default_cpuid().features() <= FEATURES
    assert "kvm_pv_eoi" in default_cpuid().features()


BAD_ROWS = [
    ((0x1, 0, 1 << 32, 0, 0, 0), "cpuid[1].eax"),
    ((0x1, 0, 0, 0, -1, 0), "cpuid[1].ecx"),
    ((0x1 << 32, 0, 0, 0, 0, 0), "cpuid[1].function"),
    ((0x1, 0, 0, "7", 0, 0), "cpuid[1].ebx"),
    ((0x1, 0, 0), "cpuid[1]"),
]


@pytest.mark.parametrize(("row", "field"), BAD_ROWS)
def test_sim_refuses_cpuid_values_a_u32_cannot_hold(row, field):
    with pytest.raises(ValueError) as info:
        workbench.kvm.open("sim").create_vm(cpuid=[_vendor_leaf(b"GenuineIntel"), row])
    assert str(info.value).startswith(f"{field}:")


@pytest.mark.host
@pytest.mark.parametrize(("row", "field"), BAD_ROWS)
def test_host_refuses_cpuid_values_a_u32_cannot_hold(row, field):
    with workbench.kvm.open("host") as kvm, pytest.raises(ValueError) as info:
        kvm.create_vm(cpuid=[_vendor_leaf(b"AuthenticAMD"), row])
    assert str(info.value).startswith(f"{field}:")
