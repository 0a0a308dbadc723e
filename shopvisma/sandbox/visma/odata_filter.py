"""The subset of OData `$filter` the Visma sandbox understands.

Small on purpose: the product only needs lookups such as `EmailAddress eq 'a@b.se'`,
`Number eq 'SKU-1'` and `CreatedUtc ge 2026-01-01T00:00:00Z`, but a client that builds
filters by hand must meet the real server's strictness (unknown property → 400) and its
leniency (string equality is case-insensitive, as SQL Server's default collation is).

Grammar:
    expr    := and ('or' and)*
    and     := unary ('and' unary)*
    unary   := 'not' unary | '(' expr ')' | boolfn | operand OP operand
    boolfn  := ('contains' | 'startswith' | 'endswith') '(' operand ',' operand ')'
    operand := PROPERTY | literal | ('tolower' | 'toupper' | 'trim') '(' operand ')'
    literal := 'string' (with '' escape) | number | true | false | null | GUID | ISO date/time
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

OPERATORS = ("eq", "ne", "gt", "ge", "lt", "le")
BOOL_FUNCTIONS = ("contains", "startswith", "endswith")
VALUE_FUNCTIONS = ("tolower", "toupper", "trim")

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<dt>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?(?![\w-]))
    | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
    | (?P<num>-?\d+(?:\.\d+)?(?![\w-]))
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<punct>[(),])
    )""",
    re.VERBOSE,
)


class FilterError(ValueError):
    """A $filter the server refuses (400, ErrorCode 2000)."""


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FilterError(f"Syntax error at position {pos} in $filter.")
        kind = m.lastgroup or ""
        tokens.append(_Tok(kind, m.group(kind)))
        pos = m.end()
    return tokens


# A compiled filter is a predicate over one record.
Predicate = Callable[[Mapping[str, Any]], bool]
_Value = Callable[[Mapping[str, Any]], Any]


