"""The editor's pure parts: number parsing, drafts round-tripping, reading kernel errors."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

import workbench.kvm
from workbench.gui.filter_editor.draft import Draft, DraftRange, parse_rejection, preview_profile
from workbench.gui.msr_input import MsrInput, format_int, parse_int
from workbench.kvm.filter import MsrFilter, MsrFilterRange
from workbench.kvm.profiles import LINUX_5_10, LINUX_6_18


@pytest.mark.parametrize(("text", "value"), [
    ("0x10", 16), ("0XC000_0100", 0xC0000100), ("010", 10), ("1_000", 1000),
    ("-0x1", -1), (" 0x1_0000_0000 ", 1 << 32), ("99999999999999999999", 99999999999999999999),
    ("0x", None), ("fs", None), ("1__0", None), ("", None), ("0x1g", None),
])
def test_parse_int_takes_hex_and_decimal_of_any_size(text, value):
    assert parse_int(text) == value


def test_msr_input_keeps_values_past_64_bits(qtbot):
    widget = MsrInput(1 << 70)
    qtbot.addWidget(widget)
    assert widget.value() == 1 << 70 and widget.text() == format_int(1 << 70)
    widget.setText("0x1_0000_0000")
    assert widget.hasAcceptableInput() and widget.value() == 1 << 32
    widget.setText("0x")
    assert not widget.hasAcceptableInput() and widget.value() is None


def test_a_filter_survives_the_draft_round_trip():
    msr_filter = MsrFilter(1, (MsrFilterRange.from_indices(3, 0x10, 100, [0x10, 0x6F]),
                               MsrFilterRange(2, 0xC0000100, 1, b"\x01" + bytes(7))))
    assert Draft.from_filter(msr_filter).to_filter() == msr_filter


def test_resizing_keeps_bits_and_caps_what_no_kernel_accepts():
    rng = DraftRange(base=0, nmsrs=64)
    rng.bits[:3] = 1
    rng.resize(13000)
    assert len(rng.bits) == 12288 and rng.bits[:4].tolist() == [1, 1, 1, 0]
    rng.resize(2)
    assert len(rng.bits) == 64 and rng.to_range().bitmap == b"\x03" + bytes(7)
    rng.resize(-5)
    assert len(rng.bits) == 0 and rng.to_range().nmsrs == -5


def test_draft_decision_first_matching_range_of_the_access_type_decides():
    allow = DraftRange(flags=1, base=0x10, nmsrs=8)
    allow.bits[:] = 1
    deny = DraftRange(flags=3, base=0x0, nmsrs=64)
    draft = Draft(default_allow=False, ranges=[allow, deny])
    assert draft.decision(0x10, write=False) and not draft.decision(0x10, write=True)
    draft.ranges.reverse()
    assert not draft.decision(0x10, write=False)
    assert draft.decision(0x830, write=True), "x2APIC is never filtered"
    assert not draft.decision(0x100, write=False), "default action"


def test_draft_preview_follows_linux_5_10_where_no_range_means_allow():
    """5.10's kvm_msr_allowed allows everything while no range is installed (count == 0),
    whatever the default: an empty DEFAULT_DENY draft previews "allow" there, "deny" on 6.18."""
    empty = DraftRange(flags=3, base=0x10, nmsrs=0)
    assert Draft(False, [empty], LINUX_5_10).decision(0x10, write=False)
    assert Draft(False, [], LINUX_5_10).decision(0x10, write=True)
    assert not Draft(False, [empty], LINUX_6_18).decision(0x10, write=False)


@pytest.mark.parametrize("profile", [LINUX_5_10, LINUX_6_18])
def test_draft_preview_agrees_with_the_installed_filter(profile):
    """Whatever the kernel takes, the preview decides as the sim does once it is applied."""
    allow = DraftRange(flags=1, base=0x7F0, nmsrs=0x20)
    allow.bits[::3] = 1
    wraps = DraftRange(flags=3, base=0xFFFFFFF0, nmsrs=0x20)
    draft = Draft(False, [allow, DraftRange(flags=2, base=0x800, nmsrs=0), wraps], profile)
    vm = workbench.kvm.open("sim").create_vm(profile=profile.name)
    vm.set_msr_filter(draft.to_filter())
    for index in [*range(0x7E0, 0x820), 0xFFFFFFF5, 0x5]:
        for write in (False, True):
            assert draft.decision(index, write) == vm.msr_allowed(index, write), hex(index)


def test_the_preview_uses_the_sessions_kernel_or_the_newest():
    assert preview_profile("linux-5.10") is LINUX_5_10
    assert preview_profile("linux-6.8") is LINUX_6_18, "a host kernel the sim does not model"
    assert preview_profile(None) is LINUX_6_18


def test_kernel_errors_name_errno_row_and_field():
    r = parse_rejection("[Errno 22] ranges[2].flags: 0x4 has bits outside READ|WRITE")
    assert (r.errno_name, r.row, r.column, r.field) == ("EINVAL", 2, "flags", "ranges[2].flags")
    assert r.banner().startswith("EINVAL: ranges[2].flags")
    r = parse_rejection("[Errno 14] ranges[0].bitmap: NULL pointer")
    assert (r.errno_name, r.row, r.column) == ("EFAULT", 0, "bitmap")
    r = parse_rejection("[Errno 22] flags: 0x2 has unknown bits")
    assert (r.row, r.field) == (None, "flags")
    r = parse_rejection("something else went wrong")
    assert (r.errno_name, r.row, r.field) == ("error", None, None)
