"""Shopify Payments payouts derived from seeded orders, for the sandbox and `shopvisma demo`.

Every paid order (not a test order, not one only authorized or pending) is a CHARGE on the
day it was placed, each refund a REFUND on its day; a sample fee model (1.8 % + 1.80 SEK a
charge, the 1.8 % handed back on a refund, as Shopify's own payout example hands back a
refund fee) makes the fees. Day D's transactions are paid out on D + 2 at 04:00 UTC, one
payout a day, so 300 generated orders give about three weeks of payouts. The last payout is
SCHEDULED and the one before IN_TRANSIT (not booked yet); one payout before the go-live date
and a reserve held and released show the cases the voucher has to get right.

`documented_payout` rebuilds the payouts of Shopify's REST payouts page (shared/reference
notes, section 4): 623721858 adds up, 512467833 does not (43.12 vs 42.90).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shopvisma.sandbox.shopify.payouts import PayoutStore, money, summarize

CENT = Decimal("0.01")
FEE_RATE = Decimal("0.018")
FEE_FIXED = Decimal("1.80")
FIRST_ID = 623_800_000
PAID_STATUSES = ("PAID", "PARTIALLY_REFUNDED", "REFUNDED")

Json = dict[str, Any]


def q(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def _ts(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def transaction(
    tid: int, kind: str, when: datetime, amount: Decimal, fee: Decimal, currency: str, order: Json | None = None
) -> Json:
    """A balance transaction: net = amount - fee, money out of the balance negative."""
    return {
        "id": f"gid://shopify/ShopifyPaymentsBalanceTransaction/{tid}",
        "type": kind,
        "sourceType": {"CHARGE": "CHARGE", "REFUND": "REFUND"}.get(kind, "ADJUSTMENT"),
        "test": False,
        "transactionDate": _ts(when),
        "amount": money(amount, currency),
        "fee": money(fee, currency),
        "net": money(amount - fee, currency),
        "associatedOrder": {"id": order["id"], "name": order["name"]} if order else None,
        "adjustmentReason": None if kind in ("CHARGE", "REFUND") else kind.lower(),
    }


def order_transactions(orders: list[Json], currency: str = "SEK") -> list[Json]:
    """The balance transactions the paid orders make (shop money: payouts are in the shop's currency)."""
    out: list[Json] = []
    tid = 88_000_000
    for o in sorted(orders, key=lambda o: o.get("createdAt") or ""):
        if o.get("test") or o.get("displayFinancialStatus") not in PAID_STATUSES:
            continue
        total = Decimal(o["totalPriceSet"]["shopMoney"]["amount"])
        tid += 1
        out.append(
            transaction(tid, "CHARGE", _when(o["createdAt"]), total, q(total * FEE_RATE + FEE_FIXED), currency, o)
        )
        for r in o.get("refunds") or []:
            back = Decimal(r["totalRefundedSet"]["shopMoney"]["amount"])
            if back:
                tid += 1
                when = _when(r.get("createdAt") or o["createdAt"])
                out.append(transaction(tid, "REFUND", when, -back, -q(back * FEE_RATE), currency, o))
    return out


def _reserve(transactions: list[Json], currency: str) -> list[Json]:
    """A reserve of 200.00 held on the second day with charges and released three days later."""
    days = sorted({_when(t["transactionDate"]).date() for t in transactions})
    if len(days) < 2:
        return []
    held = datetime.combine(days[1], time(12), tzinfo=timezone.utc)
    return [
        transaction(87_000_001, "RESERVED_FUNDS", held, Decimal("-200.00"), Decimal(0), currency),
        transaction(
            87_000_002, "RESERVED_FUNDS_REVERSAL", held + timedelta(days=3), Decimal("200.00"), Decimal(0), currency
        ),
    ]


def build_payouts(
    transactions: list[Json], currency: str = "SEK", first_id: int = FIRST_ID
) -> list[tuple[Json, list[Json]]]:
    """(payout, its transactions), one payout per day that has transactions, paid two days later."""
    by_day: dict[date, list[Json]] = defaultdict(list)
    for t in transactions:
        by_day[_when(t["transactionDate"]).date()].append(t)
    days = sorted(by_day)
    out = []
    for i, day in enumerate(days):
        mine = by_day[day]
        net = sum((Decimal(t["net"]["amount"]) for t in mine), Decimal(0))
        legacy = first_id + i * 1031
        status = "SCHEDULED" if i == len(days) - 1 else "IN_TRANSIT" if i == len(days) - 2 else "PAID"
        payout = {
            "id": f"gid://shopify/ShopifyPaymentsPayout/{legacy}",
            "legacyResourceId": str(legacy),
            "issuedAt": _ts(datetime.combine(day + timedelta(days=2), time(4), tzinfo=timezone.utc)),
            "status": status,
            "net": money(net, currency),
            "summary": summarize(mine, currency),
        }
        out.append((payout, mine))
    return out


def seed_payouts(store: PayoutStore, orders: list[Json], *, currency: str = "SEK") -> list[Json]:
    """Fill the sandbox's Shopify Payments account from `orders`; returns the stored payouts."""
    txs = order_transactions(orders, currency)
    txs += _reserve(txs, currency)
    before = datetime(2025, 12, 28, 15, tzinfo=timezone.utc)  # before the demo's go-live: never booked
    old = transaction(
        86_999_999, "CHARGE", before, Decimal("450.00"), q(Decimal("450.00") * FEE_RATE + FEE_FIXED), currency
    )
    stored = [store.add(p, mine) for p, mine in build_payouts([old], currency, first_id=FIRST_ID - 7)]
    store.set_status(stored[0]["id"], "PAID")
    stored += [store.add(p, mine) for p, mine in build_payouts(txs, currency)]
    return stored


def documented_payout(
    legacy_id: int = 623721858, *, currency: str = "SEK", issued: str = "2026-01-12T04:00:00Z"
) -> tuple[Json, list[Json]]:
    """Shopify's REST example payouts as (payout, transactions): 623721858 (net 41.90) adds up;
    512467833 states net 43.12 while its figures give 42.90 (the charges gross is 45.52)."""
    charges = Decimal("44.52") if legacy_id == 623721858 else Decimal("45.52")
    net = Decimal("41.90") if legacy_id == 623721858 else Decimal("43.12")
    when = _when(issued) - timedelta(days=2)
    txs = [
        transaction(legacy_id * 10 + 1, "CHARGE", when, charges, Decimal("1.32"), currency),
        transaction(legacy_id * 10 + 2, "REFUND", when, Decimal("-3.54"), Decimal("-0.23"), currency),
        transaction(legacy_id * 10 + 3, "ADJUSTMENT", when, Decimal("2.13"), Decimal("0.12"), currency),
    ]
    payout = {
        "id": f"gid://shopify/ShopifyPaymentsPayout/{legacy_id}",
        "legacyResourceId": str(legacy_id),
        "issuedAt": issued,
        "status": "PAID",
        "net": money(net, currency),
        "summary": summarize(txs, currency),
    }
    return payout, txs
