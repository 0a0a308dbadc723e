"""Build GraphQL-shaped Shopify `Order` nodes (the product query's shape) for the corpus.

Amounts are written by hand in the cases; this helper only wraps them in MoneyBags
and connections, so the corpus goes through model.parse_order like real orders do.
The shop side of every bag is the presentment amount times `fx` (1 by default).
"""

from __future__ import annotations

import itertools
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shopvisma.mapping.company import Coding, Company
from shopvisma.mapping.settings import MappingSettings
from shopvisma.shopify.order import Order, parse_order

_ids = itertools.count(1)
Num = str | int | Decimal


def bag(amount: Num, *, currency: str = "SEK", shop_currency: str = "SEK", fx: Num = 1) -> dict[str, Any]:
    p = Decimal(str(amount))
    s = (p * Decimal(str(fx))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return {
        "presentmentMoney": {"amount": str(p), "currencyCode": currency},
        "shopMoney": {"amount": str(s), "currencyCode": shop_currency},
    }


def tax(rate: Num, amount: Num) -> tuple[str, str]:
    """A tax line: rate as a fraction ("0.25") and Shopify's amount."""
    return (str(rate), str(amount))


def line(
    sku: str | None,
    name: str,
    qty: int,
    unit: Num,
    *,
    discount: Num = 0,
    taxes: tuple[tuple[str, str], ...] = (),
    gift_card: bool = False,
    taxable: bool = True,
    requires_shipping: bool = True,
    id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": id or f"gid://shopify/LineItem/{next(_ids)}",
        "sku": sku,
        "name": name,
        "title": name,
        "variantTitle": None,
        "quantity": qty,
        "taxable": taxable,
        "isGiftCard": gift_card,
        "requiresShipping": requires_shipping,
        "originalUnitPriceSet": Decimal(str(unit)),
        "discountAllocations": [Decimal(str(discount))] if Decimal(str(discount)) else [],
        "taxLines": list(taxes),
    }


def tip_line(amount: Num) -> dict[str, Any]:
    """Shopify's tip as a line item (REST shape: "Tip", no SKU, not taxable, not shipped)."""
    return line(None, "Tip", 1, amount, taxable=False, requires_shipping=False)


def ship(
    title: str, price: Num, *, discounted: Num | None = None, taxes: tuple[tuple[str, str], ...] = ()
) -> dict[str, Any]:
    return {
        "title": title,
        "code": title.upper(),
        "price": Decimal(str(price)),
        "discounted": Decimal(str(price if discounted is None else discounted)),
        "taxLines": list(taxes),
    }


def refund(
    total: Num, *, lines: tuple[tuple[str, int, Num, Num], ...] = (), shipping: tuple[tuple[Num, Num], ...] = ()
) -> dict[str, Any]:
    """lines: (line item id, quantity, subtotal, tax); shipping: (subtotal, tax)."""
    return {
        "id": f"gid://shopify/Refund/{next(_ids)}",
        "createdAt": "2026-02-01T10:00:00Z",
        "total": total,
        "lines": lines,
        "shipping": shipping,
    }


def order_node(
    name: str,
    *,
    total: Num,
    total_tax: Num,
    taxes_included: bool,
    lines: list[dict[str, Any]],
    shipping: list[dict[str, Any]] = (),
    tip: Num = 0,
    email: str | None = "anna@example.se",
    currency: str = "SEK",
    shop_currency: str = "SEK",
    fx: Num = 1,
    company: str = "",
    refunds: list[dict[str, Any]] = (),
    lines_more: bool = False,
    country: str = "SE",
) -> dict[str, Any]:
    """A node exactly as ORDERS_QUERY returns it."""

    def m(x: Num) -> dict[str, Any]:
        return bag(x, currency=currency, shop_currency=shop_currency, fx=fx)

    def taxes(ts: list[tuple[str, str]]) -> list[dict[str, Any]]:
        return [{"title": f"Moms {Decimal(r) * 100:g} %", "rate": float(r), "priceSet": m(a)} for r, a in ts]

    line_nodes = [
        {
            **{k: v for k, v in li.items() if k not in ("originalUnitPriceSet", "discountAllocations", "taxLines")},
            "originalUnitPriceSet": m(li["originalUnitPriceSet"]),
            "discountAllocations": [{"allocatedAmountSet": m(d)} for d in li["discountAllocations"]],
            "taxLines": taxes(li["taxLines"]),
        }
        for li in lines
    ]
    ship_nodes = [
        {
            "title": s["title"],
            "code": s["code"],
            "originalPriceSet": m(s["price"]),
            "discountedPriceSet": m(s["discounted"]),
            "taxLines": taxes(s["taxLines"]),
        }
        for s in shipping
    ]
    refund_nodes = [
        {
            "id": r["id"],
            "createdAt": r["createdAt"],
            "totalRefundedSet": m(r["total"]),
            "refundLineItems": {
                "nodes": [
                    {"quantity": q, "subtotalSet": m(sub), "totalTaxSet": m(t), "lineItem": {"id": lid, "sku": None}}
                    for lid, q, sub, t in r["lines"]
                ]
            },
            "refundShippingLines": {
                "nodes": [{"subtotalAmountSet": m(sub), "taxAmountSet": m(t)} for sub, t in r["shipping"]]
            },
        }
        for r in refunds
    ]
    address = {
        "name": "Anna Andersson",
        "firstName": "Anna",
        "lastName": "Andersson",
        "company": company or None,
        "address1": "Storgatan 1",
        "address2": None,
        "city": "Stockholm",
        "zip": "111 22",
        "countryCodeV2": country,
        "phone": "+46701234567",
    }
    return {
        "id": f"gid://shopify/Order/{next(_ids)}",
        "legacyResourceId": "1",
        "name": name,
        "email": email,
        "createdAt": "2026-01-15T10:00:00Z",
        "updatedAt": "2026-01-15T10:05:00Z",
        "cancelledAt": None,
        "test": False,
        "displayFinancialStatus": "PAID",
        "displayFulfillmentStatus": "FULFILLED",
        "tags": [],
        "currencyCode": shop_currency,
        "presentmentCurrencyCode": currency,
        "taxesIncluded": taxes_included,
        "totalPriceSet": m(total),
        "totalTaxSet": m(total_tax),
        "subtotalPriceSet": m(0),
        "totalDiscountsSet": m(0),
        "totalShippingPriceSet": m(0),
        "totalTipReceivedSet": m(tip),
        "customer": {
            "id": "gid://shopify/Customer/1",
            "displayName": "Anna Andersson",
            "firstName": "Anna",
            "lastName": "Andersson",
        },
        "billingAddress": address,
        "shippingAddress": address,
        "lineItems": {"pageInfo": {"hasNextPage": lines_more, "endCursor": None}, "nodes": line_nodes},
        "shippingLines": {"nodes": ship_nodes},
        "refunds": refund_nodes,
    }


def order(name: str, money: str = "presentmentMoney", **kw: Any) -> Order:
    return parse_order(order_node(name, **kw), money=money)  # type: ignore[arg-type]


CODINGS = (
    Coding("c25", "Försäljning varor 25 %", "Goods", Decimal("25"), True),
    Coding("c12", "Försäljning varor 12 %", "Goods", Decimal("12"), True),
    Coding("c6", "Försäljning varor 6 %", "Goods", Decimal("6"), True),
    Coding("c0", "Försäljning varor momsfri", "Goods", Decimal("0"), True),
    Coding("s25", "Försäljning tjänster 25 %", "Service", Decimal("25"), True),
    Coding("old25", "Gamla varor 25 %", "Goods", Decimal("25"), False),
)
COMPANY = Company(
    country_code="SE",
    currency="SEK",
    show_prices_excl_vat_pc=False,
    terms_of_payment_id="top-30",
    unit_id="unit-st",
    codings=CODINGS,
)
# Two active 0 % Goods codings (domestic exempt and export): 0 % is ambiguous.
COMPANY_TWO_ZERO = Company(
    country_code="SE",
    currency="SEK",
    show_prices_excl_vat_pc=False,
    terms_of_payment_id="top-30",
    unit_id="unit-st",
    codings=CODINGS + (Coding("c0x", "Export varor", "Goods", Decimal("0"), True),),
)
DEFAULT = MappingSettings()
