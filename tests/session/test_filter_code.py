"""Filters as code: the C export compiles against the kernel's <linux/kvm.h> and holds the
filter's bytes; the Rust export builds kvm-bindings' structs; JSON and TOML round-trip."""

import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.kvm import uapi
from workbench.kvm.filter import MsrFilter, MsrFilterRange, bitmap_copy_size
from workbench.session import filter_files
from workbench.session.filter_code import to_c, to_rust

RW = uapi.KVM_MSR_FILTER_READ | uapi.KVM_MSR_FILTER_WRITE
MAX_NMSRS = uapi.KVM_MSR_FILTER_MAX_BITMAP_SIZE * 8

HARNESS = r"""
#include <stdio.h>
#include <linux/kvm.h>
extern struct kvm_msr_filter msr_filter;
int main(void)
{
    printf("flags %u\n", msr_filter.flags);
    for (int i = 0; i < KVM_MSR_FILTER_MAX_RANGES; i++) {
        struct kvm_msr_filter_range *r = &msr_filter.ranges[i];
        printf("range %u %#x %u ", r->flags, r->base, r->nmsrs);
        if (!r->bitmap)
            printf("null");
        for (unsigned j = 0; r->bitmap && j < (r->nmsrs + 63) / 64 * 8; j++)
            printf("%02x", r->bitmap[j]);
        printf("\n");
    }
    return 0;
}
"""

FILTERS = {
    "empty": MsrFilter(),
    "deny-default": MsrFilter(uapi.KVM_MSR_FILTER_DEFAULT_DENY,
                              [MsrFilterRange.from_indices(RW, 0x10, 70, [0x10, 0x50])]),
    "read-and-write": MsrFilter(0, [
        MsrFilterRange.from_denied(uapi.KVM_MSR_FILTER_READ, 0xC0000080, 1, [0xC0000080]),
        MsrFilterRange(uapi.KVM_MSR_FILTER_WRITE, 0x277, 3, b"\x05")]),
    "max-ranges": MsrFilter(0, [MsrFilterRange.from_indices(RW, 0x100 * i, 64 + i, [0x100 * i])
                                for i in range(uapi.KVM_MSR_FILTER_MAX_RANGES)]),
    "max-bitmap": MsrFilter(uapi.KVM_MSR_FILTER_DEFAULT_DENY, [
        MsrFilterRange(RW, 0, MAX_NMSRS, bytes(range(256)) * 6)]),
}


def expected_dump(msr_filter):
    """What the harness prints for `msr_filter`: unused slots are zero, as in C."""
    lines = [f"flags {msr_filter.flags}"]
    for i in range(uapi.KVM_MSR_FILTER_MAX_RANGES):
        if i >= len(msr_filter.ranges):
            lines.append("range 0 0 0 null")
            continue
        r = msr_filter.ranges[i]
        size = bitmap_copy_size(r.nmsrs)
        data = r.bitmap[:size].ljust(size, b"\0").hex() if size else "null"
        base = f"{r.base:#x}" if r.base else "0"  # printf's %#x prints 0 bare
        lines.append(f"range {r.flags} {base} {r.nmsrs} {data}")
    return lines


def _kvm_header_reason():
    if shutil.which("gcc") is None:
        return "gcc is not installed"
    probe = subprocess.run(["gcc", "-E", "-x", "c", "-"], input="#include <linux/kvm.h>\n"
                           "struct kvm_msr_filter f;\n", capture_output=True, text=True)
    if probe.returncode != 0 or "kvm_msr_filter_range" not in probe.stdout:
        return "<linux/kvm.h> with struct kvm_msr_filter is missing (Debian: linux-libc-dev)"
    return None


@pytest.mark.skipif(_kvm_header_reason() is not None, reason=str(_kvm_header_reason()))
@pytest.mark.parametrize("name", FILTERS)
def test_c_export_compiles_and_holds_the_filter(tmp_path, name):
    msr_filter = FILTERS[name]
    filter_files.export(msr_filter, tmp_path / "filter.c")
    (tmp_path / "harness.c").write_text(HARNESS)
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o",
                    str(tmp_path / "harness"), str(tmp_path / "filter.c"),
                    str(tmp_path / "harness.c")], check=True, capture_output=True, timeout=60)
    out = subprocess.run([str(tmp_path / "harness")], check=True, capture_output=True,
                         text=True, timeout=30).stdout
    assert out.splitlines() == expected_dump(msr_filter)


def test_rust_export_builds_kvm_bindings_structs():
    text = to_rust(FILTERS["deny-default"])
    assert "use kvm_bindings::{kvm_msr_filter, kvm_msr_filter_range};" in text
    assert "flags: kvm_bindings::KVM_MSR_FILTER_READ | kvm_bindings::KVM_MSR_FILTER_WRITE" in text
    assert "base: 0x10," in text and "nmsrs: 70," in text
    assert "bitmap: bitmaps.range_0.as_mut_ptr()," in text
    assert "0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01," in text
    assert "kvm_msr_filter { flags: kvm_bindings::KVM_MSR_FILTER_DEFAULT_DENY, ranges }" in text


