"""Payment transactions (GraphQL `OrderTransaction`, storage shape) for seeded and sandbox orders.

Pure Decimal logic, shared by the seed (which builds an order's whole payment history
from its final state) and the sandbox (`add_refund` pays a refund back through the
order's own payments). Kept free of graphql-core so the seed stays cheap to import.

What Shopify does and the seed mirrors: only a successful SALE or CAPTURE moves money
in, an AUTHORIZATION only reserves it, a VOID releases it, and a REFUND pays back
against one of those payments (`parentTransaction`). Amounts are in both currencies,
like every `*Set`. Stored `parentTransaction` is a stub `{"id": ...}`; the sandbox links
it to the full transaction when the order is loaded.
"""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
TXN_ID_BASE = 5500000000  # seeded: TXN_ID_BASE + order number * 20 + k
GATEWAYS = {  # gateway -> formattedGateway
    "shopify_payments": "Shopify Payments",
    "paypal": "PayPal Express Checkout",
    "gift_card": "Gift card",
    "manual": "Manual",
    "bogus": "Bogus",
}
FEE_RATE = Decimal("0.019")  # made-up Shopify Payments fee: 1.9 % + 1.80 in shop currency
FEE_FLAT = Decimal("1.80")
PATTERNS = (
    "card",  # one shopify_payments SALE
    "paypal",  # one paypal SALE
    "split",  # gift_card SALE + shopify_payments SALE
    "auth_capture",  # AUTHORIZATION, later CAPTURE (the capture is the money)
    "retry",  # a FAILURE sale (card declined), then a successful one
    "authorized",  # AUTHORIZATION only (displayFinancialStatus AUTHORIZED)
    "voided",  # AUTHORIZATION then VOID (cancelled before capture)
    "pending",  # a PENDING manual SALE (bank transfer not yet received)
    "partially_paid",  # a gift_card SALE below the total + a PENDING manual SALE for the rest
    "none",  # no transactions
)
MONEY_IN = ("SALE", "CAPTURE")


def q(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def _bag(shop: Decimal, pres: Decimal, shop_cur: str, pres_cur: str) -> dict[str, Any]:
    return {
        "shopMoney": {"amount": f"{shop:.2f}", "currencyCode": shop_cur},
        "presentmentMoney": {"amount": f"{pres:.2f}", "currencyCode": pres_cur},
    }


def amount(txn: dict[str, Any], side: str = "shopMoney") -> Decimal:
    return Decimal(txn["amountSet"][side]["amount"])


def transaction(
    number: int,
    kind: str,
    status: str,
    gateway: str,
    shop: Decimal,
    pres: Decimal,
    *,
    shop_currency: str,
    presentment_currency: str,
    at: str,
    test: bool = False,
    parent: str | None = None,
    error_code: str | None = None,
) -> dict[str, Any]:
    """One stored OrderTransaction; fees only on successful, real Shopify Payments money."""
    gid = f"gid://shopify/OrderTransaction/{number}"
    fees: list[dict[str, Any]] = []
    if gateway == "shopify_payments" and kind in MONEY_IN and status == "SUCCESS" and not test:
        fee = q(shop * FEE_RATE) + FEE_FLAT
        fees.append(
            {
                "id": f"gid://shopify/TransactionFee/{number}",
                "type": "payment",
                "rate": str(FEE_RATE),
                "rateName": "Shopify Payments",
                "flatFeeName": "Transaction fee",
                "amount": {"amount": f"{fee:.2f}", "currencyCode": shop_currency},
                "flatFee": {"amount": f"{FEE_FLAT:.2f}", "currencyCode": shop_currency},
                "taxAmount": {"amount": "0.00", "currencyCode": shop_currency},
            }
        )
    return {
        "id": gid,
        "kind": kind,
        "status": status,
        "gateway": gateway,
        "formattedGateway": GATEWAYS.get(gateway, gateway),
        "manualPaymentGateway": gateway == "manual",
        "test": test,
        "createdAt": at,
        "processedAt": at,
        "amountSet": _bag(shop, pres, shop_currency, presentment_currency),
        "parentTransaction": {"id": parent} if parent else None,
        "errorCode": error_code,
        "authorizationCode": (
            f"{number % 1000000:06d}" if kind in ("AUTHORIZATION", "SALE") and status == "SUCCESS" else None
        ),
        "paymentId": f"r{number}" if gateway != "manual" else None,
        "fees": fees,
    }


def money_in(transactions: list[dict[str, Any]], side: str = "shopMoney") -> Decimal:
    """What the customer has paid: successful SALEs and CAPTUREs (authorizations are not money)."""
    return sum(
        (amount(t, side) for t in transactions if t["kind"] in MONEY_IN and t["status"] == "SUCCESS"), Decimal(0)
    )


def refundable(transactions: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Decimal, Decimal]]:
    """(payment, shop left, presentment left) per payment that can still be refunded, in refund order.

    Shopify refunds to the original payment methods; which one first on a split payment
    is not documented. Chosen: card/wallet payments before gift cards, then in payment order.
    """
    refunded: dict[str, tuple[Decimal, Decimal]] = {}
    for t in transactions:
        parent = (t.get("parentTransaction") or {}).get("id")
        if t["kind"] == "REFUND" and t["status"] == "SUCCESS" and parent:
            s, p = refunded.get(parent, (Decimal(0), Decimal(0)))
            refunded[parent] = (s + amount(t), p + amount(t, "presentmentMoney"))
    out = []
    for t in sorted(
        (t for t in transactions if t["kind"] in MONEY_IN and t["status"] == "SUCCESS"),
        key=lambda t: t["gateway"] == "gift_card",
    ):
        s, p = refunded.get(t["id"], (Decimal(0), Decimal(0)))
        left_s, left_p = amount(t) - s, amount(t, "presentmentMoney") - p
        if left_p > 0 or left_s > 0:
            out.append((t, left_s, left_p))
    return out


