"""The subset of Shopify's search syntax that the `orders(query:)` argument of the sandbox honours.

Kept apart from the server so the grammar can be tested without HTTP. Shopify's own
behaviour for an unknown field is to drop the term; we do the same (an ignored term
neither matches nor excludes), so a typo in a filter widens the selection on the
sandbox exactly as it would on a real shop. See docs/sandbox-shopify.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

Order = dict[str, Any]
Predicate = Callable[[Order], bool]

# search value -> displayFulfillmentStatus values it selects (documented in docs/sandbox-shopify.md)
FULFILLMENT_MAP: dict[str, frozenset[str]] = {
    "shipped": frozenset({"FULFILLED"}),
    "fulfilled": frozenset({"FULFILLED"}),
    "partial": frozenset({"PARTIALLY_FULFILLED"}),
    "unshipped": frozenset({"UNFULFILLED"}),
    "unfulfilled": frozenset({"UNFULFILLED", "PARTIALLY_FULFILLED"}),
    "scheduled": frozenset({"SCHEDULED"}),
    "on_hold": frozenset({"ON_HOLD"}),
    "request_declined": frozenset({"REQUEST_DECLINED"}),
}
FINANCIAL_VALUES = frozenset(
    {"paid", "pending", "authorized", "partially_paid", "partially_refunded", "refunded", "voided", "expired"}
)

_TOKEN = re.compile(r"""\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<term>(?:[^\s()'"]|'[^']*'?|"[^"]*"?)+))""")
_FIELD = re.compile(r"^(?P<field>[A-Za-z_][A-Za-z0-9_.]*):(?P<op><=|>=|<|>)?(?P<value>.*)$", re.S)


@dataclass(frozen=True)
class Term:
    field: str  # "" for free text
    op: str  # ":", "<", ">", "<=", ">="
    value: str


def tokenize(query: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
        tokens.append(m.group("lp") or m.group("rp") or m.group("term"))
    return tokens


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value.strip("'\"")


def parse_term(text: str) -> Term:
    m = _FIELD.match(text)
    if m:
        return Term(m.group("field").lower(), m.group("op") or ":", _unquote(m.group("value")))
    return Term("", ":", _unquote(text))


class _Parser:
    """Recursive descent: or_expr := and_expr (OR and_expr)*; and_expr := unary+ (AND optional)."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self) -> str:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def parse_or(self) -> Any:
        parts = [self.parse_and()]
        while self.peek() == "OR":
            self.next()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def parse_and(self) -> Any:
        parts = []
        while self.peek() not in (None, ")", "OR"):
            if self.peek() == "AND":
                self.next()
                continue
            parts.append(self.parse_unary())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def parse_unary(self) -> Any:
        tok = self.next()
        if tok == "NOT":
            return ("not", self.parse_unary()) if self.peek() not in (None, ")") else None
        if tok == "(":
            inner = self.parse_or()
            if self.peek() == ")":
                self.next()
            return inner
        if tok == ")":
            return None
        if tok.startswith("-") and len(tok) > 1:
            return ("not", ("term", parse_term(tok[1:])))
        return ("term", parse_term(tok))


def parse_query(query: str | None) -> Any:
    """The syntax tree of a search string (None: no filter)."""
    if not query or not query.strip():
        return None
    parser = _Parser(tokenize(query))
    tree = parser.parse_or()
    while parser.peek() is not None:  # stray ")" : Shopify is lenient, so are we
        parser.next()
        more = parser.parse_or()
        tree = ("and", [tree, more]) if tree is not None else more
    return tree


def parse_instant(value: str, now: datetime) -> tuple[datetime, datetime] | None:
    """[start, end) of a time value: an instant (start == end), a day, a year, or `now`."""
    v = value.strip()
    if v.lower() == "now":
        return now, now
    if re.fullmatch(r"\d{4}", v):
        start = datetime(int(v), 1, 1, tzinfo=timezone.utc)
        return start, datetime(int(v) + 1, 1, 1, tzinfo=timezone.utc)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        start = datetime.fromisoformat(v).replace(tzinfo=timezone.utc)
        return start, start + timedelta(days=1)
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t, t


def to_instant(value: str | None) -> datetime | None:
    if not value:
        return None
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _compare_time(t: datetime | None, op: str, span: tuple[datetime, datetime]) -> bool:
    if t is None:
        return False
    start, end = span
    if start == end:
        return {":": t == start, "<": t < start, ">": t > start, "<=": t <= start, ">=": t >= start}[op]
    return {":": start <= t < end, "<": t < start, ">": t >= end, "<=": t < end, ">=": t >= start}[op]


def _compare_num(a: int, op: str, b: int) -> bool:
    return {":": a == b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


def _free_text(order: Order, text: str) -> bool:
    needle = text.lower()
    customer = order.get("customer") or {}
    hay = [order.get("name"), order.get("email"), customer.get("displayName"), *(order.get("tags") or [])]
    return any(needle in (h or "").lower() for h in hay)


def term_predicate(term: Term, now: datetime) -> Predicate | None:
    """A predicate for one term, or None when Shopify would ignore the term."""
    f, op, v = term.field, term.op, term.value
    low = v.lower()
    if f == "":
        return (lambda o: _free_text(o, v)) if v else None
    if f in ("updated_at", "created_at", "processed_at"):
        key = {"updated_at": "updatedAt", "created_at": "createdAt", "processed_at": "processedAt"}[f]
        span = parse_instant(v, now)
        if span is None:
            return lambda o: False
        return lambda o: _compare_time(to_instant(o.get(key) or o.get("createdAt")), op, span)
    if f == "financial_status":
        return lambda o: (o.get("displayFinancialStatus") or "").lower() == low
    if f == "fulfillment_status":
        wanted = FULFILLMENT_MAP.get(low, frozenset())
        return lambda o: o.get("displayFulfillmentStatus") in wanted
    if f == "status":
        checks: dict[str, Predicate] = {
            "open": lambda o: not o.get("closed") and not o.get("cancelledAt"),
            "closed": lambda o: bool(o.get("closed")),
            "cancelled": lambda o: bool(o.get("cancelledAt")),
            "not_closed": lambda o: not o.get("closed"),
        }
        return checks.get(low, lambda o: False)
    if f == "tag":
        return lambda o: any(t.lower() == low for t in o.get("tags") or [])
    if f == "tag_not":
        return lambda o: all(t.lower() != low for t in o.get("tags") or [])
    if f == "test":
        return lambda o: bool(o.get("test")) == (low == "true")
    if f == "name":
        want = low.lstrip("#")
        return lambda o: (o.get("name") or "").lower().lstrip("#") == want
    if f == "email":
        return lambda o: (o.get("email") or "").strip().lower() == low.strip()
    if f == "id":
        if not v.isdigit():
            return lambda o: False
        return lambda o: _compare_num(int(o.get("legacyResourceId") or 0), op, int(v))
    if f == "sku":
        return lambda o: any((li.get("sku") or "").lower() == low for li in o.get("lineItems") or [])
    return None


def _compile(tree: Any, now: datetime) -> Predicate | None:
    if tree is None:
        return None
    kind = tree[0]
    if kind == "term":
        return term_predicate(tree[1], now)
    if kind == "not":
        inner = _compile(tree[1], now)
        return None if inner is None else (lambda o: not inner(o))
    parts = [p for p in (_compile(t, now) for t in tree[1]) if p is not None]
    if not parts:
        return None
    if kind == "and":
        return lambda o: all(p(o) for p in parts)
    return lambda o: any(p(o) for p in parts)


def compile_query(query: str | None, now: datetime) -> Predicate:
    """A predicate over stored orders for a Shopify search string; `now` anchors `:<now`."""
    pred = _compile(parse_query(query), now)
    return pred if pred is not None else (lambda o: True)
