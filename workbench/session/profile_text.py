"""`workbench profiles`: the kernel profiles, what changes between them, and (explained)
every switch with the commit that set it and whether the spec only inferred it."""

from __future__ import annotations

from workbench.kvm.changes import Setting
from workbench.kvm.profiles import INVARIANTS, PROFILES, KvmProfile
from workbench.vfio.profiles import PROFILES as VFIO_PROFILES

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
}


def _kernel(profile: KvmProfile) -> str:
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
    lines.append("same in every profile:")
    lines += [f"    row {row}: {text}: {change.cite()}"
              + ("  [inferred]" if change.inferred else "")
              for row, text, change in INVARIANTS]
    return lines
