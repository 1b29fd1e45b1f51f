"""Handlers for the CPU-core MSRs: TSC, EFER, syscall/segment bases, speculation control,
feature control and debug control (the AMD configuration MSRs: amd.py; CET: cet.py).

Sources: arch/x86/kvm/x86.c (__kvm_set_msr, kvm_get/set_msr_common, set_efer),
vmx/vmx.c (vmx_get/set_msr), svm/svm.c (svm_get/set_msr); 5.10 differences are noted
where the profile changes the outcome.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.kvm.msrs import numbers as n
from workbench.kvm.msrs.base import MsrResult
from workbench.values import U32_MAX, U64_MAX

if TYPE_CHECKING:
    from workbench.kvm.msrs.catalogue import MsrInfo
    from workbench.kvm.msrs.emulate import MsrFile

OK, INVALID, UNSUPPORTED = MsrResult.OK, MsrResult.INVALID, MsrResult.UNSUPPORTED

# Bits of IA32_SPEC_CTRL the modelled host CPUs accept (kvm_spec_ctrl_test_value tries
# the write on the host): Sapphire Rapids IBRS..BHI_DIS_S, Zen 4 IBRS/STIBP/SSBD/PSFD.
HOST_SPEC_CTRL = {"intel": 0x4FF, "amd": 0x87}
FEAT_CTL_LOCKED = 1 << 0
FEAT_CTL_VMX_INSIDE_SMX = 1 << 1
FEAT_CTL_VMX_OUTSIDE_SMX = 1 << 2
MISC_ENABLE_EMON = 1 << 7
MISC_ENABLE_PMU_RO = (1 << 11) | (1 << 12)
DEBUGCTL_LBR = 1 << 0
DEBUGCTL_BTF = 1 << 1
DEBUGCTL_BUS_LOCK_DETECT = 1 << 2
# XFEATURE_MASK_USER_DYNAMIC: AMX tile data.
XFEATURE_USER_DYNAMIC = 1 << 18
# XSS features KVM can virtualize on 6.18 (CET user/supervisor state); none on 5.10.
KVM_SUPPORTED_XSS = {True: (1 << 11) | (1 << 12), False: 0}
# Reset values that depend on the vendor module (microcode revision) or the modelled host
# (kvm_get_arch_capabilities); kvm_pvm reads UCODE_REV as 0 and does not know
# ARCH_CAPABILITIES (observed on the 6.18-fc host with kvm_pvm).
UCODE_REV = {"intel": 0x100000000, "amd": 0x01000065, "pvm": 0}
ARCH_CAPABILITIES = {"intel": 0xE16B, "amd": 0x0C000069, "pvm": 0}


def canonical_bits(f: MsrFile) -> int:
    """Linear-address width for MSR canonical checks: 57 with LA57 in the guest CPUID (6.18),
    48 otherwise (5.10 follows CR4.LA57, which the guest runtime leaves clear)."""
    return 57 if f.ctx.profile.at_least(6, 13) and f.has("la57") else 48


def is_canonical(value: int, bits: int) -> bool:
    top = value >> (bits - 1)
    return top == 0 or top == (1 << (65 - bits)) - 1


def canonicalize(value: int, bits: int) -> int:
    """__canonical_address(): sign-extend from bit `bits - 1`."""
    shift = 64 - bits
    signed = (value << shift) & U64_MAX
    if signed >> 63:
        signed -= 1 << 64
    return (signed >> shift) & U64_MAX


# --- generic kinds --------------------------------------------------------------------------
def read_value(f: MsrFile, info: MsrInfo, index: int, host: bool) -> tuple[MsrResult, int]:
    return OK, f.regs.get(index, 0)


def read_const(f: MsrFile, info: MsrInfo, index: int, host: bool) -> tuple[MsrResult, int]:
    """A fixed value: the modelled one, or the real host's where the sim mimics a host."""
    return OK, f.ctx.host_msrs.get(index, info.reset or 0)


def read_tsc_khz(f: MsrFile, info: MsrInfo, index: int, host: bool) -> tuple[MsrResult, int]:
    """The VM's TSC frequency in kHz (what KVM_GET_TSC_KHZ reports)."""
    return OK, f.ctx.tsc_khz


def read_host(f: MsrFile, info: MsrInfo, index: int, host: bool) -> tuple[MsrResult, int]:
    return (OK, f.regs.get(index, 0)) if host else (INVALID, 0)