@pytest.mark.skipif(shutil.which("rustc") is None, reason="rustc is not installed")
def test_rust_export_type_checks_against_the_crates_layout(tmp_path):
    """kvm-bindings is not fetched here: a stub with its x86-64 definitions of the two
    structs and the flag constants (u32, as bindgen emits them) stands in for it."""
    stub = """
        #![allow(non_camel_case_types, dead_code)]
        pub const KVM_MSR_FILTER_READ: u32 = 1; pub const KVM_MSR_FILTER_WRITE: u32 = 2;
        pub const KVM_MSR_FILTER_DEFAULT_ALLOW: u32 = 0;
        pub const KVM_MSR_FILTER_DEFAULT_DENY: u32 = 1;
        #[repr(C)] #[derive(Debug, Copy, Clone)]
        pub struct kvm_msr_filter_range { pub flags: u32, pub nmsrs: u32, pub base: u32,
                                          pub bitmap: *mut u8 }
        #[repr(C)] #[derive(Debug, Copy, Clone)]
        pub struct kvm_msr_filter { pub flags: u32, pub ranges: [kvm_msr_filter_range; 16] }
    """
    (tmp_path / "kvm_bindings.rs").write_text(stub)
    rustc = ["rustc", "--edition", "2021", "-D", "warnings", "--out-dir", str(tmp_path)]
    subprocess.run([*rustc, "--crate-type", "rlib", str(tmp_path / "kvm_bindings.rs")],
                   check=True, capture_output=True, timeout=120)
    for name in ("empty", "deny-default", "max-ranges"):
        (tmp_path / "filter.rs").write_text(to_rust(FILTERS[name]))
        (tmp_path / "main.rs").write_text(
            "mod filter;\nfn main() {\n"
            "    let mut b = filter::MsrFilterBitmaps::default();\n"
            "    let f = filter::msr_filter(&mut b);\n    println!(\"{}\", f.flags);\n}\n")
        subprocess.run([*rustc, "--extern", f"kvm_bindings={tmp_path}/libkvm_bindings.rlib",
                        str(tmp_path / "main.rs")], check=True, capture_output=True,
                       timeout=120)


def test_a_filter_the_kernel_cannot_carry_is_not_exported(tmp_path):
    too_big = MsrFilter(0, [MsrFilterRange(RW, 0, MAX_NMSRS + 64, b"")])
    with pytest.raises(OSError, match=r"ranges\[0\].nmsrs") as info:
        filter_files.export(too_big, tmp_path / "f.c")
    assert info.value.errno == 22
    assert not (tmp_path / "f.c").exists()
    with pytest.raises(ValueError, match=r"ranges\[0\].bitmap: a NULL bitmap"):
        filter_files.export(MsrFilter(0, [MsrFilterRange(RW, 0, 1, None)]), tmp_path / "f.toml")


@st.composite
def valid_filters(draw):
    ranges = []
    for _ in range(draw(st.integers(0, uapi.KVM_MSR_FILTER_MAX_RANGES))):
        nmsrs = draw(st.integers(0, 2048))
        size = bitmap_copy_size(nmsrs)
        ranges.append(MsrFilterRange(draw(st.sampled_from([1, 2, 3])),
                                     draw(st.integers(0, 0xFFFFFFFF)), nmsrs,
                                     draw(st.binary(min_size=size, max_size=size))))
    flags = draw(st.sampled_from([0, 1])) if any(r.nmsrs for r in ranges) else 0
    return MsrFilter(flags, ranges)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_filters(), st.sampled_from(["json", "toml"]))
def test_export_then_import_gives_the_same_filter(msr_filter, kind):
    text = filter_files.TEXT_FORMATS[kind](msr_filter)
    assert filter_files.loads(text, toml=kind == "toml") == msr_filter


def test_files_round_trip_through_disk(tmp_path):
    for kind in ("json", "toml"):
        path = tmp_path / f"filter.{kind}"
        filter_files.export(FILTERS["max-ranges"], path)
        assert filter_files.load(path) == FILTERS["max-ranges"]


@pytest.mark.parametrize(("kind", "edit", "message"), [
    ("toml", ("nmsrs = 70", "nmsrs = 99999"), "f.toml:6: EINVAL: ranges[0].nmsrs: 99999"),
    ("toml", ("flags = 3", "flags = 0"), "f.toml:4: EINVAL: ranges[0].flags: 0"),
    ("toml", ('base = "0x10"', 'base = "0xzz"'), "f.toml:5: filter.ranges[0].base"),
    ("toml", ("flags = 1\n", "flags = [\n"), "f.toml: not TOML"),
    ("toml", ("nmsrs = 70", "nmsrs = 70\nbse = 1"), "f.toml:7: filter.ranges[0]: unknown"),
    ("toml", ("flags = 1\n", "flags = 1\ndefault = 1\n"), "f.toml:2: filter: unknown"),
    ("json", ('"nmsrs": 70', '"nmsrs": -1'), "f.json:7: EINVAL: ranges[0].nmsrs"),
    ("json", ('"flags": 1,', '"flags": 1'), "f.json:3: not JSON"),
    ("json", ('"bitmap": "', '"bitmap": "x'), "f.json:8: filter.ranges[0].bitmap"),
])
def test_a_bad_file_names_the_line_and_field(tmp_path, kind, edit, message):
    path = tmp_path / f"f.{kind}"
    filter_files.export(FILTERS["deny-default"], path)
    path.write_text(path.read_text().replace(*edit, 1))
    with pytest.raises(filter_files.FilterFileError) as info:
        filter_files.load(path)
    assert str(info.value).startswith(f"{tmp_path}/{message}")


def test_a_c_name_must_be_an_identifier():
    with pytest.raises(ValueError, match="name"):
        to_c(MsrFilter(), "not a name")
