"""The display-filter language: text -> a tree of comparisons, or a syntax error value.

    kind=MSR_EXIT and (reason=FILTER or value>0xffff) and not vcpu=0
    msr=IA32_PAT,0x10 step=3-9                    (juxtaposed terms are AND'ed, as before)

A term is `field OP value` with OP one of = == != < <= > >=; `=` takes comma-separated
values and inclusive ranges (a-b). Terms combine with and/&&, or/||, not/! and
parentheses. Fields are the JSON Lines export's (filter_fields.FIELDS), so an exported
event reads back as a filter. Parsing never raises: a mistake comes back as a
FilterSyntaxError value with the character position, for the filter box to point at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench.session.eventlog import filter_fields as ff

_TOKEN = re.compile(r"\s*(?:(?P<op>==|!=|<=|>=|&&|\|\||[=<>!()])|(?P<word>[^\s=<>!()&|]+)"
                    r"|(?P<bad>\S))")
_COMPARE = frozenset({"=", "==", "!=", "<", "<=", ">", ">="})
_MAX_DEPTH = 64  # nesting beyond this is a typo, and would exhaust the recursion limit


@dataclass(frozen=True)
class FilterSyntaxError:
    """Why a filter text is unusable: `position` (0-based) is where the problem starts."""

    position: int
    message: str
    text: str = ""

    def caret(self) -> str:
        """The text with a caret under the position, for a monospace message."""
        return f"{self.text}\n{' ' * self.position}^ {self.message}"

    def __str__(self) -> str:
        return f"column {self.position + 1}: {self.message}"


@dataclass(frozen=True)
class Term:
    field: str
    op: str
    test: ff.Test  # compiled value(s): what the column is compared with


@dataclass(frozen=True)
class Not:
    inner: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Everything:
    """The empty filter: every row."""


Node = Term | Not | BoolOp | Everything


class _Fail(Exception):
    """Internal only: unwinds the parser to `parse`, which returns it as a value."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position, self.message = position, message


@dataclass(frozen=True)
class _Tok:
    kind: str  # "op" | "word" | "end"
    text: str
    pos: int


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while True:
        match = _TOKEN.match(text, pos)
        if match is None:  # only blanks are left
            out.append(_Tok("end", "", len(text)))
            return out
        kind = match.lastgroup or "bad"
        start = match.start(kind)
        if kind == "bad":
            raise _Fail(start, f"unexpected character {match.group(kind)!r}")
        word = match.group(kind)
        if kind == "word" and word.lower() in ("and", "or", "not"):
            kind, word = "op", word.lower()
        out.append(_Tok(kind, {"&&": "and", "||": "or", "!": "not"}.get(word, word), start))
        pos = match.end()


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.toks, self.i, self.depth = tokens, 0, 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expr(self) -> Node:
        parts = [self.conj()]
        while self.peek().text == "or" and self.peek().kind == "op":
            self.take()
            parts.append(self.conj())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def conj(self) -> Node:
        parts = [self.unary()]
        while True:
            tok = self.peek()
            if tok.kind == "op" and tok.text == "and":
                self.take()
            elif not (tok.kind == "word" or tok.text in ("not", "(")):
                break  # juxtaposed terms: an implicit and, as the old syntax had
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def unary(self) -> Node:
        tok = self.take()
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Fail(tok.pos, f"nested deeper than {_MAX_DEPTH} levels")
        try:
            if tok.kind == "op" and tok.text == "not":
                return Not(self.unary())
            if tok.text == "(" and tok.kind == "op":
                inner = self.expr()
                close = self.take()
                if close.text != ")":
                    raise _Fail(close.pos, "expected ')' to close the '(' at column "
                                           f"{tok.pos + 1}")
                return inner
            if tok.kind == "word":
                return self.term(tok)
        finally:
            self.depth -= 1
        found = "the end of the filter" if tok.kind == "end" else repr(tok.text)
        raise _Fail(tok.pos, f"expected a term such as kind=MSR_EXIT, found {found}")

    def term(self, name: _Tok) -> Term:
        field = name.text.lower()
        if field not in ff.FIELDS:
            raise _Fail(name.pos, f"unknown field {name.text!r} "
                                  f"(fields: {', '.join(ff.FIELDS)})")
        op = self.take()
        if op.text not in _COMPARE:
            raise _Fail(op.pos, f"expected a comparison (= != < <= > >=) after {name.text}")
        value = self.take()
        if value.kind != "word":
            raise _Fail(value.pos, f"expected a value after {name.text}{op.text}")
        try:
            test = ff.compile_value(field, "=" if op.text == "==" else op.text, value.text)
        except ValueError as exc:
            raise _Fail(value.pos, str(exc)) from None
        return Term(field, "=" if op.text == "==" else op.text, test)


def parse(text: str) -> Node | FilterSyntaxError:
    """The filter `text` as a tree (Everything for blank text), or where and why not."""
    try:
        tokens = _tokens(text)
        parser = _Parser(tokens)
        if tokens[0].kind == "end":
            return Everything()
        node = parser.expr()
        extra = parser.peek()
        if extra.kind != "end":
            what = "')' without its '('" if extra.text == ")" else repr(extra.text)
            raise _Fail(extra.pos, f"unexpected {what}")
        return node
    except _Fail as fail:
        return FilterSyntaxError(fail.position, fail.message, text)
