"""Which reader a file needs, by its content (never its name); gzip is undone by its magic."""

from __future__ import annotations

import zlib
from pathlib import Path

from workbench.capture import qemu_trace, tracecmd, tracefs
from workbench.capture.errors import CaptureError
from workbench.capture.kernel_events import EVENT_LINE
from workbench.capture.model import Capture, SkippedLine

GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_LINES = 500


def _gunzip(path: Path, data: bytes) -> tuple[bytes, bool]:
    """The decompressed bytes, and whether the stream was cut short (what it held is kept)."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data) + inflater.flush()
    except zlib.error as why:
        raise CaptureError(f"{path}: not a valid gzip file ({why})") from None
    return out, not inflater.eof


def _capfile():
    """cap15's capture-file module, where this build has it (imported only when needed)."""
    try:
        from workbench.capture import capfile
    except ImportError:
        return None
    return capfile


def head_lines(text: str) -> list[str]:
    """`text.splitlines()[:_SNIFF_LINES]` without splitting a whole trace: all but the last
    line of a slice are whole lines."""
    size = 1 << 16
    while True:
        lines = text[:size].splitlines()
        if len(lines) > _SNIFF_LINES or size >= len(text):
            return lines[:_SNIFF_LINES]
        size *= 4


def _text_reader(path: Path, head: list[str]):
    if tracefs.looks_like(head):
        return tracefs.parse
    if tracecmd.looks_like(head):
        return tracecmd.parse
    if qemu_trace.looks_like(head):
        return qemu_trace.parse
    if any(EVENT_LINE.match(line) for line in head):
        return tracefs.parse        # tracefs events without their header (e.g. grep output)
    raise CaptureError(f"{path}: not a workbench capture, a tracefs or trace-cmd report, or a "
                       "QEMU -trace log of config-space accesses")


def sniff_format(path: str | Path, head_bytes: int = 1 << 16) -> str | None:
    """The capture or trace format a file's head says it is, or None (a scenario, a
    recording, anything else). Reads at most `head_bytes`; never raises but OSError."""
    with open(path, "rb") as f:
        head = f.read(head_bytes)
    if head.startswith(GZIP_MAGIC):
        try:
            head = zlib.decompressobj(wbits=31).decompress(head, head_bytes)
        except zlib.error:
            return None
    capfile = _capfile()
    if capfile is not None and capfile.sniff(head[:4096]):
        return "capture"
    lines = head.decode("utf-8", errors="replace").splitlines()[:_SNIFF_LINES]
    for name, module in (("tracefs", tracefs), ("trace-cmd", tracecmd),
                         ("qemu-trace", qemu_trace)):
        if module.looks_like(lines):
            return name
    return "tracefs" if any(EVENT_LINE.match(line) for line in lines) else None


def load(path: str | Path) -> Capture:
    """Reads any supported capture or trace; OSError where the file cannot be read."""
    path = Path(path)
    data = path.read_bytes()
    truncated = False
    if data.startswith(GZIP_MAGIC):
        data, truncated = _gunzip(path, data)
    if not data.strip():
        raise CaptureError(f"{path}: the file is empty")
    capfile = _capfile()
    if capfile is not None and capfile.sniff(data[:4096]):
        try:
            return capfile.read(path)
        except CaptureError:
            raise
        except ValueError as why:     # the reader's own message names the file and line
            raise CaptureError(str(why)) from None
    text = data.decode("utf-8", errors="replace")
    capture = _text_reader(path, head_lines(text))(path, text)
    if truncated:
        capture.skipped.append(SkippedLine(len(text.splitlines()), "the gzip stream ends early"))
    return capture