def allocate_refund(
    transactions: list[dict[str, Any]], shop: Decimal, pres: Decimal
) -> list[tuple[dict[str, Any], Decimal, Decimal]]:
    """(parent payment, shop amount, presentment amount) for each REFUND that pays `shop`/`pres` back.

    Split by presentment money (what the customer sees); the last piece takes the shop
    remainder so the pieces add up to the refund exactly. Whatever exceeds the refundable
    payments is left uncovered (a refund that moves no money, e.g. restock only).
    """
    pieces: list[tuple[dict[str, Any], Decimal, Decimal]] = []
    left_p, left_s = pres, shop
    for parent, avail_s, avail_p in refundable(transactions):
        if left_p <= 0 and left_s <= 0:
            break
        take_p = min(left_p, avail_p)
        last = take_p == left_p
        take_s = min(left_s, avail_s) if last else (q(take_p * avail_s / avail_p) if avail_p else Decimal(0))
        pieces.append((parent, take_s, take_p))
        left_p -= take_p
        left_s -= take_s
    return pieces


def default_pattern(order: dict[str, Any]) -> str:
    """The pattern a hand-built order gets from its financial status."""
    return {
        "PAID": "card",
        "PARTIALLY_REFUNDED": "card",
        "REFUNDED": "card",
        "PENDING": "pending",
        "AUTHORIZED": "authorized",
        "PARTIALLY_PAID": "partially_paid",
        "VOIDED": "voided",
    }.get(order.get("displayFinancialStatus") or "", "none")


def choose_pattern(rng: random.Random, order: dict[str, Any]) -> str:
    """How a paid order was paid: mostly one card sale, some PayPal, split, auth+capture, retried."""
    pattern = default_pattern(order)
    if pattern != "card":
        return pattern
    roll = rng.random()
    foreign = order["presentmentCurrencyCode"] != order["currencyCode"]
    if roll < 0.60:
        return "card"
    if roll < 0.75:
        return "paypal"
    if roll < 0.85 and not foreign:  # gift cards are sold in shop currency
        return "split"
    if roll < 0.93:
        return "auth_capture"
    return "retry"


