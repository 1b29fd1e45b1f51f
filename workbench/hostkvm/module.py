"""Which KVM vendor module runs this host's /dev/kvm: the project's notion of "vendor".

The vendor decides how KVM handles MSRs (kvm_intel: VMX, kvm_amd: SVM, kvm_pvm: PVM, an
out-of-tree module that runs guests without either), so it is read from the loaded module,
not from the CPU's vendor string.
"""

from __future__ import annotations

import errno
from pathlib import Path

SYS_MODULE = Path("/sys/module")
MODULES = {"kvm_intel": "intel", "kvm_amd": "amd", "kvm_pvm": "pvm"}


def host_module() -> str:
    """"intel", "amd" or "pvm": the vendor of the loaded KVM module (OSError if none is)."""
    for module, vendor in MODULES.items():
        if (SYS_MODULE / module).is_dir():
            return vendor
    raise OSError(errno.ENODEV, f"no KVM vendor module loaded ({', '.join(MODULES)})")
