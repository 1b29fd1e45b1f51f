"""One row of the in-kernel MSR catalogue (catalogue.py), and the notes rows share.

`read`/`write` name a behaviour:

  value    the stored value                 store    keep the value (after the checks)
  const    always `reset`                   ignore   accept and drop (kvm_set_msr_common no-ops)
  host     host-initiated only (guest: INVALID)
  unsupported  KVM does not know the MSR in this direction (reason UNKNOWN)
  anything else: a handler of that name in emulate.py's tables.

Guest-initiated accesses also check `feature` (the guest CPUID bit KVM asks for; missing
-> INVALID unless the row says otherwise), `reserved` (bits a guest WRMSR may not set) and
`vendor` (the only vendor module that handles it). `since`/`before` bound the kernels that
handle the row; outside them the index is unknown. `checked` records what the real
kernel on the development machine did with the row (see catalogue.HOST_DIVERGENCES).
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.kvm.profiles import KvmProfile


@dataclass(frozen=True)
class MsrInfo:
    index: int
    name: str
    read: str
    write: str
    reset: int | None = 0  # None: depends on the vCPU (see notes)
    reserved: int = 0  # bits a guest WRMSR must leave clear (further rules: notes)
    feature: str | None = None  # Cpuid.has() name KVM checks for guest accesses
    vendor: str | None = None  # "intel" / "amd": handled only by that vendor module
    since: tuple[int, int] | None = None
    before: tuple[int, int] | None = None
    count: int = 1  # a range row covers index .. index + count - 1
    notes: str = ""
    description: str = ""
    checked: str = ""  # real-kernel probe result (linux-6.18 host), "" = not checked

    @property
    def last(self) -> int:
        return self.index + self.count - 1

    def applies(self, vendor: str, profile: KvmProfile) -> bool:
        if self.vendor is not None and self.vendor != vendor:
            return False
        if self.since is not None and not profile.at_least(*self.since):
            return False
        return self.before is None or not profile.at_least(*self.before)


CANONICAL_NOTE = "non-canonical (48-bit, 57 with LA57 on 6.18) write -> INVALID (__kvm_set_msr)"
PV_NOTE = "KVM PV MSR; needs its KVM_FEATURE_* bit only with KVM_CAP_ENFORCE_PV_FEATURE_CPUID"
ZERO_NOTE = "kvm_get_msr_common returns 0; no write case (kvm_set_msr_common default)"
PMU_NOTE = ("vendor PMU when the guest has one (intel: CPUID 0xA; amd: kvm.enable_pmu), else "
        "reads 0 and writes are accepted and dropped (kvm_get/set_msr_common)")