def build_transactions(
    order: dict[str, Any], pattern: str, *, number: int, rng: random.Random | None = None
) -> list[dict[str, Any]]:
    """The order's payment history for `pattern`, plus a REFUND per refund (also set on refund["transactions"]).

    `number` is the order's number in the seed; ids are TXN_ID_BASE + number * 20 + k.
    """
    rng = rng or random.Random(number)
    shop_cur, pres_cur = order["currencyCode"], order["presentmentCurrencyCode"]
    total_s = Decimal(order["totalPriceSet"]["shopMoney"]["amount"])
    total_p = Decimal(order["totalPriceSet"]["presentmentMoney"]["amount"])
    test = bool(order.get("test"))
    card = "bogus" if test else "shopify_payments"
    created = order["createdAt"]
    later = order["updatedAt"] if order["updatedAt"] > created else created
    if order.get("cancelledAt"):
        later = min(later, order["cancelledAt"])
    txns: list[dict[str, Any]] = []

    def add(kind: str, status: str, gateway: str, s: Decimal, p: Decimal, at: str, **kw: Any) -> dict[str, Any]:
        t = transaction(
            TXN_ID_BASE + number * 20 + len(txns),
            kind,
            status,
            gateway,
            s,
            p,
            shop_currency=shop_cur,
            presentment_currency=pres_cur,
            at=at,
            test=test,
            **kw,
        )
        txns.append(t)
        return t

    if total_s <= 0 and total_p <= 0:
        pattern = "none"
    if pattern == "card":
        add("SALE", "SUCCESS", card, total_s, total_p, created)
    elif pattern == "paypal":
        add("SALE", "SUCCESS", "paypal", total_s, total_p, created)
    elif pattern == "split":
        gift = min(rng.choice((Decimal(100), Decimal(200), Decimal(250), Decimal(500))), q(total_s / 2))
        add("SALE", "SUCCESS", "gift_card", gift, gift, created)
        add("SALE", "SUCCESS", card, total_s - gift, total_p - gift, created)
    elif pattern in ("auth_capture", "authorized", "voided"):
        auth = add("AUTHORIZATION", "SUCCESS", card, total_s, total_p, created)
        if pattern == "auth_capture":
            add("CAPTURE", "SUCCESS", card, total_s, total_p, later, parent=auth["id"])
        elif pattern == "voided":
            add("VOID", "SUCCESS", card, total_s, total_p, later, parent=auth["id"])
    elif pattern == "retry":
        add("SALE", "FAILURE", card, total_s, total_p, created, error_code="CARD_DECLINED")
        add("SALE", "SUCCESS", rng.choice((card, "paypal")), total_s, total_p, created)
    elif pattern == "pending":
        add("SALE", "PENDING", "manual", total_s, total_p, created)
    elif pattern == "partially_paid":
        share = rng.choice((Decimal("0.3"), Decimal("0.5")))
        part_s, part_p = q(total_s * share), q(total_p * share)
        add("SALE", "SUCCESS", "gift_card" if shop_cur == pres_cur else card, part_s, part_p, created)
        add("SALE", "PENDING", "manual", total_s - part_s, total_p - part_p, created)
    elif pattern != "none":
        raise ValueError(f"unknown payment pattern {pattern!r}")
    for refund in order.get("refunds") or []:
        bag = refund["totalRefundedSet"]
        pieces = allocate_refund(txns, Decimal(bag["shopMoney"]["amount"]), Decimal(bag["presentmentMoney"]["amount"]))
        refund["transactions"] = [
            add("REFUND", "SUCCESS", parent["gateway"], s, p, refund["createdAt"], parent=parent["id"])
            for parent, s, p in pieces
        ]
    return txns


__all__ = [
    "GATEWAYS",
    "PATTERNS",
    "allocate_refund",
    "build_transactions",
    "choose_pattern",
    "default_pattern",
    "money_in",
    "refundable",
    "transaction",
]
