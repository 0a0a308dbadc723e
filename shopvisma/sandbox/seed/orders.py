"""Deterministic sample orders of a Swedish shop, in the sandbox's storage shape (GraphQL `Order`).

Why generated rather than hand-written: the benchmark needs hundreds of orders whose money
adds up to the cent in both currencies, with the awkward cases a real shop has (repeat
customers with differently typed e-mails, guests, discounts on lines and on the order,
free shipping over a threshold, cancellations, refunds, test orders, EUR customers).
Money is computed with Decimal and written as decimal strings, as Shopify does.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shopvisma.sandbox.seed.catalogue import CATALOGUE, Product
from shopvisma.sandbox.seed.payments import build_transactions, default_pattern

CENT = Decimal("0.01")
SHIPPING_FEE = Decimal("49.00")
FREE_SHIPPING_OVER = Decimal("599.00")
SHIPPING_VAT = Decimal("0.25")
EUR_RATE = Decimal("0.0870")  # SEK -> EUR
DEFAULT_START = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
ORDER_ID_BASE = 6100000000
LINE_ID_BASE = 15200000000


def q(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def catalogue() -> list[dict[str, Any]]:
    """Products the benchmark can create in Visma beforehand: sku, title, price (SEK incl. VAT), vat_rate."""
    return [{"sku": p.sku, "title": p.title, "price": p.price, "vat_rate": p.vat} for p in CATALOGUE]


def money(shop: Decimal, pres: Decimal, shop_cur: str, pres_cur: str) -> dict[str, Any]:
    return {
        "shopMoney": {"amount": f"{shop:.2f}", "currencyCode": shop_cur},
        "presentmentMoney": {"amount": f"{pres:.2f}", "currencyCode": pres_cur},
    }


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _split(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Split `total` over lines in proportion to `weights`, to the cent, remainder on the last."""
    whole = sum(weights, Decimal(0))
    if not whole:
        return [Decimal(0) for _ in weights]
    parts = [q(total * w / whole) for w in weights[:-1]]
    return parts + [total - sum(parts, Decimal(0))]


def _amounts(
    lines: list[dict[str, Any]], rate: Decimal, taxes_included: bool, order_pct: Decimal, free_shipping: bool
) -> dict[str, Any]:
    """All money of one order in one currency (rate converts shop prices into it)."""
    out_lines = []
    for ln in lines:
        unit = (
            q(ln["product"].price * rate) if taxes_included else q(ln["product"].price / (1 + ln["product"].vat) * rate)
        )
        gross = unit * ln["qty"]
        line_disc = q(gross * ln["line_pct"])
        out_lines.append({"unit": unit, "gross": gross, "line_disc": line_disc})
    after_line = [x["gross"] - x["line_disc"] for x in out_lines]
    order_disc_total = q(sum(after_line, Decimal(0)) * order_pct)
    order_disc = _split(order_disc_total, after_line)
    for x, ln, od in zip(out_lines, lines, order_disc, strict=True):
        x["order_disc"] = od
        x["net"] = x["gross"] - x["line_disc"] - od
        r = ln["product"].vat
        x["tax"] = q(x["net"] * r / (1 + r)) if taxes_included else q(x["net"] * r)
    fee = (
        Decimal(0)
        if free_shipping
        else (q(SHIPPING_FEE * rate) if taxes_included else q(SHIPPING_FEE / (1 + SHIPPING_VAT) * rate))
    )
    ship_tax = q(fee * SHIPPING_VAT / (1 + SHIPPING_VAT)) if taxes_included else q(fee * SHIPPING_VAT)
    subtotal = sum((x["net"] for x in out_lines), Decimal(0))
    tax = sum((x["tax"] for x in out_lines), Decimal(0)) + ship_tax
    discounts = sum((x["line_disc"] + x["order_disc"] for x in out_lines), Decimal(0))
    total = subtotal + fee + (Decimal(0) if taxes_included else tax)
    return {
        "lines": out_lines,
        "fee": fee,
        "ship_tax": ship_tax,
        "subtotal": subtotal,
        "tax": tax,
        "discounts": discounts,
        "total": total,
    }


