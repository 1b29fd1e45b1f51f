"""Qt's INI settings format, read and written without Qt, for plain values only.

QSettings turns a value written `@Variant(...)` into whatever object its bytes describe,
and PySide registers Python objects there as pickles: a settings file could run code the
moment the workbench starts. So the workbench never lets QSettings parse its file. This
module reads the same syntax (sections, `key=value`, `;` comments, quoted and escaped
strings, comma-separated lists, `@ByteArray(...)`, `@@` for a leading `@`) and yields only
strings, lists of strings and bytes; any other typed value (`@Variant(`, `@DateTime(`,
`@Rect(`, ...) comes back as `Typed` and is never decoded. Files it writes read back the
same in QSettings, so existing settings files keep working.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            '"': '"', "?": "?", "'": "'", "\\": "\\"}
_WRITE_ESCAPES = {"\0": "\\0", "\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n",
                  "\v": "\\v", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_HEX, _OCT = "0123456789abcdefABCDEF", "01234567"
_TYPED = re.compile(r"@([A-Za-z]+)\(.*\)", re.DOTALL)


@dataclass(frozen=True)
class Typed:
    """A value QSettings would deserialize into a type of its own: kept undecoded."""

    form: str          # "Variant", "DateTime", "Rect", ...


Value = str | bytes | list["str | bytes | Typed | None"] | Typed | None


_BLANKS = " \t\r\n\f\v"

def _logical_lines(text: str) -> list[str]:
    """Split as QSettings does: a quoted string or a backslash carries a line on, `;`
    outside quotes starts a comment."""
    lines, current, quoted, i = [], [], False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i:i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch in "\r\n" and not quoted:
            lines.append("".join(current))
            current, quoted = [], False
        elif ch == ";" and not quoted:
            end = min((p for p in (text.find("\n", i), text.find("\r", i)) if p >= 0),
                      default=len(text))
            i = end
            continue
        current.append(ch)
        i += 1
    lines.append("".join(current))
    # Only ASCII blanks are trimmed, as QSettings does: str.strip() would also eat the
    # Unicode whitespace (U+0085, U+2028, ...) a file name may end in.
    return [line.strip(_BLANKS) for line in lines if line.strip(_BLANKS)]


def _number(text: str, i: int, digits: str, base: int) -> tuple[str, int]:
    j = i
    while j < len(text) and text[j] in digits:
        j += 1
    return chr(int(text[i:j], base) & 0xFFFF), j


def _unescape(raw: str) -> str | list[str]:
    """A value's text: one string, or a list when it has a comma outside quotes. Spaces
    around items are dropped, except quoted or escaped ones."""
    items: list[str] = []
    out: list[str] = []
    quoted = item_quoted = is_list = False
    keep = 0                              # out[:keep] is never trimmed
    i = len(raw) - len(raw.lstrip(" \t"))

    def item() -> str:
        text = "".join(out[keep:])
        return "".join(out[:keep]) + (text if item_quoted else text.rstrip(" \t"))

    while i < len(raw):
        ch = raw[i]
        i += 1
        if ch == "\\":
            nxt = raw[i:i + 1]
            i += 1
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt == "x" and raw[i:i + 1] and raw[i] in _HEX:
                char, i = _number(raw, i, _HEX, 16)
                out.append(char)
            elif nxt and nxt in _OCT:
                char, i = _number(raw, i - 1, _OCT, 8)
                out.append(char)
            elif nxt + raw[i:i + 1] in ("\r\n", "\n\r"):
                i += 1                    # an escaped CR LF (or LF CR): the line goes on
            keep = len(out)
        elif ch == '"':
            quoted, item_quoted = not quoted, True
            if not quoted:
                while i < len(raw) and raw[i] in " \t":
                    i += 1
        elif ch == "," and not quoted:
            items.append(item())
            out, keep, item_quoted, is_list = [], 0, False, True
            while i < len(raw) and raw[i] in " \t":
                i += 1
        else:
            out.append(ch)
    return [*items, item()] if is_list else item()


def _typed(text: str) -> str | bytes | Typed | None:
    """What QSettings makes of one string, for the plain forms only."""
    if text.startswith("@@"):
        return text[1:]
    match = _TYPED.fullmatch(text)
    if match is None:
        return text
    form, inner = match.group(1), text[len(match.group(1)) + 2:-1]
    if form == "ByteArray":
        return inner.encode("latin-1", errors="replace")
    if form == "String":
        return inner
    if form == "Invalid" and not inner:
        return None
    return Typed(form)


def parse(text: str) -> dict[str, Value]:
    """Every `section/key` (top-level keys for [General]) and its plain value."""
    values: dict[str, Value] = {}
    section = ""
    for line in _logical_lines(text.removeprefix("\ufeff")):
        if line.startswith("["):
            name = line[1:line.find("]") if "]" in line else len(line)].strip(_BLANKS)
            section = "" if name.lower() == "general" else f"{name}/"
            continue
        key, sep, raw = line.partition("=")
        if not sep:
            continue
        value = _unescape(raw)
        typed = [_typed(v) for v in value] if isinstance(value, list) else _typed(value)
        values[section + key.strip(_BLANKS)] = typed
    return values


def _escape(text: str, *, binary: bool = False) -> str:
    out, hex_next = [], False
    for ch in text:
        if hex_next and ch in _HEX:
            out.append(f"\\x{ord(ch):x}")
            continue
        hex_next = ch == "\0"
        if ch in _WRITE_ESCAPES:
            out.append(_WRITE_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or (binary and ord(ch) > 0x7F):
            out.append(f"\\x{ord(ch):x}")
            hex_next = True
        else:
            out.append(ch)
    escaped = "".join(out)
    if any(c in text for c in ";,=") or text[:1] == " " or text[-1:] == " ":
        return f'"{escaped}"'
    return escaped


def _value_text(value: str | bytes | list[str]) -> str:
    if isinstance(value, bytes):
        return _escape(f"@ByteArray({value.decode('latin-1')})", binary=True)
    if isinstance(value, str):
        return _escape("@" + value if value.startswith("@") else value)
    if not value:
        return "@Invalid()"
    return ", ".join(_value_text(item) for item in value)


def dump(values: dict[str, str | bytes | list[str]]) -> str:
    """INI text for `section/key` -> value, grouped by section as QSettings writes it."""
    sections: dict[str, list[str]] = {}
    for path, value in values.items():
        section, _, key = path.rpartition("/")
        sections.setdefault(section or "General", []).append(f"{key}={_value_text(value)}")
    return "\n".join(f"[{name}]\n" + "\n".join(lines) + "\n" for name, lines in sections.items())
