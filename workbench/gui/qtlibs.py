"""Name the system libraries Qt's xcb platform plugin cannot find, before Qt tries.

Without them Qt prints "Could not load the Qt platform plugin xcb" and names at most the
first missing library; a new user then installs one package per attempt. `ldd` on the
plugin lists them all, and each maps to its Debian package.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# The Debian packages behind every library PySide6's xcb plugin, QtGui and QtWidgets load
# that a minimal Debian lacks; the Makefile installs the same list (QT_DEBS).
DEBIAN_PACKAGES = {
    "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1", "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0", "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6", "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6", "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0",
    "libxcb.so.1": "libxcb1", "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0", "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1", "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libxkbcommon.so.0": "libxkbcommon0",
}
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def missing_libraries(ldd_output: str) -> list[str]:
    """The sonames `ldd` reported as not found, once each, in order."""
    return list(dict.fromkeys(_NOT_FOUND.findall(ldd_output)))


def xcb_plugin() -> Path:
    import PySide6

    return Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"


def wants_xcb() -> bool:
    """True where Qt would pick the xcb plugin: Linux, no other platform asked for."""
    return sys.platform.startswith("linux") and os.environ.get("QT_QPA_PLATFORM", "xcb") in (
        "", "xcb")


def xcb_problem(plugin: Path | None = None) -> str | None:
    """A message naming every library the xcb plugin lacks and the packages that bring
    them, or None when nothing is missing (or this cannot be checked: no ldd)."""
    plugin = plugin or xcb_plugin()
    ldd = shutil.which("ldd")
    if ldd is None or not plugin.exists():
        return None
    result = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=30,
                            check=False)
    missing = missing_libraries(result.stdout)
    if not missing:
        return None
    packages = list(dict.fromkeys(DEBIAN_PACKAGES.get(name, "?") for name in missing))
    known = " ".join(p for p in packages if p != "?")
    return (f"Qt's xcb platform plugin cannot load: missing {', '.join(missing)}. "
            f"`make run` installs them; or run: apt-get install {known}")
