"""The boot-sector MSR probe: build resources/probes/msr_probe.S into a bootable disk image,
and the QEMU command line that boots it.

`python -m workbench.capture.probe IMAGE [--loops N]` writes the image. The source is ours,
not a user's, so it is assembled as is (GNU `as --32`, linked flat at 0x7c00 by `ld`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE_SOURCE = Path(__file__).resolve().parents[2] / "resources" / "probes" / "msr_probe.S"
IMAGE_SIZE = 1 << 20      # SeaBIOS wants a disk of whole sectors; 1 MiB is plenty
QEMU = "qemu-system-x86_64"
QEMU_EXIT_STATUS = (0x10 << 1) | 1   # what the probe's isa-debug-exit write makes QEMU return


def toolchain_missing() -> str | None:
    """Why the probe cannot be built here, or None."""
    missing = [tool for tool in ("as", "ld") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not found (install binutils)" if missing else None


def qemu_unavailable_reason() -> str | None:
    """Why the probe cannot run under QEMU with KVM here, or None."""
    if shutil.which(QEMU) is None:
        return f"{QEMU} not found (apt-get install qemu-system-x86)"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm cannot be opened for reading and writing"
    return toolchain_missing()


def build_image(image: Path, loops: int = 0, source: Path = PROBE_SOURCE) -> Path:
    """Assemble the probe into a 1 MiB raw disk image at `image` (RuntimeError if `as`
    or `ld` fail, with their message)."""
    if not 0 <= loops < 1 << 32:
        raise ValueError(f"loops: {loops} is not a 32-bit count")
    with tempfile.TemporaryDirectory(prefix="workbench-probe-") as tmp:
        obj, flat = Path(tmp) / "probe.o", Path(tmp) / "probe.bin"
        for command in (["as", "--32", f"--defsym=LOOPS={loops}", "-o", str(obj), str(source)],
                        ["ld", "-m", "elf_i386", "-Ttext", "0x7c00", "--oformat", "binary",
                         "-e", "_start", "-o", str(flat), str(obj)]):
            done = subprocess.run(command, capture_output=True, text=True, timeout=60)
            if done.returncode != 0:
                raise RuntimeError(f"{command[0]}: {done.stderr.strip()}")
        sector = flat.read_bytes()
    if len(sector) != 512 or sector[510:] != b"\x55\xaa":
        raise RuntimeError(f"{source}: not a 512-byte boot sector ({len(sector)} bytes)")
    image.write_bytes(sector + bytes(IMAGE_SIZE - len(sector)))
    return image


def qemu_command(image: Path, debugcon: Path | None = None) -> list[str]:
    """QEMU booting `image` under KVM with the probe's two ports; `debugcon` gets its text."""
    chardev = f"file,id=dbg,path={debugcon}" if debugcon else "null,id=dbg"
    return [QEMU, "-accel", "kvm", "-cpu", "qemu64", "-display", "none", "-nodefaults",
            "-no-reboot", "-drive", f"format=raw,file={image},if=ide", "-boot", "c",
            "-chardev", chardev, "-device", "isa-debugcon,iobase=0x402,chardev=dbg",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.capture.probe",
                                     description="Build the boot-sector MSR probe image.")
    parser.add_argument("image", type=Path)
    parser.add_argument("--loops", type=int, default=0, metavar="N",
                        help="add N `out`s to port 0x80 before the exit (benchmarks)")
    args = parser.parse_args(argv)
    try:
        build_image(args.image, args.loops)
    except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:
        print(f"probe: {exc}", file=sys.stderr)
        return 2
    print(" ".join(qemu_command(args.image)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