class _Parser:
    def __init__(self, tokens: list[_Tok], properties: Collection[str]) -> None:
        self.tokens = tokens
        self.i = 0
        self.properties = {p.lower(): p for p in properties}
        self.used: set[str] = set()  # the properties the filter names (for per-endpoint whitelists)

    def peek(self) -> _Tok | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise FilterError("Unexpected end of $filter.")
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise FilterError(f"Expected '{text}' but found '{tok.text}' in $filter.")

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "name" and tok.text == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Predicate:
        pred = self.expr()
        if self.peek() is not None:
            raise FilterError(f"Unexpected '{self.peek().text}' in $filter.")  # type: ignore[union-attr]
        return pred

    def expr(self) -> Predicate:
        parts = [self.conj()]
        while self.keyword("or"):
            parts.append(self.conj())
        if len(parts) == 1:
            return parts[0]
        generic: Predicate = lambda r: any(p(r) for p in parts)  # noqa: E731
        eqs = {getattr(p, "eq", None) for p in parts}
        props = {e[0] for e in eqs if e is not None}
        if None in eqs or len(props) != 1:
            return generic
        # `P eq 'a' or P eq 'b' ...` (the product's batched lookups): one set lookup per
        # record instead of one comparison per term; the same answer as `generic`, since
        # text (and 36-character GUIDs) compare case-insensitively.
        prop, wanted = props.pop(), {e[1].casefold() for e in eqs if e is not None}

        def any_of(r: Mapping[str, Any]) -> bool:
            v = r.get(prop)
            return v.casefold() in wanted if isinstance(v, str) else generic(r)

        return any_of

    def conj(self) -> Predicate:
        parts = [self.unary()]
        while self.keyword("and"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def unary(self) -> Predicate:
        if self.keyword("not"):
            inner = self.unary()
            return lambda r: not inner(r)
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.take()
            inner = self.expr()
            self.expect(")")
            return inner
        if tok is not None and tok.kind == "name" and tok.text in BOOL_FUNCTIONS:
            self.take()
            self.expect("(")
            left = self.operand()
            self.expect(",")
            right = self.operand()
            self.expect(")")
            return _string_function(tok.text, left, right)
        left = self.operand()
        op = self.take()
        if op.text not in OPERATORS:
            raise FilterError(f"Unknown operator '{op.text}' in $filter.")
        right = self.operand()
        pred: Any = lambda r: _compare(op.text, left(r), right(r))  # noqa: E731
        if op.text == "eq" and getattr(left, "prop", None) and isinstance(getattr(right, "literal", None), str):
            pred.eq = (left.prop, right.literal)  # type: ignore[attr-defined]
        return pred

    def operand(self) -> _Value:
        tok = self.take()
        if tok.kind == "str":
            value: Any = tok.text[1:-1].replace("''", "'")
        elif tok.kind == "num":
            value = Decimal(tok.text)
        elif tok.kind == "guid":
            value = tok.text
        elif tok.kind == "dt":
            value = _parse_datetime(tok.text)
        elif tok.kind == "name" and tok.text in ("true", "false"):
            value = tok.text == "true"
        elif tok.kind == "name" and tok.text == "null":
            value = None
        elif tok.kind == "name" and tok.text in VALUE_FUNCTIONS:
            self.expect("(")
            inner = self.operand()
            self.expect(")")
            funcs: dict[str, Callable[[str], str]] = {"tolower": str.lower, "toupper": str.upper, "trim": str.strip}
            fn = funcs[tok.text]
            return lambda r: _apply_string(fn, inner(r))
        elif tok.kind == "name":
            prop = self.properties.get(tok.text.lower())
            if prop is None or prop != tok.text:
                raise FilterError(f"Could not find a property named '{tok.text}' on type.")
            self.used.add(prop)
            getter: Any = lambda r: r.get(prop)  # noqa: E731
            getter.prop = prop
            return getter
        else:
            raise FilterError(f"Unexpected '{tok.text}' in $filter.")
        const: Any = lambda r: value  # noqa: E731
        if tok.kind == "str":
            const.literal = value
        return const


def _parse_datetime(text: str) -> datetime:
    try:
        if "T" not in text:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise FilterError(f"Invalid date/time literal '{text}' in $filter.") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _apply_string(fn: Callable[[str], str], value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FilterError("A string function was applied to a value that is not a string.")
    return fn(value)


def _string_function(name: str, left: _Value, right: _Value) -> Predicate:
    def pred(record: Mapping[str, Any]) -> bool:
        a, b = left(record), right(record)
        if a is None or b is None:
            return False
        if not isinstance(a, str) or not isinstance(b, str):
            raise FilterError(f"{name}() needs string arguments.")
        a, b = a.casefold(), b.casefold()
        return {"contains": b in a, "startswith": a.startswith(b), "endswith": a.endswith(b)}[name]

    return pred


def _normalize(a: Any, b: Any) -> tuple[Any, Any]:
    """Bring two operands to comparable Python values, as SQL would (case-insensitive strings)."""
    if isinstance(a, datetime) and isinstance(b, str):
        return a, _parse_datetime(b)
    if isinstance(b, datetime) and isinstance(a, str):
        return _parse_datetime(a), b
    if isinstance(a, bool) or isinstance(b, bool):
        if not (isinstance(a, bool) and isinstance(b, bool)):
            raise FilterError("A boolean can only be compared with true or false.")
        return a, b
    if isinstance(a, (int, float, Decimal)) and isinstance(b, (int, float, Decimal)):
        return Decimal(str(a)), Decimal(str(b))
    if isinstance(a, str) and isinstance(b, str):
        if _is_guid(a) and _is_guid(b):
            return uuid.UUID(a), uuid.UUID(b)
        return a.casefold(), b.casefold()
    raise FilterError(f"Cannot compare {type(a).__name__} with {type(b).__name__} in $filter.")


def _is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def _compare(op: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        if op == "eq":
            return a is None and b is None
        if op == "ne":
            return not (a is None and b is None)
        return False
    x, y = _normalize(a, b)
    if op == "eq":
        return bool(x == y)
    if op == "ne":
        return bool(x != y)
    if isinstance(x, uuid.UUID):
        raise FilterError("GUIDs can only be compared with eq and ne.")
    return bool({"gt": x > y, "ge": x >= y, "lt": x < y, "le": x <= y}[op])


def parse_filter(text: str, properties: Collection[str]) -> tuple[Predicate, frozenset[str]]:
    """Parse `text` against the entity's top-level scalar `properties`; raises FilterError.
    Property names are case-sensitive (as OData's are), but a wrong-case name is reported
    as unknown rather than silently matched. Also returns the properties named, because
    real Visma filters only on a per-endpoint whitelist (the "filter-whitelist" reading)."""
    tokens = _tokenize(text)
    if not tokens:
        raise FilterError("Empty $filter.")
    parser = _Parser(tokens, properties)
    return parser.parse(), frozenset(parser.used)


def compile_filter(text: str, properties: Collection[str]) -> Predicate:
    return parse_filter(text, properties)[0]


def apply_filter(records: list[dict[str, Any]], text: str, properties: Collection[str]) -> list[dict[str, Any]]:
    pred = compile_filter(text, properties)
    return [r for r in records if pred(r)]