def write_store(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    f.regs[index] = value
    return OK


def write_ignore(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    return OK


def write_zero_only(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                    ) -> MsrResult:
    return INVALID if value else OK


def write_host(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    if not host:
        return INVALID
    f.regs[index] = value
    return OK


def write_canonical(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                    ) -> MsrResult:
    """FS/GS/KERNEL_GS_BASE, LSTAR, CSTAR: non-canonical -> #GP (__kvm_set_msr)."""
    if not is_canonical(value, canonical_bits(f)):
        return INVALID
    f.regs[index] = value
    return OK


# --- time -----------------------------------------------------------------------------------
def read_tsc(f: MsrFile, info: MsrInfo, index: int, host: bool) -> tuple[MsrResult, int]:
    return OK, f.tsc()


def write_tsc(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    """A guest write moves the offset and adds the same delta to IA32_TSC_ADJUST; a host
    write (kvm_synchronize_tsc) only sets the offset."""
    new_offset = (value - f.clock()) & U64_MAX
    if not host:
        delta = new_offset - f.regs[n.MSR_IA32_TSC]
        adjust = n.MSR_IA32_TSC_ADJUST
        f.regs[adjust] = (f.regs.get(adjust, 0) + delta) & U64_MAX
    f.regs[n.MSR_IA32_TSC] = new_offset
    return OK


def write_tsc_adjust(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                     ) -> MsrResult:
    if not f.has("tsc_adjust"):
        return OK  # accepted and dropped
    if not host:
        delta = value - f.regs.get(index, 0)
        f.regs[n.MSR_IA32_TSC] = (f.regs[n.MSR_IA32_TSC] + delta) & U64_MAX
    f.regs[index] = value
    return OK


def _tsc_aux_allowed(f: MsrFile) -> bool:
    if f.ctx.profile.at_least(5, 13):
        return f.has("rdtscp") or f.has("rdpid")
    return f.has("rdtscp")


def read_tsc_aux(f: MsrFile, info: MsrInfo, index: int, host: bool) -> tuple[MsrResult, int]:
    if not host and not _tsc_aux_allowed(f):
        return INVALID, 0
    return OK, f.regs.get(index, 0)


def write_tsc_aux(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                  ) -> MsrResult:
    if not host and not _tsc_aux_allowed(f):
        return INVALID
    if f.ctx.profile.at_least(5, 13):
        if f.cpuid.is_intel_compatible and value >> 32:
            return INVALID
        value &= U32_MAX
    elif f.ctx.vendor == "intel" and value >> 32:
        return INVALID  # 5.10 vmx_set_msr; 5.10 svm_set_msr keeps all 64 bits
    f.regs[index] = value
    return OK


# --- EFER and SYSENTER --------------------------------------------------------------------
def efer_allowed(f: MsrFile) -> int:
    """EFER bits KVM lets this vendor module set (efer_reserved_bits complement)."""
    bits = n.EFER_SCE | n.EFER_LME | n.EFER_LMA | n.EFER_NX
    if f.ctx.vendor == "amd":
        bits |= n.EFER_SVME | n.EFER_FFXSR
        if f.ctx.profile.at_least(6, 3):
            bits |= n.EFER_AUTOIBRS
    return bits


def write_efer(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    """set_efer(): reserved bits, CPUID-dependent bits (__kvm_valid_efer), LME while paging."""
    old = f.regs[index]
    if value & ~efer_allowed(f):
        return INVALID
    if not host:
        needs = ((n.EFER_AUTOIBRS, "autoibrs"), (n.EFER_FFXSR, "fxsr_opt"),
                 (n.EFER_SVME, "svm"), (n.EFER_LME | n.EFER_LMA, "lm"), (n.EFER_NX, "nx"))
        if any(value & bit and not f.has(feat) for bit, feat in needs):
            return INVALID
        paging = bool(old & n.EFER_LMA)  # the guest runtime pages whenever it is in long mode
        if paging and (old ^ value) & n.EFER_LME:
            return INVALID
    f.regs[index] = (value & ~n.EFER_LMA) | (old & n.EFER_LMA)
    return OK


def write_sysenter_cs(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                      ) -> MsrResult:
    """VMX keeps GUEST_SYSENTER_CS, a 32-bit VMCS field; SVM keeps the 64-bit save area."""
    f.regs[index] = value & U32_MAX if f.ctx.vendor == "intel" else value
    return OK


def write_sysenter(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                   ) -> MsrResult:
    """Made canonical (48-bit) instead of faulting; SVM since 5.13 keeps bits 63:32 only
    for the guest CPUIDs it intercepts them for (svm_set_msr, sysenter_e{i,s}p_hi)."""
    value = canonicalize(value, 48)
    if f.ctx.vendor == "amd" and not f.ctx.profile.svm_keeps_sysenter(f.cpuid.vendor):
        value &= U32_MAX
    f.regs[index] = value
    return OK


# --- speculation control -----------------------------------------------------------------
def write_spec_ctrl(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                    ) -> MsrResult:
    if value & ~HOST_SPEC_CTRL[f.ctx.vendor]:
        return INVALID
    f.regs[index] = value
    return OK


def write_pred_cmd(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                   ) -> MsrResult:
    """IBPB (bit 0); 6.18 also SBPB (bit 7) when guest and host have SBPB."""
    allowed = 1
    if f.ctx.profile.at_least(6, 5) and f.ctx.vendor == "amd" and (host or f.has("sbpb")):
        allowed |= 1 << 7
    return INVALID if value & ~allowed else OK


def write_flush_cmd(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                    ) -> MsrResult:
    """The modelled AMD host has no L1D flush, so FLUSH_CMD always fails there."""
    if f.ctx.vendor != "intel" or value & ~1:
        return INVALID
    return OK


def write_feat_ctl(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                   ) -> MsrResult:
    valid = FEAT_CTL_LOCKED
    if f.has("vmx"):
        valid |= FEAT_CTL_VMX_INSIDE_SMX | FEAT_CTL_VMX_OUTSIDE_SMX
    if not host and f.regs.get(index, 0) & FEAT_CTL_LOCKED:
        return INVALID
    if value & ~valid:
        return INVALID
    f.regs[index] = value
    return OK


def write_ucode_rev(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                    ) -> MsrResult:
    if host:
        f.regs[index] = value
    return OK


def write_misc_enable(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                      ) -> MsrResult:
    old = f.regs[index]
    if not host and f.ctx.profile.at_least(6, 0):
        if (old ^ value) & MISC_ENABLE_PMU_RO:
            return INVALID
        value = (value & ~MISC_ENABLE_EMON) | (old & MISC_ENABLE_EMON)
    f.regs[index] = value
    return OK


def write_xfd(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    leaf = f.cpuid.get(0xD, 0)
    xcr0 = 0 if leaf is None else leaf.eax | leaf.edx << 32
    if value & ~(xcr0 & XFEATURE_USER_DYNAMIC):
        return INVALID
    f.regs[index] = value
    return OK


def write_xss(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool) -> MsrResult:
    leaf = f.cpuid.get(0xD, 1)
    guest = 0 if leaf is None else leaf.ecx | leaf.edx << 32
    if value & ~(guest & KVM_SUPPORTED_XSS[f.ctx.profile.at_least(6, 18)]):
        return INVALID
    f.regs[index] = value
    return OK


def write_debugctl(f: MsrFile, info: MsrInfo, index: int, value: int, host: bool
                   ) -> MsrResult:
    if f.ctx.vendor == "intel":
        supported = 0
        if f.ctx.profile.at_least(5, 12) and (host or f.has("bus_lock_detect")):
            supported |= DEBUGCTL_BUS_LOCK_DETECT
        if value & ~supported & ~(DEBUGCTL_BTF | DEBUGCTL_LBR):
            return INVALID
        f.regs[index] = value & supported
        return OK
    if f.ctx.profile.at_least(6, 14):
        value &= ~DEBUGCTL_BTF  # "KVM: SVM: Suppress DEBUGCTL.BTF on AMD" (6.14-rc6)
    if value & ~0x3F:
        return INVALID
    f.regs[index] = value
    return OK


READERS = {
    "value": read_value, "const": read_const, "tsc_khz": read_tsc_khz, "host": read_host,
    "tsc": read_tsc, "tsc_aux": read_tsc_aux,
}
WRITERS = {
    "store": write_store, "ignore": write_ignore, "host": write_host,
    "zero_only": write_zero_only,
    "canonical": write_canonical, "tsc": write_tsc, "tsc_adjust": write_tsc_adjust,
    "tsc_aux": write_tsc_aux, "efer": write_efer, "sysenter_cs": write_sysenter_cs,
    "sysenter": write_sysenter, "spec_ctrl": write_spec_ctrl, "pred_cmd": write_pred_cmd,
    "flush_cmd": write_flush_cmd, "feat_ctl": write_feat_ctl, "ucode_rev": write_ucode_rev,
    "misc_enable": write_misc_enable, "xfd": write_xfd, "xss": write_xss,
    "debugctl": write_debugctl,
}