def build_order(
    n: int,
    *,
    created: datetime,
    lines: list[dict[str, Any]],
    customer: dict[str, Any] | None,
    email: str | None,
    address: dict[str, Any],
    shop_currency: str = "SEK",
    presentment: str | None = None,
    taxes_included: bool = True,
    order_pct: Decimal = Decimal(0),
    code: str | None = None,
    financial: str | None = "PAID",
    fulfillment: str = "UNFULFILLED",
    tags: list[str] | None = None,
    test: bool = False,
    updated: datetime | None = None,
    line_id_start: int | None = None,
    payment: str | list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One internally consistent order. `lines`: [{"product": Product, "qty": int, "line_pct": Decimal}].

    payment: a pattern name from seed.payments.PATTERNS ("card", "paypal", "split",
    "auth_capture", "retry", ...), or the `transactions` list itself for a test that
    needs exact ones; None picks the pattern that fits `financial` (PAID: one card sale).
    Refunds added later need `seed.payments.build_transactions` again (generate.py does).
    """
    pres = presentment or shop_currency
    rate = EUR_RATE if pres != shop_currency else Decimal(1)
    # free shipping is decided on the shop-currency goods value after discounts, VAT included
    goods = _amounts(lines, Decimal(1), taxes_included, order_pct, True)
    free = goods["subtotal"] + (Decimal(0) if taxes_included else goods["tax"]) >= FREE_SHIPPING_OVER
    s = _amounts(lines, Decimal(1), taxes_included, order_pct, free)
    p = _amounts(lines, rate, taxes_included, order_pct, free)
    m = lambda a, b: money(a, b, shop_currency, pres)  # noqa: E731
    first_line = line_id_start if line_id_start is not None else LINE_ID_BASE + n * 10
    line_items = []
    for i, (ln, ls, lp) in enumerate(zip(lines, s["lines"], p["lines"], strict=True)):
        prod: Product = ln["product"]
        allocs = [
            {"allocatedAmountSet": m(a, b)}
            for a, b in ((ls["line_disc"], lp["line_disc"]), (ls["order_disc"], lp["order_disc"]))
            if a or b
        ]
        line_items.append(
            {
                "id": f"gid://shopify/LineItem/{first_line + i}",
                "sku": prod.sku,
                "name": prod.title if not prod.variant else f"{prod.title} - {prod.variant}",
                "title": prod.title,
                "variantTitle": prod.variant,
                "quantity": ln["qty"],
                "currentQuantity": ln["qty"],
                "taxable": True,
                "isGiftCard": False,
                "requiresShipping": True,
                "originalUnitPriceSet": m(ls["unit"], lp["unit"]),
                "originalTotalSet": m(ls["gross"], lp["gross"]),
                "discountedTotalSet": m(ls["gross"] - ls["line_disc"], lp["gross"] - lp["line_disc"]),
                "discountAllocations": allocs,
                "taxLines": [
                    {
                        "title": f"Moms {int(prod.vat * 100)}%",
                        "rate": float(prod.vat),
                        "ratePercentage": float(prod.vat * 100),
                        "priceSet": m(ls["tax"], lp["tax"]),
                    }
                ],
            }
        )
    shipping_line = {
        "id": f"gid://shopify/ShippingLine/{first_line}",
        "title": "Fri frakt" if free else "PostNord Ombud",
        "code": "FREE" if free else "POSTNORD",
        "source": "shopify",
        "originalPriceSet": m(s["fee"], p["fee"]),
        "discountedPriceSet": m(s["fee"], p["fee"]),
        "taxLines": []
        if free
        else [{"title": "Moms 25%", "rate": 0.25, "ratePercentage": 25.0, "priceSet": m(s["ship_tax"], p["ship_tax"])}],
    }
    created_s = ts(created)
    order: dict[str, Any] = {
        "id": f"gid://shopify/Order/{ORDER_ID_BASE + n}",
        "legacyResourceId": str(ORDER_ID_BASE + n),
        "name": f"#{1000 + n}",
        "email": email,
        "phone": None,
        "note": None,
        "createdAt": created_s,
        "processedAt": created_s,
        "updatedAt": ts(updated or created),
        "cancelledAt": None,
        "cancelReason": None,
        "closed": False,
        "closedAt": None,
        "test": test,
        "displayFinancialStatus": financial,
        "displayFulfillmentStatus": fulfillment,
        "tags": sorted(tags or []),
        "discountCodes": [code] if code else [],
        "currencyCode": shop_currency,
        "presentmentCurrencyCode": pres,
        "taxesIncluded": taxes_included,
        "totalPriceSet": m(s["total"], p["total"]),
        "totalTaxSet": m(s["tax"], p["tax"]),
        "subtotalPriceSet": m(s["subtotal"], p["subtotal"]),
        "totalDiscountsSet": m(s["discounts"], p["discounts"]),
        "totalShippingPriceSet": m(s["fee"], p["fee"]),
        "totalTipReceivedSet": m(Decimal(0), Decimal(0)),
        "totalRefundedSet": m(Decimal(0), Decimal(0)),
        "customer": customer,
        "billingAddress": dict(address),
        "shippingAddress": dict(address),
        "lineItems": line_items,
        "shippingLines": [shipping_line],
        "refunds": [],
    }
    if isinstance(payment, list):
        order["transactions"] = copy.deepcopy(payment)
    else:
        order["transactions"] = build_transactions(order, payment or default_pattern(order), number=n)
    return order


def make_refund(
    order: dict[str, Any],
    quantities: dict[str, int] | None = None,
    *,
    shipping: bool = False,
    created_at: str | None = None,
    refund_id: str | None = None,
) -> dict[str, Any]:
    """A refund (storage shape) of whole line quantities, money taken pro rata from the lines.

    quantities: line item GID -> quantity; None refunds every line in full.
    """

    def pick(bag: dict[str, Any], side: str) -> Decimal:
        return Decimal(bag[side]["amount"])

    shop_cur, pres_cur = order["currencyCode"], order["presentmentCurrencyCode"]
    incl = order["taxesIncluded"]
    items, totals = [], {"shopMoney": Decimal(0), "presentmentMoney": Decimal(0)}
    for li in order["lineItems"]:
        qty = (quantities or {}).get(li["id"], 0) if quantities is not None else li["quantity"]
        if not qty:
            continue
        vals = {}
        for side in ("shopMoney", "presentmentMoney"):
            net = pick(li["originalTotalSet"], side) - sum(
                (pick(a["allocatedAmountSet"], side) for a in li["discountAllocations"]), Decimal(0)
            )
            tax_all = sum((pick(t["priceSet"], side) for t in li["taxLines"]), Decimal(0))
            part_net = q(net * qty / li["quantity"])
            part_tax = q(tax_all * qty / li["quantity"])
            sub = part_net - part_tax if incl else part_net
            vals[side] = (q(pick(li["originalUnitPriceSet"], side)), sub, part_tax)
            totals[side] += sub + part_tax
        items.append(
            {
                "id": f"gid://shopify/RefundLineItem/{li['id'].rsplit('/', 1)[-1]}",
                "quantity": qty,
                "priceSet": money(vals["shopMoney"][0], vals["presentmentMoney"][0], shop_cur, pres_cur),
                "subtotalSet": money(vals["shopMoney"][1], vals["presentmentMoney"][1], shop_cur, pres_cur),
                "totalTaxSet": money(vals["shopMoney"][2], vals["presentmentMoney"][2], shop_cur, pres_cur),
                "lineItem": {"id": li["id"], "sku": li["sku"]},
            }
        )
    ship_items = []
    if shipping:
        for sl in order["shippingLines"]:
            ship_vals: dict[str, tuple[Decimal, Decimal]] = {}
            for side in ("shopMoney", "presentmentMoney"):
                price = pick(sl["discountedPriceSet"], side)
                tax = sum((pick(t["priceSet"], side) for t in sl["taxLines"]), Decimal(0))
                ship_vals[side] = (price - tax if incl else price, tax)
                totals[side] += ship_vals[side][0] + tax
            ship_items.append(
                {
                    "id": f"gid://shopify/RefundShippingLine/{sl['id'].rsplit('/', 1)[-1]}",
                    "subtotalAmountSet": money(
                        ship_vals["shopMoney"][0], ship_vals["presentmentMoney"][0], shop_cur, pres_cur
                    ),
                    "taxAmountSet": money(
                        ship_vals["shopMoney"][1], ship_vals["presentmentMoney"][1], shop_cur, pres_cur
                    ),
                }
            )
    refund: dict[str, Any] = {
        "note": None,
        "createdAt": created_at or order["updatedAt"],
        "totalRefundedSet": money(totals["shopMoney"], totals["presentmentMoney"], shop_cur, pres_cur),
        "refundLineItems": items,
        "refundShippingLines": ship_items,
    }
    if refund_id:
        refund["id"] = refund_id
    return refund


def generate_orders(
    n: int,
    *,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    shop_currency: str = "SEK",
    taxes_included: bool = True,
    partially_paid: float = 0.0,
) -> list[dict]:
    """`n` realistic orders (#1001...), identical for identical arguments (random.Random(seed)).

    Each order carries `transactions` (see seed.payments); `partially_paid` turns that
    share of PENDING orders into PARTIALLY_PAID ones (off by default: it changes a status).
    """
    from shopvisma.sandbox.seed.generate import generate_orders as _generate  # late: seed_gen builds on this module

    return _generate(
        n,
        seed=seed,
        start=start,
        shop_currency=shop_currency,
        taxes_included=taxes_included,
        partially_paid=partially_paid,
    )


def demo_orders() -> list[dict]:
    """A dozen hand-picked orders covering the interesting cases, for `shopvisma demo`."""
    from shopvisma.sandbox.seed.generate import demo_orders as _demo

    return _demo()


__all__ = ["build_order", "catalogue", "demo_orders", "generate_orders", "make_refund"]
