"""Order sets for the benchmark, built on the sandbox's deterministic seed generator.

Why a layer over `generate_orders`: the benchmark needs (1) exactly N orders the demo
config selects (paid / partially refunded, not test, not cancelled), so "per order"
means per transferred document; (2) every timestamp in the past, whatever N is, so the
bookmark logic sees a normal shop and not orders from the future (the generator spaces
orders ~1.5 h apart, 10,000 of them would reach 2027); (3) "previous orders" of the same
customers and catalogue for the steady-state scenario, so its customers and articles
are created by the real product in a warm-up pass rather than faked in the sandbox.
"""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from shopvisma.sandbox.seed.orders import generate_orders

SELECTED_FINANCIAL = ("PAID", "PARTIALLY_REFUNDED")  # the demo config's [criteria] financial_status
_TIME_FIELDS = ("createdAt", "processedAt", "updatedAt", "cancelledAt", "closedAt")
_FMT = "%Y-%m-%dT%H:%M:%SZ"


def transferable(order: dict[str, Any]) -> bool:
    """What the demo config selects; other orders Shopify filters out server-side anyway."""
    return (
        order.get("displayFinancialStatus") in SELECTED_FINANCIAL
        and not order.get("test")
        and not order.get("cancelledAt")
    )


def _parse(ts: str) -> datetime:
    return datetime.strptime(ts, _FMT).replace(tzinfo=UTC)


def _map_times(order: dict[str, Any], fn: Any) -> None:
    for key in _TIME_FIELDS:
        if order.get(key):
            order[key] = fn(_parse(order[key])).strftime(_FMT)
    for refund in order.get("refunds") or []:
        if refund.get("createdAt"):
            refund["createdAt"] = fn(_parse(refund["createdAt"])).strftime(_FMT)


def squeeze(orders: list[dict[str, Any]], start: datetime, end: datetime) -> None:
    """Map every timestamp linearly into [start, end], keeping their order (in place)."""
    stamps = [_parse(o[k]) for o in orders for k in _TIME_FIELDS if o.get(k)]
    stamps += [_parse(r["createdAt"]) for o in orders for r in o.get("refunds") or [] if r.get("createdAt")]
    lo, hi = min(stamps), max(stamps)
    factor = (end - start) / (hi - lo) if hi > lo else 0.0
    for order in orders:
        _map_times(order, lambda t: start + (t - lo) * factor)


def make_orders(n: int, *, seed: int, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Exactly `n` transferable orders (names #1001.. with gaps), timestamps within [start, end]."""
    want = math.ceil(n * 1.3) + 20
    while True:
        picked = [o for o in generate_orders(want, seed=seed) if transferable(o)]
        if len(picked) >= n:
            break
        want = math.ceil(want * 1.2)
    picked = picked[:n]
    squeeze(picked, start, end)
    return picked


def previous_order(order: dict[str, Any], shift: timedelta, offset: int = 500_000) -> dict[str, Any]:
    """An earlier order by the same customer with the same lines: new id, name and line ids."""
    prev = copy.deepcopy(order)
    number = int(prev["legacyResourceId"]) + offset
    prev["id"] = f"gid://shopify/Order/{number}"
    prev["legacyResourceId"] = str(number)
    prev["name"] = f"#{int(prev['name'].lstrip('#')) + offset}"

    def bump(gid: str) -> str:
        head, _, num = gid.rpartition("/")
        return f"{head}/{int(num) + offset * 100}"

    for line in prev.get("lineItems") or []:
        line["id"] = bump(line["id"])
    for ship in prev.get("shippingLines") or []:
        if ship.get("id"):
            ship["id"] = bump(ship["id"])
    for refund in prev.get("refunds") or []:
        if refund.get("id"):
            refund["id"] = bump(refund["id"])
        for item in refund.get("refundLineItems") or []:
            item["id"] = bump(item["id"])
            item["lineItem"]["id"] = bump(item["lineItem"]["id"])
        for item in refund.get("refundShippingLines") or []:
            item["id"] = bump(item["id"])
    _map_times(prev, lambda t: t - shift)
    return prev
