"""The random and the hand-picked order sets built on seed.build_order (split from seed.py for size)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from shopvisma.sandbox.seed.catalogue import CATALOGUE, CITIES, FIRST_NAMES, LAST_NAMES, STREETS, TAGS
from shopvisma.sandbox.seed.orders import DEFAULT_START, build_order, make_refund, ts
from shopvisma.sandbox.seed.payments import build_transactions, choose_pattern

_P = {p.sku: p for p in CATALOGUE}


def _person(rng: random.Random, k: int, *, foreign: bool = False) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    cities = [c for c in CITIES if (c[2] != "SE") == foreign]
    city, zip_code, country = rng.choice(cities)
    domain = rng.choice(("example.se", "example.com", "example.fi" if foreign else "example.nu"))
    company = rng.choice(("Café Lingon AB", "Ateljé Ek HB", "Bokhandeln i Visby AB")) if rng.random() < 0.05 else None
    return {
        "email": f"{first}.{last}{k}@{domain}".lower().replace("å", "a").replace("ä", "a").replace("ö", "o"),
        "customer": {
            "id": f"gid://shopify/Customer/{7300000000 + k}",
            "displayName": f"{first} {last}",
            "firstName": first,
            "lastName": last,
        },
        "address": {
            "name": f"{first} {last}",
            "firstName": first,
            "lastName": last,
            "company": company,
            "address1": f"{rng.choice(STREETS)} {rng.randint(1, 80)}",
            "address2": None,
            "city": city,
            "zip": zip_code,
            "countryCodeV2": country,
            "phone": None,
        },
        "foreign": foreign,
    }


def _email_variant(rng: random.Random, email: str) -> str:
    """The same address as a customer may type it again: other case, stray spaces."""
    return rng.choice((email.upper(), email.title(), f" {email}", f"{email} ", email.capitalize()))


def generate_orders(
    n: int,
    *,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    shop_currency: str = "SEK",
    taxes_included: bool = True,
    partially_paid: float = 0.0,
) -> list[dict]:
    """`n` realistic orders (names #1001...), the same for the same arguments.

    Payments come from a second random stream per order (`payments:{seed}:{i}`), so adding
    them left every other field exactly as before. `partially_paid` (default 0, i.e. off,
    for the same reason) is the share of PENDING orders turned PARTIALLY_PAID: part paid
    by gift card (card if foreign), the rest a pending manual payment.
    """
    rng = random.Random(seed)
    pool: list[dict[str, Any]] = []
    orders: list[dict] = []
    t = start
    for i in range(1, n + 1):
        t += timedelta(minutes=rng.randint(7, 180), seconds=rng.randint(0, 59))
        if pool and rng.random() < 0.3:
            person = rng.choice(pool)
            email = _email_variant(rng, person["email"]) if rng.random() < 0.35 else person["email"]
        else:
            person = _person(rng, len(pool) + 1, foreign=rng.random() < 0.07)
            person["guest"] = rng.random() < 0.2
            pool.append(person)
            email = person["email"]
        eur = person["foreign"] and rng.random() < 0.8
        k = rng.choices((1, 2, 3, 4), weights=(45, 30, 17, 8))[0]
        lines = [
            {
                "product": p,
                "qty": rng.choices((1, 2, 3), weights=(75, 20, 5))[0],
                "line_pct": rng.choice((Decimal("0.10"), Decimal("0.20"))) if rng.random() < 0.1 else Decimal(0),
            }
            for p in rng.sample(CATALOGUE, k)
        ]
        roll = rng.random()
        order_pct, code = Decimal(0), None
        if roll < 0.12:
            order_pct, code = Decimal("0.10"), "VINTER10"
        elif roll < 0.15:
            order_pct, code = Decimal("0.15"), "VIP15"
        status = rng.random()
        kind = (
            "cancelled"
            if status < 0.04
            else "pending"
            if status < 0.10
            else "authorized"
            if status < 0.14
            else "partial"
            if status < 0.17
            else "refunded"
            if status < 0.19
            else "paid"
        )
        financial = {"pending": "PENDING", "authorized": "AUTHORIZED"}.get(kind, "PAID")
        fulfillment = "UNFULFILLED"
        if kind in ("paid", "partial", "refunded"):
            fulfillment = rng.choices(("FULFILLED", "UNFULFILLED", "PARTIALLY_FULFILLED"), weights=(60, 30, 10))[0]
            if fulfillment == "PARTIALLY_FULFILLED" and k == 1:
                fulfillment = "FULFILLED"
        updated = t + timedelta(minutes=rng.randint(1, 900)) if fulfillment != "UNFULFILLED" else t
        order = build_order(
            i,
            created=t,
            lines=lines,
            customer=None if person.get("guest") else person["customer"],
            email=email,
            address=person["address"],
            shop_currency=shop_currency,
            presentment="EUR" if eur else None,
            taxes_included=taxes_included,
            order_pct=order_pct,
            code=code,
            financial=financial,
            fulfillment=fulfillment,
            tags=rng.sample(TAGS, rng.choices((0, 1, 2), weights=(60, 30, 10))[0]),
            test=rng.random() < 0.03,
            updated=updated,
        )
        later = t + timedelta(days=rng.randint(1, 12), minutes=rng.randint(0, 600))
        if kind == "cancelled":
            cancelled = t + timedelta(minutes=rng.randint(20, 400))
            order.update(
                cancelledAt=ts(cancelled),
                cancelReason="CUSTOMER",
                closed=True,
                closedAt=ts(cancelled),
                updatedAt=ts(cancelled),
            )
            if rng.random() < 0.5:
                order["displayFinancialStatus"] = "VOIDED"
            else:
                order["refunds"].append(
                    make_refund(
                        order, shipping=True, created_at=ts(cancelled), refund_id=f"gid://shopify/Refund/{8800000 + i}"
                    )
                )
                order["displayFinancialStatus"] = "REFUNDED"
        elif kind in ("partial", "refunded"):
            first_line = order["lineItems"][0]
            qty = None if kind == "refunded" else {first_line["id"]: 1}
            if kind == "partial" and k == 1 and first_line["quantity"] == 1:
                qty = None  # one unit of one line: refunding it is a full refund
            order["refunds"].append(
                make_refund(
                    order,
                    qty,
                    shipping=qty is None,
                    created_at=ts(later),
                    refund_id=f"gid://shopify/Refund/{8800000 + i}",
                )
            )
            order["displayFinancialStatus"] = "REFUNDED" if qty is None else "PARTIALLY_REFUNDED"
            order["updatedAt"] = ts(max(later, updated))
        elif fulfillment == "FULFILLED" and rng.random() < 0.5:
            order.update(closed=True, closedAt=order["updatedAt"])
        pay_rng = random.Random(f"payments:{seed}:{i}")
        if pay_rng.random() < partially_paid and order["displayFinancialStatus"] == "PENDING":
            order["displayFinancialStatus"] = "PARTIALLY_PAID"
        order["transactions"] = build_transactions(order, choose_pattern(pay_rng, order), number=i, rng=pay_rng)
        orders.append(order)
    return orders


# How each demo order was paid, by position (see the specs in demo_orders).
DEMO_PAYMENTS = (
    "card",
    "paypal",
    "split",
    "card",
    "auth_capture",
    "card",
    "pending",
    "card",
    "card",
    "retry",
    "split",
    "authorized",
)


def demo_orders(start: datetime = DEFAULT_START) -> list[dict]:
    """A dozen orders that show the interesting cases in `shopvisma demo`, in name order."""
    rng = random.Random(1001)
    anna = _person(rng, 1)
    anna["email"] = "anna.berg@example.se"
    anna["customer"].update(displayName="Anna Berg", firstName="Anna", lastName="Berg")
    anna["address"].update(
        name="Anna Berg",
        firstName="Anna",
        lastName="Berg",
        company=None,
        city="Uppsala",
        zip="753 20",
        countryCodeV2="SE",
    )
    erik, guest, firm = _person(rng, 2), _person(rng, 3), _person(rng, 4)
    firm["address"]["company"] = "Café Lingon AB"
    aino = _person(rng, 5, foreign=True)
    aino["address"].update(city="Helsinki", zip="00100", countryCodeV2="FI")

    def line(sku: str, qty: int = 1, pct: str = "0") -> dict[str, Any]:
        return {"product": _P[sku], "qty": qty, "line_pct": Decimal(pct)}

    specs: list[tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]] = [
        (anna, [line("MUG-STO-GRY", 2)], {}),  # simple, 25 %
        (erik, [line("KNIFE-CHEF-20"), line("COFFEE-BRYGG-450", 2), line("BOOK-FIKA")], {}),  # 25/12/6, free ship
        (anna, [line("TOWEL-LIN-NAT", 3)], {"email": " Anna.Berg@Example.SE "}),  # repeat, other case
        (guest, [line("CANDLE-WAX-3", 2), line("JAM-LINGON")], {"guest": True}),  # guest checkout
        (
            erik,
            [line("THROW-WOOL-GRN", 1, "0.20"), line("HONEY-RAPS", 2)],
            {"order_pct": Decimal("0.10"), "code": "VINTER10"},
        ),  # line + order discount
        (aino, [line("BOARD-OAK-L"), line("BOOK-SVAMP")], {"presentment": "EUR"}),  # EUR presentment
        (firm, [line("COFFEE-ESP-450", 3)], {"financial": "PENDING"}),  # not paid yet
        (erik, [line("SOAP-BIRCH")], {"test": True}),  # test order
        (guest, [line("PAN-CAST-26")], {"cancel": True}),  # cancelled, refunded
        (firm, [line("GLASS-WINE-2", 2), line("CARAFE-1L")], {"partial": True}),  # partial refund
        (
            anna,
            [line(s) for s in ("PLATE-ASH-26", "BOWL-LIN-S", "SPOON-WOOD", "CHOC-DARK-70")] + [line("CRISP-RAG", 3)],
            {"tags": ["vip"]},
        ),  # five lines
        (aino, [line("BOOK-KOK-NORD")], {"financial": "AUTHORIZED"}),  # authorized only
    ]
    orders = []
    t = start
    for i, (person, lines, opt) in enumerate(specs, start=1):
        t += timedelta(hours=2, minutes=17 * i)
        order = build_order(
            i,
            created=t,
            lines=lines,
            customer=None if opt.get("guest") else person["customer"],
            email=opt.get("email", person["email"]),
            address=person["address"],
            presentment=opt.get("presentment"),
            order_pct=opt.get("order_pct", Decimal(0)),
            code=opt.get("code"),
            financial=opt.get("financial", "PAID"),
            test=opt.get("test", False),
            tags=opt.get("tags"),
            fulfillment="FULFILLED" if i % 3 == 0 else "UNFULFILLED",
            updated=t + timedelta(minutes=5),
        )
        later = ts(t + timedelta(hours=20))
        if opt.get("cancel"):
            order["refunds"].append(
                make_refund(order, shipping=True, created_at=later, refund_id=f"gid://shopify/Refund/{8700000 + i}")
            )
            order.update(
                cancelledAt=later,
                cancelReason="CUSTOMER",
                closed=True,
                closedAt=later,
                displayFinancialStatus="REFUNDED",
                updatedAt=later,
            )
        if opt.get("partial"):
            first = order["lineItems"][0]
            order["refunds"].append(
                make_refund(order, {first["id"]: 1}, created_at=later, refund_id=f"gid://shopify/Refund/{8700000 + i}")
            )
            order.update(displayFinancialStatus="PARTIALLY_REFUNDED", updatedAt=later)
        order["transactions"] = build_transactions(order, DEMO_PAYMENTS[i - 1], number=i)
        orders.append(order)
    return orders
