"""Which assembler directives guest source may use, checked before GNU `as` sees the text.

A scenario or a recording is a file someone else may have written, and `as` will happily
read any file its source names (`.incbin "/etc/shadow"` copies the file into the guest's
code, `.include "/etc/passwd"` echoes its lines in error messages, `.include "/dev/stdin"`
blocks). So the source is checked against an allow-list: every directive a guest program
plausibly needs (data, alignment and fill, symbols, sections, conditionals, `.rept`),
nothing that touches the file system, and none of the text-substitution machinery
(`.macro`, `.irp`, `.irpc`, `.altmacro`, `.purgem`, `.mri`) that could build a forbidden
directive's name from pieces that each look harmless (`.irp d,incbin` + `.\\d "/etc/shadow"`).
Without that machinery, every directive `as` executes is written out in the text.

The check over-approximates where `as` starts a statement: it splits at every newline, `;`,
`/*` and `*/` and ignores strings and comments, so a directive hidden in what looks like a
string or a comment is still checked (a forbidden name there is rejected: a false alarm
costs an edit, a miss would cost a file). A statement's head is the first word at its
start or after a label's `:`; directive names are compared case-insensitively, as `as`
does. The file-reading names are also refused anywhere in the text, as a second line of
defence should `as` ever split statements where this check does not.
"""

from __future__ import annotations

import re

ALLOWED = frozenset({
    # data
    "byte", "word", "short", "hword", "int", "long", "quad", "octa", "value", "2byte",
    "4byte", "8byte", "ascii", "asciz", "string", "string8", "string16", "string32",
    "string64", "float", "single", "double", "sleb128", "uleb128",
    # alignment and fill (their size is bounded by the limits `as` runs under)
    "align", "balign", "balignw", "balignl", "p2align", "p2alignw", "p2alignl", "org",
    "skip", "space", "zero", "fill", "nops",
    # symbols, modes and sections
    "equ", "set", "equiv", "eqv", "globl", "global", "local", "weak", "hidden", "type",
    "size", "intel_syntax", "att_syntax", "intel_mnemonic", "att_mnemonic", "code16",
    "code32", "code64", "arch", "text", "data", "bss", "section", "previous",
    "pushsection", "popsection", "subsection",
    # conditionals, repetition (no substitution) and diagnostics
    "if", "ifdef", "ifndef", "ifnotdef", "ifeq", "ifne", "ifgt", "ifge", "iflt", "ifle",
    "ifb", "ifnb", "ifc", "ifnc", "ifeqs", "ifnes", "else", "elseif", "endif", "rept",
    "endr", "err", "error", "warning", "end",
})

# Directives refused with a reason of their own (any other unlisted one: "not allowed").
_FILES = "reads a file: guest source may not name files"
_TEXT = "builds text by substitution, which could spell a forbidden directive"
_REASONS = {"incbin": _FILES, "include": _FILES, "macro": _TEXT, "irp": _TEXT, "irpc": _TEXT,
            "altmacro": _TEXT, "purgem": _TEXT, "mri": "switches to MRI syntax (no dots)"}
_NEVER = re.compile(r"(?<![\w.$])\.(incbin|include|irpc?|macro|altmacro|mri)\b", re.IGNORECASE)
_BOUNDARY = re.compile(r"\n|;|/\*|\*/")
_HEAD = re.compile(r"(?:^|:)[ \t\r]*(\.[A-Za-z_][\w.$]*)(?=[ \t\r]*(:?))")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")


def _refusal(name: str) -> str:
    reason = _REASONS.get(name, "is not a directive guest programs may use (README: Guest "
                                "source)")
    return f"`.{name}` {reason}"


def check_directives(text: str) -> tuple[int, str] | None:
    """The first (1-based line, message) that guest source may not contain, else None."""
    for number, line in enumerate(text.split("\n"), start=1):
        if (control := _CONTROL.search(line)) is not None:
            return number, f"control character {ord(control.group()):#04x} in the source"
        if (never := _NEVER.search(line)) is not None:
            return number, _refusal(never.group(1).lower())
        for statement in _BOUNDARY.split(line):
            for head in _HEAD.finditer(statement):
                name = head.group(1)[1:].lower()
                if not head.group(2) and name not in ALLOWED:   # `name:` is a label
                    return number, _refusal(name)
    return None
