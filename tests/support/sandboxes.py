"""Helpers over the emulators that several suites share: seeded orders the product will
transfer, a Shopify sandbox without throttling, and one GraphQL call over real HTTP."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from shopvisma.sandbox.seed.orders import generate_orders

SHOPIFY_TOKEN = {"X-Shopify-Access-Token": "shpat_sandbox"}  # the sandbox's default static token


def paid(n: int, seed: int = 0, **kw: Any) -> list[dict[str, Any]]:
    """`n` seeded orders a default config selects: paid, not cancelled, not test orders."""
    orders = [
        o
        for o in generate_orders(n * 3, seed=seed, **kw)
        if o["displayFinancialStatus"] == "PAID" and not o.get("cancelledAt") and not o.get("test")
    ]
    return orders[:n]


@contextmanager
def unthrottled_shop(orders: list[dict[str, Any]], **kw: Any) -> Iterator[Any]:
    """A started Shopify sandbox whose leaky bucket never runs dry (unless `kw` says so)."""
    from shopvisma.sandbox.shopify.server import ShopifySandbox

    kw = {"bucket_size": 100_000, "restore_rate": 100_000, **kw}
    sb = ShopifySandbox(orders=orders, **kw).start()
    try:
        yield sb
    finally:
        sb.stop()


def shopify_post(
    sb: Any,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    op: str | None = None,
    timeout: float = 10,
) -> requests.Response:
    """One GraphQL request to the Shopify sandbox, with the static token unless `headers` is given."""
    body: dict[str, Any] = {"query": query, "variables": variables or {}}
    if op:
        body["operationName"] = op
    return requests.post(sb.api_url, json=body, headers=SHOPIFY_TOKEN if headers is None else headers, timeout=timeout)


def shopify_data(
    sb: Any, query: str, variables: dict[str, Any] | None = None, *, timeout: float = 30
) -> dict[str, Any]:
    """The answer's body, asserting HTTP 200 and no GraphQL errors."""
    r = shopify_post(sb, query, variables, timeout=timeout)
    assert r.status_code == 200
    body = r.json()
    assert "errors" not in body, body
    return body


# ---------------------------------------------------------------- what a pass must leave behind
def exactly_once(visma: Any, names: list[str]) -> None:
    docs = [*visma.drafts.values(), *visma.orders.values(), *visma.invoices.values()]
    refs = Counter(d.get("YourReference") for d in docs)
    assert all(refs[n] == 1 for n in names), {n: refs[n] for n in names if refs[n] != 1}
    assert all(v == 1 for v in refs.values()), refs
    custs = Counter((c["EmailAddress"].strip().lower(), c.get("CurrencyCode")) for c in visma.customers.values())
    assert all(v == 1 for v in custs.values()), custs
    arts = Counter(a["Number"].lower() for a in visma.articles.values())
    assert all(v == 1 for v in arts.values()), arts


def no_secret_in(texts: list[str], *secrets: str) -> None:
    for s in secrets:
        assert s and not any(s in t for t in texts), f"secret {s[:6]}… leaked"
