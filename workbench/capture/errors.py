"""The one error a capture or trace that cannot be read raises."""

from __future__ import annotations


class CaptureError(ValueError):
    """A file is empty, of no known capture or trace format, or unusable as asked; the message
    names the file (and the line, where one is to blame)."""
