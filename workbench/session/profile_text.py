"""`workbench profiles`: the kernel profiles, what changes between them, and (explained)
every switch with the commit that set it and whether the spec only inferred it."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.kvm.changes import Change, Setting
from workbench.kvm.profiles import INVARIANTS, PROFILES, KvmProfile
from workbench.vfio.profiles import INVARIANTS as VFIO_INVARIANTS
from workbench.vfio.profiles import PROFILES as VFIO_PROFILES
from workbench.vfio.profiles import VfioProfile

# One phrase per switch, for the one-line summaries (README, `workbench profiles`).
SWITCH_TEXT = {
    "strict_user_space_msr_mask": "cap mask bits outside 0x7 -> EINVAL",
    "strict_filter_flags": "filter flags outside DEFAULT_DENY -> EINVAL",
    "atomic_filter_update": "a failed SET_MSR_FILTER keeps the old filter",
    "empty_filter_allows_all": "a filter left with no range allows every MSR",
    "filter_flags_checked_first": "range flags checked before the bitmap",
    "unsupported_ret_name": "the unsupported result is named",
    "xfd_err_read_passthrough": "XFD_ERR read passthrough",
    "xfd_write_passthrough": "XFD passthrough after a non-zero write",
    "pred_cmd_passthrough_by_cpuid": "PRED_CMD passthrough by CPUID",
    "flush_cmd_passthrough": "FLUSH_CMD passthrough",
    "recalc_msr_intercepts": "intercepts recomputed on filter change",
    "cet_passthrough_vmx": "CET MSR passthrough (VMX)",
    "cet_passthrough_svm": "CET MSR passthrough (SVM)",
    "svm_sysenter": "SVM SYSENTER_ESP/EIP intercepted",
    "compat_set_msr_filter": "32-bit compat SET_MSR_FILTER (not modelled)",
}


def _kernel(profile: KvmProfile | VfioProfile) -> str:
    series = profile.name.removeprefix("linux-").removesuffix(".y")
    return f"latest {series}.y stable" if profile.stable else f"v{series} tag"


def _changes(previous: KvmProfile | None, profile: KvmProfile) -> str:
    """What differs from `previous`, with the release of the change."""
    if previous is None:
        return "the first modelled release"
    parts = []
    for name, text in SWITCH_TEXT.items():
        value = getattr(profile, name)
        if value != getattr(previous, name):
            shown = text if value is True else (
                f"no longer: {text}" if value is False else f"{text}: {value}")
            parts.append(f"{shown} ({profile.origin[name].release})")
    return "; ".join(parts) or "no modelled change"


def summary_lines() -> list[str]:
    """One line per KVM profile: which kernel, and what changes against the tag before it
    (a stable profile: against its own series' tag)."""
    lines, tag = [], None
    for profile in PROFILES.values():
        previous = PROFILES[profile.name.removesuffix(".y")] if profile.stable else tag
        lines.append(f"{profile.name:<13} {_kernel(profile)}: {_changes(previous, profile)}")
        tag = tag if profile.stable else profile
    extra = [n for n in VFIO_PROFILES if n not in PROFILES]
    lines.append(f"vfio only: {', '.join(extra)} (MSE emulation keyed on is_virtfn)")
    lines += vfio_summary_lines()
    return lines


VFIO_SWITCH_TEXT = {
    "has_no_command_memory": "MSE emulation keyed on no_command_memory (s390 detached VFs "
                             "keep MSE)",
    "d3hot_gate": "BAR access refused (EIO, SIGBUS) while the device is in D3hot",
    "rom_bar_from_setup_data": "the ROM BAR shows a setup-data ROM, no longer a shadow ROM",
}


def vfio_summary_lines() -> list[str]:
    """One line per vfio-pci change: the first profile that has it."""
    lines, previous = [], None
    for profile in VFIO_PROFILES.values():
        if previous is not None and not profile.stable:
            for name, text in VFIO_SWITCH_TEXT.items():
                if getattr(profile, name) != getattr(previous, name):
                    lines.append(f"vfio-pci from {profile.name}: {text} "
                                 f"({profile.origin[name].release})")
        previous = previous if profile.stable else profile
    return lines


def _setting_line(setting: Setting) -> str:
    change = setting.change
    flags = ("  [inferred]" if change.inferred else "") + (
        "" if setting.modelled else "  [not modelled]")
    value = setting.value.name if hasattr(setting.value, "name") else setting.value
    if not setting.modelled and not isinstance(setting.value, bool):
        return f"    {setting.name}: {value}: {change.cite()}{flags}"
    return f"    {setting.name} = {value}: {change.cite()}{flags}"


def explain_lines() -> list[str]:
    """Every profile's switches (KVM, then vfio-pci) with the commit that set each."""
    lines = []
    for name, profile in PROFILES.items():
        lines.append(f"{name} ({_kernel(profile)})")
        lines.append("  KVM:")
        lines += [_setting_line(s) for s in profile.settings()]
        if name in VFIO_PROFILES:
            lines.append("  vfio-pci:")
            lines += [_setting_line(s) for s in VFIO_PROFILES[name].settings()]
    for name, vfio in VFIO_PROFILES.items():
        if name not in PROFILES:
            lines += [f"{name} ({_kernel(vfio)}, vfio-pci only)", "  vfio-pci:"]
            lines += [_setting_line(s) for s in vfio.settings()]
    lines.append("same in every profile:")
    lines += [f"    row {row}: {text}: {change.cite()}"
              + ("  [inferred]" if change.inferred else "")
              for row, text, change in INVARIANTS + VFIO_INVARIANTS]
    return lines


@dataclass(frozen=True)
class SwitchRow:
    """One switch of two profiles for the GUI: its values and the change behind B's."""

    layer: str  # "KVM" | "vfio-pci" | "every profile"
    name: str
    a: str
    b: str
    change: Change
    inferred: bool  # the spec only inferred a fact this row rests on
    modelled: bool = True


def _value(value: object) -> str:
    return str(getattr(value, "name", value))


def switch_rows(a_name: str, b_name: str) -> list[SwitchRow]:
    """Every switch of profiles `a_name` and `b_name` (KVM, then vfio-pci), then the rows
    that are the same everywhere or not modelled: what the Profiles dock lists."""
    rows = []
    for layer, profiles in (("KVM", PROFILES), ("vfio-pci", VFIO_PROFILES)):
        a, b = profiles[a_name], profiles[b_name]
        for setting_a, setting_b in zip(a.settings(), b.settings(), strict=True):
            change = setting_b.change
            rows.append(SwitchRow(layer, setting_b.name, _value(setting_a.value),
                                  _value(setting_b.value), change,
                                  change.inferred or setting_a.change.inferred,
                                  setting_b.modelled))
    rows += [SwitchRow("every profile", f"row {row}", text, text, change, change.inferred)
             for row, text, change in INVARIANTS + VFIO_INVARIANTS]
    return rows
