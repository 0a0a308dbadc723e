"""The `orders(query:)` search string: Shopify's search syntax for the configured criteria.

Apart from the client because it is pure (no HTTP) and shared: a sync selects with it,
`reconcile` narrows it to a date range, and the tests check it without a server.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shopvisma.timefmt import iso_z

_FULFILLMENT = {"unfulfilled": "unfulfilled", "partially_fulfilled": "partial", "fulfilled": "fulfilled"}


def _when(dt: datetime) -> str:
    """A date-time term value: quoted, because the `:` of the time would end the term."""
    return f"'{iso_z(dt)}'"


def _value(v: str) -> str:
    """A term value, quoted only when Shopify's syntax would otherwise split or end it."""
    if not any(c.isspace() or c in "():'\"" for c in v):
        return v
    return f'"{v}"' if "'" in v else f"'{v}'"


def _any_of(field: str, values: list[str]) -> str:
    """`field` matching any of `values` (one term needs no parentheses)."""
    terms = [f"{field}:{_value(v)}" for v in values]
    return terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"


def build_search(criteria: Any, *, updated_since: datetime | None, created_at_min: datetime | None) -> str:
    """The `orders(query:)` search string for the criteria, filtered server-side.

    Several statuses (or include tags) mean any of them; every exclude tag is
    excluded. Test orders are never selected.
    """
    terms: list[str] = []
    if updated_since is not None:
        terms.append(f"updated_at:>={_when(updated_since)}")
    if created_at_min is not None:
        terms.append(f"created_at:>={_when(created_at_min)}")
    financial = [s.strip().lower() for s in criteria.financial_status or () if s.strip()]
    if financial:
        terms.append(_any_of("financial_status", financial))
    fulfillment = [
        _FULFILLMENT.get(s.strip().lower(), s.strip().lower()) for s in criteria.fulfillment_status or () if s.strip()
    ]
    if fulfillment:
        terms.append(_any_of("fulfillment_status", fulfillment))
    include = [t for t in criteria.tags_include or () if t.strip()]
    if include:
        terms.append(_any_of("tag", include))
    terms.extend(f"tag_not:{_value(t)}" for t in criteria.tags_exclude or () if t.strip())
    terms.append("test:false")
    return " ".join(terms)
